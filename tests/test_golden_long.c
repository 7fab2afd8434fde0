/* Long-context golden tests (shared/refs/long): 9,000 positions of llama3-mini-f16 (Llama 3
 * RoPE scaling through rope_freqs.weight matters there) and 4,000 of qwen2-mini-f16, evaluated
 * as one batch with an F16 KV cache, and the 9,000 again with a Q8_0 KV cache (same bars); the
 * last logits_rows positions must hold kl_bar, the worst-row cap and max_rel_bar.
 * On the kernel path EDGELLM_ISA names (golden_isa_gate: a CPU without it is a skip, exit 77).
 * usage: test_golden_long SHARED_DIR [EDGELLM_BIN] [MODEL-NAME[:q8_0] ...] */
#include <stdio.h>
#include <string.h>

#include "edgellm.h"
#include "golden.h"
#include "testutil.h"

static void run_long(const char *shared, const char *arg) {
    char name[256], model[1024], ref[1024];
    snprintf(name, sizeof name, "%s", arg);
    char *kv = strchr(name, ':');
    if (kv) *kv++ = 0;
    snprintf(model, sizeof model, "%s/models/%s.gguf", shared, name);
    snprintf(ref, sizeof ref, "%s/refs/long/%s.long.json", shared, name);
    struct golden_opts o = golden_default_opts();
    o.modes = GOLDEN_BATCH;
    if (kv && !strcmp(kv, "q8_0")) o.kv_type = EDGELLM_KV_Q8_0; /* it holds the long file's own bars */
    golden_check(model, ref, &o);
}

int main(int argc, char **argv) {
    const char *shared = tu_shared(argc, argv);
    const int gate = golden_isa_gate();
    if (gate) return gate;
    if (argc > 3)
        for (int i = 3; i < argc; i++) run_long(shared, argv[i]);
    else {
        run_long(shared, "llama3-mini-f16");
        run_long(shared, "qwen2-mini-f16");
        run_long(shared, "llama3-mini-f16:q8_0");
    }
    return TEST_DONE();
}
