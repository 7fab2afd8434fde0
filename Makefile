# Convenience front-end over CMake. `make demo` and `make test` install missing dependencies first.
BUILD ?= build
SHARED ?= ../shared
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

.PHONY: all deps build demo test test-full test-sanitize test-tsan test-aarch64 fuzz bench bench-kernels clean

all: build

deps:
	@scripts/deps.sh all

build:
	@scripts/deps.sh build
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DEDGELLM_SHARED_DIR=$(abspath $(SHARED)) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

demo: build
	@$(BUILD)/edgellm run -m $(SHARED)/models/aidreams260K-q8_0.gguf -p "Echoes of vectors unfold," -n 100 --temp 0.7 --seed 1

# The default suite; tests labelled `full` (the long references on the slower kernel paths) run
# in `make test-full`. Skipped tests (exit 77) are listed by ctest; EDGELLM_REQUIRE_ALL=1 turns a
# skip for missing data, tools or packages into a failure (a CPU without an ISA stays a skip).
test: build
	@scripts/deps.sh test
	@cd $(BUILD) && ctest --output-on-failure -j$(JOBS) -LE full

test-full: build
	@cd $(BUILD) && ctest --output-on-failure -j$(JOBS) -L full

# AddressSanitizer + UndefinedBehaviorSanitizer build of the whole suite.
test-sanitize:
	@scripts/deps.sh test
	@cmake -S . -B build-san -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDGELLM_SANITIZE=ON -DEDGELLM_SHARED_DIR=$(abspath $(SHARED)) >/dev/null
	@cmake --build build-san -j$(JOBS)
	@cd build-san && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 EDGELLM_SANITIZED=1 ctest --output-on-failure -j$(JOBS) -LE full

# ThreadSanitizer build: the thread pool, the 4-thread shared-model test and the server tests (one model, a
# conversation, and --models-dir with its loads, holds and reaper).
TSAN_TESTS ?= test_threadpool|test_threads|node_server|node_chat_page|node_conversation|node_models_dir
test-tsan:
	@scripts/deps.sh test
	@cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDGELLM_TSAN=ON -DEDGELLM_SHARED_DIR=$(abspath $(SHARED)) >/dev/null
	@cmake --build build-tsan -j$(JOBS) --target edgellm test_threadpool test_threads
	@cd build-tsan && TSAN_OPTIONS=halt_on_error=1:exitcode=66:second_deadlock_stack=1 EDGELLM_SANITIZED=1 ctest --output-on-failure -j$(JOBS) -R '^($(TSAN_TESTS))$$'

# The kernel micro-benchmark (bench/kernels.c): decode GB/s from DRAM beside the machine's membw.
bench-kernels: build
	@cmake --build $(BUILD) -j$(JOBS) --target bench_kernels
	@$(BUILD)/bench_kernels $(BENCH_ARGS)

-include mk/extra.mk

clean:
	rm -rf $(BUILD) build-san build-tsan build-fuzz build-aarch64
