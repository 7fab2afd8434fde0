/* edgellm bench: prompt (pp) and generation (tg) speed, time to first token, load time and peak
 * memory, measured exactly as ../shared/tools/peer-bench.c measures llama.cpp: a context of
 * depth+pp+tg tokens, one warm-up run, then per run: the cache cleared and filled with `depth`
 * tokens (token i = i*104729 mod n_vocab, batches of <= 512, not timed), the prompt as one batch
 * (token i = i*7919 mod n_vocab, logits of the last token only) and tg single-token decodes
 * (token i*31 mod n_vocab); medians over the runs. start_to_first_s runs from the start of the
 * load to the warm-up prompt's logits. Decode bandwidth: the bytes of weights one token reads
 * (edgellm_model_weight_bytes_per_token) times tg tok/s, against the machine's DRAM bandwidth
 * when `bench --membw` (bench_membw.c, its own process) has cached it for this thread count.
 * --json prints one line for bench/vs-peer.sh.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench_membw.h"
#include "cli.h"

static const char *CMD = "bench";

static void usage(FILE *f) {
    fprintf(f,
            "usage: edgellm bench -m MODEL.gguf [--pp 512] [--tg 128] [--depth 0] [-t N] [-r 3] [--kv-type T] [--json]\n"
            "       edgellm bench --membw [-t N] [--json]\n"
            "\n"
            "  -m FILE        the model\n"
            "  --pp N         prompt tokens, evaluated as one batch (default 512)\n"
            "  --tg N         generated tokens, one decode each (default 128)\n"
            "  --depth N      tokens already in the KV cache when each run's prompt starts (default 0)\n"
            "  -t N           threads (default: all cores)\n"
            "  -r N           measured runs after one warm-up; medians are reported (default 3)\n"
            "  --kv-type T    KV cache type: f16 (default), f32, q8_0\n"
            "  --json         one JSON line: pp_tok_s, tg_tok_s, ttft_ms, load_s, peak_rss_mib, start_to_first_s,\n"
            "                 weights_gb_per_token, decode_gb_s (and membw_gb_s, decode_bw_frac once --membw ran)\n"
            "  --membw        measure the machine's DRAM read bandwidth (1 GiB buffer, 1 and N threads),\n"
            "                 print membw_gb_s_1t and membw_gb_s and cache them for later benches\n"
            "  --json-schema F  also time generation that samples greedily and feeds the token back, without\n"
            "                 and with the schema as a grammar (restarted when it completes): tg_tok_s_sampled,\n"
            "                 tg_tok_s_constrained, and the time of each constrained sample+accept call\n"
            "                 (mask_us_p50, mask_us_p99)\n");
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* tg tokens after the pp-token prompt: greedy sample (timed into lat[] when not NULL), accept,
 * feed back; with a grammar, reset (grammar back to its start) once it is complete and the end
 * token was sampled. Returns tokens per second, or -1 on a decode / grammar failure. */
static double bench_sampled(struct edgellm_context *ctx, struct edgellm_model *model, struct edgellm_sampler *smp,
                            const edgellm_token *tok, const int32_t *pos, int8_t *want, long pp, long tg, float *lat) {
    edgellm_sampler_reset(smp);
    if (edgellm_context_seq_truncate(ctx, 0, 0) != EDGELLM_OK) return -1;
    struct edgellm_batch b = {(int32_t)pp, tok, pos, NULL, want};
    if (edgellm_context_decode(ctx, &b) != EDGELLM_OK) return -1;
    double a = now_s();
    for (long i = 0; i < tg; i++) {
        const float *lg = edgellm_context_logits(ctx, 0);
        double t0 = now_s();
        edgellm_token t = lg ? edgellm_sampler_sample(smp, lg) : -1;
        if (t < 0 || edgellm_sampler_accept(smp, t) != EDGELLM_OK) return -1;
        if (lat) lat[i] = (float)((now_s() - t0) * 1e6);
        if (edgellm_token_is_eog(model, t)) edgellm_sampler_reset(smp);
        int32_t p1 = (int32_t)(pp + i);
        int8_t l1 = 1;
        struct edgellm_batch b1 = {1, &t, &p1, NULL, &l1};
        if (edgellm_context_decode(ctx, &b1) != EDGELLM_OK) return -1;
    }
    return (double)tg / (now_s() - a);
}

