/* edgellm quantize: IN.gguf -> OUT.gguf in a llama.cpp file type (edgellm_model_quantize). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static const char *CMD = "quantize";

static void usage(FILE *f) {
    fprintf(f,
            "usage: edgellm quantize IN.gguf OUT.gguf TYPE [options]\n"
            "\n"
            "Quantizes a model with F32/F16/BF16 weights as llama.cpp's llama-quantize does: the same\n"
            "per-tensor types and the same bytes. OUT is written as OUT.tmp and renamed when complete.\n"
            "\n"
            "TYPE (llama-quantize's file types, any case): F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K\n"
            "  Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K IQ4_NL IQ4_XS (Q3_K, Q4_K, Q5_K = _M)\n"
            "\n"
            "  --imatrix FILE              importance matrix (llama.cpp's GGUF imatrix format)\n"
            "  --pure                      every quantizable tensor gets TYPE's base type (no mix rules)\n"
            "  --output-tensor-type T      type of output.weight (ggml type name: q8_0, q6_K, f16, ...)\n"
            "  --token-embedding-type T    type of token_embd.weight\n"
            "  --tensor-type NAME=T        tensors whose name contains NAME get type T (repeatable; first wins)\n"
            "  --allow-requantize          accept already-quantized inputs (loses quality)\n"
            "  -t N                        threads (default: all cores)\n"
            "  --json                      one JSON line on stdout: size_in, size_out, bpw, n_tensors, per_type\n");
}

static void on_progress(void *user, uint64_t i, uint64_t n, const char *name, int type_in, int type_out) {
    (void)user;
    const char *a = edgellm_type_name(type_in), *b = edgellm_type_name(type_out);
    if (type_in == type_out) fprintf(stderr, "[%4llu/%4llu] %-36s %s\n", (unsigned long long)i + 1, (unsigned long long)n, name, a);
    else fprintf(stderr, "[%4llu/%4llu] %-36s %s -> %s\n", (unsigned long long)i + 1, (unsigned long long)n, name, a, b);
}

int cmd_quantize(int argc, char **argv) {
    const char *pos[3] = {0};
    int n_pos = 0, json = 0;
    struct edgellm_quantize_params p = edgellm_quantize_default_params();
    const char **tt_names = calloc((size_t)argc + 1, sizeof *tt_names);
    int *tt_types = calloc((size_t)argc + 1, sizeof *tt_types);
    char **tt_alloc = calloc((size_t)argc + 1, sizeof *tt_alloc);
    int rc = CLI_USAGE;
    if (!tt_names || !tt_types || !tt_alloc) { cli_err(CMD, "out of memory"); rc = CLI_RUNTIME; goto out; }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (cli_is_help(a)) { usage(stdout); rc = CLI_OK; goto out; }
        if (!strcmp(a, "--imatrix")) {
            if (!(p.imatrix_path = cli_value(CMD, argc, argv, &i))) goto out;
        } else if (!strcmp(a, "--pure")) {
            p.pure = 1;
        } else if (!strcmp(a, "--allow-requantize")) {
            p.allow_requantize = 1;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "-t")) {
            if (!(v = cli_value(CMD, argc, argv, &i)) || !cli_parse_threads(CMD, v, &p.n_threads)) goto out;
        } else if (!strcmp(a, "--output-tensor-type") || !strcmp(a, "--token-embedding-type")) {
            if (!(v = cli_value(CMD, argc, argv, &i))) goto out;
            int t = edgellm_type_from_name(v);
            if (t < 0) { cli_err(CMD, "%s: unknown or unsupported type '%s' (f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_K, q3_K, q4_K, q5_K, q6_K, iq4_nl, iq4_xs)", a, v); goto out; }
            if (a[2] == 'o') p.output_tensor_type = t;
            else p.token_embedding_type = t;
        } else if (!strcmp(a, "--tensor-type")) {
            if (!(v = cli_value(CMD, argc, argv, &i))) goto out;
            const char *eq = strchr(v, '=');
            int t = eq ? edgellm_type_from_name(eq + 1) : -1;
            if (!eq || eq == v || t < 0) {
                cli_err(CMD, "--tensor-type '%s': expected NAME=TYPE with a ggml type name (e.g. attn_v=q8_0)", v);
                goto out;
            }
            char *name = malloc((size_t)(eq - v) + 1);
            if (!name) { cli_err(CMD, "out of memory"); rc = CLI_RUNTIME; goto out; }
            memcpy(name, v, (size_t)(eq - v));
            name[eq - v] = 0;
            tt_alloc[p.n_tensor_types] = name;
            tt_names[p.n_tensor_types] = name;
            tt_types[p.n_tensor_types++] = t;
        } else if (a[0] == '-' && a[1]) {
            cli_err(CMD, "unknown option '%s' (see edgellm quantize --help)", a);
            goto out;
        } else if (n_pos < 3) {
            pos[n_pos++] = a;
        } else {
            cli_err(CMD, "unexpected argument '%s'", a);
            goto out;
        }
    }
    if (n_pos < 3) { cli_err(CMD, "expected IN.gguf OUT.gguf TYPE (see edgellm quantize --help)"); goto out; }
    p.ftype = edgellm_ftype_from_name(pos[2]);
    if (p.ftype < 0) {
        cli_err(CMD, "unknown file type '%s' (F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K IQ4_NL IQ4_XS)", pos[2]);
        goto out;
    }
    p.tensor_type_names = tt_names;
    p.tensor_type_types = tt_types;
    struct edgellm_quantize_stats stats;
    p.stats = &stats;
    p.progress = on_progress;
    char err[512];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    edgellm_status st = edgellm_model_quantize(pos[0], pos[1], &p, err, sizeof err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (st) {
        cli_err(CMD, "%s", err);
        rc = st == EDGELLM_ERR_ARG ? CLI_USAGE : CLI_RUNTIME;
        goto out;
    }
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    double ne = stats.n_elements ? (double)stats.n_elements : 1;
    double bpw_in = (double)stats.size_in * 8 / ne, bpw = (double)stats.size_out * 8 / ne;
    char per[1024];
    size_t n = 0;
    per[0] = 0;
    for (int t = 0; t < EDGELLM_TYPE_COUNT; t++) {
        if (!stats.n_per_type[t]) continue;
        n += (size_t)snprintf(per + n, sizeof per - n, json ? "%s\"%s\":%u" : "%s%s %u", n ? (json ? "," : ", ") : "",
                              edgellm_type_name(t), stats.n_per_type[t]);
        if (n >= sizeof per) break;
    }
    FILE *out = json ? stderr : stdout; /* the summary is the result, unless --json gives it */
    fprintf(out, "%s -> %s (%s) in %.2f s\n", pos[0], pos[1], edgellm_ftype_name(p.ftype), secs);
    fprintf(out, "size %.2f MiB (%.2f bpw) -> %.2f MiB (%.2f bpw)\n", (double)stats.size_in / 1048576.0, bpw_in,
            (double)stats.size_out / 1048576.0, bpw);
    if (!json) fprintf(out, "%llu tensors: %s\n", (unsigned long long)stats.n_tensors, per);
    if (stats.n_fallback) fprintf(out, "%u tensor(s) needed a fallback type (row length not a multiple of the block)\n", stats.n_fallback);
    if (p.imatrix_path) fprintf(out, "%u tensor(s) quantized with the importance matrix\n", stats.n_imatrix);
    if (json)
        printf("{\"size_in\":%llu,\"size_out\":%llu,\"bpw\":%.4f,\"n_tensors\":%llu,\"per_type\":{%s},\"ftype\":\"%s\",\"seconds\":%.3f}\n",
               (unsigned long long)stats.size_in, (unsigned long long)stats.size_out, bpw,
               (unsigned long long)stats.n_tensors, per, edgellm_ftype_name(p.ftype), secs);
    rc = CLI_OK;
out:
    for (int i = 0; tt_alloc && tt_alloc[i]; i++) free(tt_alloc[i]);
    free(tt_alloc);
    free(tt_names);
    free(tt_types);
    return rc;
}
