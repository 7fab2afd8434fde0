# Extra targets included by the Makefile: fuzzing and the aarch64 cross-build under qemu.
#   make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS="gguf json template tokenizer safetensors tokenizer_json"]
#   make test-aarch64
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=

.PHONY: fuzz test-aarch64

fuzz:
	@scripts/deps.sh fuzz
	@EDGELLM_SHARED=$(abspath $(SHARED)) FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz/run.sh $(FUZZ_TARGETS)

test-aarch64:
	@scripts/deps.sh aarch64
	@EDGELLM_SHARED=$(abspath $(SHARED)) scripts/test-aarch64.sh