static const char *kv_name(edgellm_kv_type t) {
    return t == EDGELLM_KV_F32 ? "f32" : t == EDGELLM_KV_Q8_0 ? "q8_0" : "f16";
}

static int bench_membw(int threads, int json) {
    struct membw_result r;
    char err[512];
    if (membw_measure(threads, &r, err, sizeof err)) {
        cli_err(CMD, "%s", err);
        return CLI_RUNTIME;
    }
    if (membw_cache_store(&r, err, sizeof err)) cli_err(CMD, "warning: %s (the result is not cached)", err);
    if (json)
        printf("{\"cpu\":\"%s\",\"threads\":%d,\"isa\":\"%s\",\"membw_gb_s_1t\":%.2f,\"membw_gb_s\":%.2f}\n", r.cpu,
               r.threads, r.isa, r.gb_s_1t, r.gb_s);
    else {
        printf("cpu            %s (%s loads)\n", r.cpu, r.isa);
        printf("membw_gb_s_1t  %10.2f GB/s\n", r.gb_s_1t);
        printf("membw_gb_s     %10.2f GB/s (%d threads)\n", r.gb_s, r.threads);
    }
    return CLI_OK;
}

int cmd_bench(int argc, char **argv) {
    const char *path = NULL;
    long pp = 512, tg = 128, reps = 3, depth = 0;
    int threads = 0, json = 0, membw = 0;
    const char *schema_path = NULL;
    edgellm_kv_type kv = EDGELLM_KV_F16;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (cli_is_help(a)) { usage(stdout); return CLI_OK; }
        if (!strcmp(a, "--json")) { json = 1; continue; }
        if (!strcmp(a, "--membw")) { membw = 1; continue; }
        if (!strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "--pp") || !strcmp(a, "--tg") || !strcmp(a, "-t") ||
            !strcmp(a, "--threads") || !strcmp(a, "-r") || !strcmp(a, "--reps") || !strcmp(a, "--kv-type") || !strcmp(a, "--depth") ||
            !strcmp(a, "--json-schema")) {
            if (!(v = cli_value(CMD, argc, argv, &i))) return CLI_USAGE;
        } else {
            cli_err(CMD, "unknown option '%s' (see edgellm bench --help)", a);
            return CLI_USAGE;
        }
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) path = v;
        else if (!strcmp(a, "--json-schema")) schema_path = v;
        else if (!strcmp(a, "--pp")) { if (!cli_parse_int(CMD, a, v, 1, 1 << 20, &pp)) return CLI_USAGE; }
        else if (!strcmp(a, "--tg")) { if (!cli_parse_int(CMD, a, v, 1, 1 << 20, &tg)) return CLI_USAGE; }
        else if (!strcmp(a, "--depth")) { if (!cli_parse_int(CMD, a, v, 0, 1 << 24, &depth)) return CLI_USAGE; }
        else if (!strcmp(a, "-r") || !strcmp(a, "--reps")) { if (!cli_parse_int(CMD, a, v, 1, 100, &reps)) return CLI_USAGE; }
        else if (!strcmp(a, "--kv-type")) { if (!cli_parse_kv_type(CMD, v, &kv)) return CLI_USAGE; }
        else if (!cli_parse_threads(CMD, v, &threads)) return CLI_USAGE;
    }
    if (threads == 0) threads = edgellm_n_cores();
    if (membw) {
        if (path) {
            cli_err(CMD, "--membw measures the machine, not a model: run it without -m");
            return CLI_USAGE;
        }
        return bench_membw(threads, json);
    }
    if (!path) {
        cli_err(CMD, "-m MODEL.gguf is required (see edgellm bench --help)");
        return CLI_USAGE;
    }
    if (threads == 0) threads = edgellm_n_cores();
    struct edgellm_grammar *grammar = NULL;
    if (schema_path) {
        size_t len = 0;
        char *text = cli_read_file(CMD, schema_path, &len);
        if (!text) return CLI_USAGE;
        char gerr[512] = "";
        edgellm_status gst = edgellm_grammar_from_json_schema(text, &grammar, gerr, sizeof gerr);
        free(text);
        if (gst != EDGELLM_OK) {
            cli_err(CMD, "%s: %s", schema_path, gerr);
            return CLI_USAGE;
        }
    }

    char err[512];
    struct edgellm_model_params mp = edgellm_model_default_params();
    struct edgellm_model *model = NULL;
    mp.n_threads = threads;
    double t0 = now_s();
    if (edgellm_model_load(path, &mp, &model, err, sizeof err) != EDGELLM_OK) {
        cli_err(CMD, "%s", err);
        edgellm_grammar_free(grammar);
        return CLI_RUNTIME;
    }
    double load_s = now_s() - t0;
    int32_t n_vocab = edgellm_model_n_vocab(model);

    struct edgellm_context_params cp = edgellm_context_default_params();
    const long fill_batch = depth < 512 ? depth : 512;
    cp.n_ctx = (uint32_t)(depth + pp + tg);
    cp.n_batch = (uint32_t)(pp > fill_batch ? pp : fill_batch);
    cp.n_seq = 1;
    cp.n_threads = threads;
    cp.kv_type = kv;
    cp.logits_all = 0;
    struct edgellm_context *ctx = NULL;
    if (edgellm_context_new(model, &cp, &ctx, err, sizeof err) != EDGELLM_OK) {
        cli_err(CMD, "%s", err);
        edgellm_model_free(model);
        edgellm_grammar_free(grammar);
        return CLI_RUNTIME;
    }

    edgellm_token *tok = malloc((size_t)pp * sizeof(*tok));
    int32_t *pos = malloc((size_t)(pp > fill_batch ? pp : fill_batch) * sizeof(*pos));
    edgellm_token *fill = malloc((size_t)(fill_batch > 0 ? fill_batch : 1) * sizeof(*fill));
    int8_t *want = calloc((size_t)pp, 1);
    double *pps = malloc((size_t)reps * sizeof(double)), *tgs = malloc((size_t)reps * sizeof(double));
    double *ttft = malloc((size_t)reps * sizeof(double));
    int rc = CLI_OK, finite = 1;
    double start_to_first_s = 0;
    if (!tok || !pos || !fill || !want || !pps || !tgs || !ttft) {
        cli_err(CMD, "out of memory");
        rc = CLI_RUNTIME;
        goto done;
    }
    for (long i = 0; i < pp; i++) tok[i] = (edgellm_token)((i * 7919) % n_vocab);
    want[pp - 1] = 1;

    for (long r = 0; r <= reps; r++) { /* run 0 is the warm-up */
        edgellm_status st = edgellm_context_seq_truncate(ctx, 0, 0);
        for (long d = 0; d < depth && st == EDGELLM_OK; d += fill_batch) { /* the cache to depth, not timed */
            const long n = depth - d < fill_batch ? depth - d : fill_batch;
            for (long i = 0; i < n; i++)
                fill[i] = (edgellm_token)(((d + i) * 104729) % n_vocab), pos[i] = (int32_t)(d + i);
            struct edgellm_batch bf = {(int32_t)n, fill, pos, NULL, NULL};
            st = edgellm_context_decode(ctx, &bf);
        }
        for (long i = 0; i < pp; i++) pos[i] = (int32_t)(depth + i);
        struct edgellm_batch b = {(int32_t)pp, tok, pos, NULL, want};
        double a = now_s();
        if (st == EDGELLM_OK) st = edgellm_context_decode(ctx, &b);
        double p = now_s() - a;
        if (r == 0) start_to_first_s = now_s() - t0; /* load start -> the first prompt's logits */
        const float *lg = st == EDGELLM_OK ? edgellm_context_logits(ctx, 0) : NULL;
        if (lg && (!isfinite(lg[0]) || !isfinite(lg[n_vocab - 1]))) finite = 0;
        a = now_s();
        for (long i = 0; i < tg && st == EDGELLM_OK; i++) {
            edgellm_token t1 = (edgellm_token)((i * 31) % n_vocab);
            int32_t p1 = (int32_t)(depth + pp + i);
            int8_t l1 = 1;
            struct edgellm_batch b1 = {1, &t1, &p1, NULL, &l1};
            st = edgellm_context_decode(ctx, &b1);
        }
        double g = now_s() - a;
        if (st != EDGELLM_OK) {
            cli_err(CMD, "decode failed: %s (%s)", edgellm_context_errmsg(ctx), edgellm_status_str(st));
            rc = CLI_RUNTIME;
            goto done;
        }
        lg = edgellm_context_logits(ctx, 0);
        if (lg)
            for (int32_t j = 0; j < n_vocab; j++)
                if (!isfinite(lg[j])) { finite = 0; break; }
        if (r > 0) pps[r - 1] = (double)pp / p, tgs[r - 1] = (double)tg / g, ttft[r - 1] = p * 1000.0;
    }
    if (!finite) cli_err(CMD, "warning: the model produced non-finite logits; the timings may not be meaningful");

    /* --json-schema: the same greedy sample-and-feed-back loop without and with the grammar,
     * alternated within each run so that both see the same machine load (from an empty cache:
     * --depth applies to pp/tg only) */
    double tgs_s = 0, tgc_s = 0, mask_p50 = 0, mask_p99 = 0;
    if (grammar) {
        for (long i = 0; i < pp; i++) pos[i] = (int32_t)i;
        struct edgellm_sampler_params sp = edgellm_sampler_default_params();
        sp.temperature = 0.0f;
        sp.repeat_penalty = 1.0f;
        struct edgellm_sampler *plain = NULL, *con = NULL;
        float *lat = malloc((size_t)(tg * reps) * sizeof *lat);
        double *sa = malloc((size_t)reps * sizeof *sa), *co = malloc((size_t)reps * sizeof *co);
        edgellm_status st = edgellm_sampler_new(&sp, n_vocab, &plain);
        if (st == EDGELLM_OK) st = edgellm_sampler_new(&sp, n_vocab, &con);
        if (st == EDGELLM_OK) st = edgellm_sampler_set_grammar(con, model, grammar);
        if (st != EDGELLM_OK || !lat || !sa || !co) {
            cli_err(CMD, "cannot set up the constrained sampler: %s", edgellm_status_str(st));
            rc = CLI_RUNTIME;
        }
        for (long r = 0; r < reps && rc == CLI_OK; r++) {
            /* ABBA order over the runs, so that a drift in machine load weighs on both alike */
            if (r % 2 == 0) sa[r] = bench_sampled(ctx, model, plain, tok, pos, want, pp, tg, NULL);
            co[r] = bench_sampled(ctx, model, con, tok, pos, want, pp, tg, lat + r * tg);
            if (r % 2 == 1) sa[r] = bench_sampled(ctx, model, plain, tok, pos, want, pp, tg, NULL);
            if (sa[r] < 0 || co[r] < 0) {
                cli_err(CMD, "sampled generation failed");
                rc = CLI_RUNTIME;
            }
        }
        if (rc == CLI_OK) {
            tgs_s = median(sa, (int)reps);
            tgc_s = median(co, (int)reps);
            long n = tg * reps;
            qsort(lat, (size_t)n, sizeof *lat, cmp_float);
            mask_p50 = lat[n / 2];
            mask_p99 = lat[(long)((double)(n - 1) * 0.99)];
        }
        free(lat), free(sa), free(co);
        edgellm_sampler_free(plain);
        edgellm_sampler_free(con);
        if (rc != CLI_OK) goto done;
    }

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss = (double)ru.ru_maxrss / 1024.0;
    double pp_s = median(pps, (int)reps), tg_s = median(tgs, (int)reps), ttft_ms = median(ttft, (int)reps);
    /* decode bandwidth: the weights one token reads, and the machine's limit if --membw cached it */
    const double wgb = (double)edgellm_model_weight_bytes_per_token(model) / 1e9, dec_gb_s = wgb * tg_s;
    char cpu[128];
    struct membw_result mb;
    membw_cpu_model(cpu, sizeof cpu);
    int have_mb = membw_cache_lookup(cpu, threads, &mb);
    const char *name = strrchr(path, '/');
    name = name ? name + 1 : path;
    if (json) {
        printf("{\"engine\":\"edgellm\",\"model\":\"");
        for (const char *c = name; *c; c++) {
            if (*c == '"' || *c == '\\') putchar('\\');
            if ((unsigned char)*c >= 0x20) putchar(*c);
        }
        printf("\",\"threads\":%d,\"isa\":\"%s\",\"kv_type\":\"%s\",\"depth\":%ld,\"pp\":%ld,\"tg\":%ld,\"reps\":%ld,"
               "\"pp_tok_s\":%.2f,\"tg_tok_s\":%.2f,\"ttft_ms\":%.1f,\"load_s\":%.3f,\"start_to_first_s\":%.3f,"
               "\"peak_rss_mib\":%.1f,\"weights_gb_per_token\":%.4f,\"decode_gb_s\":%.2f",
               threads, edgellm_isa(), kv_name(kv), depth, pp, tg, reps, pp_s, tg_s, ttft_ms, load_s, start_to_first_s, rss,
               wgb, dec_gb_s);
        if (have_mb) printf(",\"membw_gb_s\":%.2f,\"decode_bw_frac\":%.3f", mb.gb_s, dec_gb_s / mb.gb_s);
        if (grammar)
            printf(",\"tg_tok_s_sampled\":%.2f,\"tg_tok_s_constrained\":%.2f,\"mask_us_p50\":%.1f,\"mask_us_p99\":%.1f",
                   tgs_s, tgc_s, mask_p50, mask_p99);
        printf("}\n");
    } else {
        printf("model          %s\n", name);
        printf("threads        %d (%s), KV cache %s, %ld runs after a warm-up (medians)\n", threads, edgellm_isa(),
               kv_name(kv), reps);
        if (depth) printf("depth          %ld tokens in the cache before each prompt\n", depth);
        printf("prompt   pp%-5ld %10.2f tok/s\n", pp, pp_s);
        printf("generate tg%-5ld %10.2f tok/s\n", tg, tg_s);
        printf("time to first token %7.1f ms\n", ttft_ms);
        printf("load time      %10.3f s\n", load_s);
        printf("start to first %10.3f s (load start to the first prompt's logits)\n", start_to_first_s);
        printf("decode reads   %10.3f GB of weights per token: %.2f GB/s", wgb, dec_gb_s);
        if (have_mb) printf(", %.0f%% of the machine's %.2f GB/s (bench --membw)", 100.0 * dec_gb_s / mb.gb_s, mb.gb_s);
        printf("\n");
        printf("peak RSS       %10.1f MiB\n", rss);
        if (grammar) {
            printf("sampled  tg%-5ld %10.2f tok/s (greedy, fed back)\n", tg, tgs_s);
            printf("schema   tg%-5ld %10.2f tok/s (%.3fx), sample+accept p50 %.1f us, p99 %.1f us\n", tg, tgc_s,
                   tgs_s > 0 ? tgc_s / tgs_s : 0.0, mask_p50, mask_p99);
        }
    }
done:
    free(tok), free(pos), free(fill), free(want), free(pps), free(tgs), free(ttft);
    edgellm_context_free(ctx);
    edgellm_model_free(model);
    edgellm_grammar_free(grammar);
    return rc;
}
