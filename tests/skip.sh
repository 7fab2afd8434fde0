# Sourced by the shell tests (tests/cli_*.sh): how a test says that it, or a part of it, cannot
# run here. ctest counts exit 77 as a skip (SKIP_RETURN_CODE on every test) and lists it; with
# EDGELLM_REQUIRE_ALL=1 (CI, .ci/run) a skip for missing data, tools, packages or disk space is a
# failure instead, since there everything must run.
#   skip_test REASON          the whole test cannot run: exit now
#   skip_part REASON          one part cannot run: go on, and end with finish_test
#   finish_test FAILS         exit 1 if FAILS > 0, else 77 if a part was skipped, else 0
skipped_parts=0
skip_test() {
    if [ "${EDGELLM_REQUIRE_ALL:-0}" = 1 ]; then
        echo "FAIL (EDGELLM_REQUIRE_ALL=1, nothing may be skipped): $*" >&2
        exit 1
    fi
    echo "SKIP: $*"
    exit 77
}
skip_part() {
    if [ "${EDGELLM_REQUIRE_ALL:-0}" = 1 ]; then
        echo "FAIL (EDGELLM_REQUIRE_ALL=1, nothing may be skipped): $*" >&2
        fail=$((${fail:-0} + 1))
        return
    fi
    echo "SKIP (part): $*"
    skipped_parts=$((skipped_parts + 1))
}
finish_test() {
    [ "${1:-0}" -gt 0 ] && exit 1
    [ "$skipped_parts" -gt 0 ] && { echo "SKIP: $skipped_parts part(s) did not run (see above)"; exit 77; }
    exit 0
}
