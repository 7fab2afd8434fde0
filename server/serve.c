/* edgellm serve: flags, model and context set-up, then the engine thread (slots.c) and the
 * HTTP daemon (http.c) until SIGINT/SIGTERM. The port opens only after the model is loaded,
 * so a 200 from /health means requests can be served. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <limits.h>
#include <cjson/cJSON.h>
#include "cli.h"
#include "server.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: edgellm serve -m MODEL.gguf [options]\n"
            "       edgellm serve --models-dir DIR [--mem-budget BYTES] [--keep-alive DURATION] [options]\n\n"
            "OpenAI-compatible (/v1/chat/completions, /v1/completions, /v1/models) and Ollama-compatible\n"
            "(/api/chat, /api/generate, /api/tags, /api/version) HTTP server, with a chat page at /.\n\n"
            "  -m, --model FILE   GGUF model to serve (whatever a request's \"model\" says)\n"
            "  --models-dir DIR   serve every DIR/NAME.gguf as model NAME (NAME:latest too), chosen by the\n"
            "                     request's \"model\", loaded on first use (not with -m)\n"
            "  --mem-budget BYTES loaded models' file sizes + context memory stay within this: the least\n"
            "                     recently used idle model is unloaded first; a model that cannot fit: 503\n"
            "  --keep-alive D     an idle model stays loaded D (default 5m; seconds or 30s/5m/1h; negative:\n"
            "                     forever; 0: unload after each request); a request's keep_alive wins\n"
            "  --host HOST        address to bind (default 127.0.0.1)\n"
            "  --port N           port (default 8080; 0 picks a free one)\n"
            "  --parallel N       requests decoded together (default 4)\n"
            "  -c, --ctx-size N   context positions per request (default 4096, or the model's if smaller)\n"
            "  -t, --threads N    threads (default: all cores)\n"
            "  --api-key KEY      require 'Authorization: Bearer KEY' on /v1/* and /api/*\n"
            "  --kv-type T        KV cache type: f16 (default), f32, q8_0\n"
            "  --keep N           tokens a context shift keeps (default: through the first system message,\n"
            "                     else only BOS)\n"
            "  --no-context-shift a prompt that does not fit is refused (400), an answer ends with \"length\"\n"
            "                     when the context is full (default: drop the oldest half after --keep; an\n"
            "                     answer without max_tokens still ends when the context is first full)\n"
            "  --slot-save-path DIR  POST /slots/{id}?action=save|restore files go here; idle slots spill here\n"
            "  --slot-spill-max N    spill files kept at most, oldest deleted first (default 16)\n"
            "  -h, --help         this text\n");
}

void srv_model_info_fill(struct srv_model_info *info, const char *path, const struct edgellm_model *m,
                         const struct edgellm_model_desc *d, uint32_t n_ctx, uint64_t ctx_bytes) {
    memset(info, 0, sizeof *info);
    /* the model id clients see: the file's base name without .gguf */
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(info->name, sizeof info->name, "%s", base);
    size_t n = strlen(info->name);
    if (n > 5 && !strcmp(info->name + n - 5, ".gguf")) info->name[n - 5] = 0;
    snprintf(info->family, sizeof info->family, "%s", d->arch ? d->arch : "");
    uint64_t best = 0;
    for (int i = 0; i < edgellm_model_n_tensor_types(m); i++) {
        uint64_t count = 0;
        const char *t = edgellm_model_tensor_type(m, i, &count);
        if (t && count > best) {
            best = count;
            snprintf(info->quant, sizeof info->quant, "%s", t);
        }
    }
    for (char *p = info->quant; *p; p++)
        if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 'a' + 'A');
    info->size = d->file_size;
    info->n_params = d->n_params;
    info->n_ctx = n_ctx;
    info->need = d->file_size + ctx_bytes;
    struct stat st;
    if (!stat(path, &st)) info->mtime = (int64_t)st.st_mtime;
}

struct edgellm_context_params srv_context_params(const struct server *s, const struct edgellm_model_desc *d) {
    uint32_t ctx_want = s->n_ctx_req ? s->n_ctx_req : 4096;
    if (!s->n_ctx_req && d->n_ctx_train && d->n_ctx_train < ctx_want) ctx_want = d->n_ctx_train;
    struct edgellm_context_params cp = edgellm_context_default_params();
    cp.n_ctx = ctx_want;
    cp.n_seq = (uint32_t)s->n_parallel;
    cp.n_batch = s->n_parallel > 512 ? (uint32_t)s->n_parallel : 512; /* one step always fits a token per slot */
    cp.n_threads = s->n_threads;
    cp.kv_type = s->kv_type;
    return cp;
}

int srv_model_open(struct server *s, const char *path, char *err, size_t err_size) {
    struct edgellm_model_params mp = edgellm_model_default_params();
    s->model_path = path;
    if (edgellm_model_load(path, &mp, &s->model, err, err_size) != EDGELLM_OK) return -1;
    s->desc.struct_size = (uint32_t)sizeof s->desc;
    edgellm_model_describe(s->model, &s->desc);
    if (!s->desc.supported) {
        snprintf(err, err_size, "%s: cannot run this model: %s", path, s->desc.unsupported_why);
        goto fail;
    }
    struct edgellm_context_params cp = srv_context_params(s, &s->desc);
    uint64_t ctx_bytes = 0;
    edgellm_context_memory_needed(s->model, &cp, &ctx_bytes);
    if (edgellm_context_new(s->model, &cp, &s->ctx, err, err_size) != EDGELLM_OK) goto fail;
    s->n_ctx = edgellm_context_n_ctx(s->ctx);
    srv_model_info_fill(&s->info, path, s->model, &s->desc, s->n_ctx, ctx_bytes);
    snprintf(s->model_id, sizeof s->model_id, "%s", s->info.name);
    if (!(s->slot_info = calloc((size_t)s->n_parallel, sizeof *s->slot_info))) {
        snprintf(err, err_size, "out of memory");
        goto fail;
    }
    if (srv_engine_start(s)) {
        snprintf(err, err_size, "cannot start the engine thread");
        goto fail;
    }
    return 0;
fail:
    free(s->slot_info);
    s->slot_info = NULL;
    edgellm_context_free(s->ctx);
    s->ctx = NULL;
    edgellm_model_free(s->model);
    s->model = NULL;
    return -1;
}

void srv_model_close(struct server *s) {
    srv_engine_stop(s);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    edgellm_context_free(s->ctx);
    edgellm_model_free(s->model);
    free(s->slot_info);
    s->ctx = NULL;
    s->model = NULL;
    s->slot_info = NULL;
}

int cmd_serve(int argc, char **argv) {
    const char *cmd = "serve", *model_path = NULL, *host = "127.0.0.1", *api_key = NULL;
    long port = 8080, parallel = 4, n_ctx = 0, keep = -1, spill_max = 16;
    int no_shift = 0;
    const char *models_dir = NULL;
    long budget = 0; /* 0: no budget */
    int64_t keep_alive_ns = 300LL * 1000000000LL;
    const char *save_path = NULL;
    int n_threads = 0;
    edgellm_kv_type kv = EDGELLM_KV_F16;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (cli_is_help(a)) {
            usage(stdout);
            return CLI_OK;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!(model_path = cli_value(cmd, argc, argv, &i))) return CLI_USAGE;
        } else if (!strcmp(a, "--host")) {
            if (!(host = cli_value(cmd, argc, argv, &i))) return CLI_USAGE;
        } else if (!strcmp(a, "--port")) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_parse_int(cmd, a, v, 0, 65535, &port)) return CLI_USAGE;
        } else if (!strcmp(a, "--parallel") || !strcmp(a, "-np")) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_parse_int(cmd, a, v, 1, 256, &parallel)) return CLI_USAGE;
        } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_parse_int(cmd, a, v, 16, 1 << 24, &n_ctx)) return CLI_USAGE;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_parse_threads(cmd, v, &n_threads)) return CLI_USAGE;
        } else if (!strcmp(a, "--api-key")) {
            if (!(api_key = cli_value(cmd, argc, argv, &i))) return CLI_USAGE;
            if (!*api_key) {
                cli_err(cmd, "--api-key must not be empty");
                return CLI_USAGE;
            }
        } else if (!strcmp(a, "--keep")) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_parse_int(cmd, a, v, 0, 1 << 24, &keep)) return CLI_USAGE;
        } else if (!strcmp(a, "--no-context-shift")) {
            no_shift = 1;
        } else if (!strcmp(a, "--slot-save-path")) {
            if (!(save_path = cli_value(cmd, argc, argv, &i))) return CLI_USAGE;
        } else if (!strcmp(a, "--slot-spill-max")) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_parse_int(cmd, a, v, 0, 1 << 20, &spill_max)) return CLI_USAGE;
        } else if (!strcmp(a, "--models-dir")) {
            if (!(models_dir = cli_value(cmd, argc, argv, &i))) return CLI_USAGE;
        } else if (!strcmp(a, "--mem-budget")) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_parse_int(cmd, a, v, 1, LONG_MAX, &budget)) return CLI_USAGE;
        } else if (!strcmp(a, "--keep-alive")) {
            if (!(v = cli_value(cmd, argc, argv, &i))) return CLI_USAGE;
            cJSON *j = cJSON_CreateString(v);
            int bad = srv_parse_duration(j, &keep_alive_ns);
            cJSON_Delete(j);
            if (bad) {
                cli_err(cmd, "--keep-alive: '%s' is not a duration (seconds, or like 30s, 5m, 1h; negative: forever)", v);
                return CLI_USAGE;
            }
        } else if (!strcmp(a, "--kv-type")) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_parse_kv_type(cmd, v, &kv)) return CLI_USAGE;
        } else {
            cli_err(cmd, "unknown option '%s' (see edgellm serve --help)", a);
            return CLI_USAGE;
        }
    }
    if (model_path && models_dir) {
        cli_err(cmd, "-m and --models-dir exclude each other");
        return CLI_USAGE;
    }
    if (!model_path && !models_dir) {
        cli_err(cmd, "a model is required: -m MODEL.gguf or --models-dir DIR");
        return CLI_USAGE;
    }
    if (models_dir && save_path) {
        cli_err(cmd, "--slot-save-path works with -m only");
        return CLI_USAGE;
    }

#ifdef __GLIBC__
    /* One thread per connection: left alone, glibc gives many of them an arena of their own, whose
     * freed pages stay resident, so RSS creeps up with the peak number of connections. */
    mallopt(M_ARENA_MAX, 2);
#endif
    struct server s;
    memset(&s, 0, sizeof(s));
    s.api_key = api_key;
    s.n_parallel = (int)parallel;
    s.keep = keep;
    s.no_shift = no_shift;
    s.slot_save_path = save_path;
    s.slot_spill_max = (int)spill_max;
    s.n_ctx_req = (uint32_t)n_ctx;
    s.n_threads = n_threads;
    s.kv_type = kv;
    if (save_path) {
        struct stat st;
        if (stat(save_path, &st) || !S_ISDIR(st.st_mode)) {
            cli_err(cmd, "--slot-save-path %s: not a directory", save_path);
            return CLI_USAGE;
        }
    }
    char err[512] = "";
    int rc;
    if (models_dir) {
        if (!(s.pool = srv_pool_new(&s, models_dir, (uint64_t)budget, keep_alive_ns, err, sizeof err))) {
            cli_err(cmd, "%s", err);
            return CLI_RUNTIME;
        }
        pthread_mutex_init(&s.mu, NULL); /* the front's (request counters of /metrics) */
        fprintf(stderr, "edgellm serve: models from %s, %d slots each, %s\n", models_dir, s.n_parallel, edgellm_isa());
        rc = srv_http_run(&s, host, (int)port);
        srv_pool_free(s.pool);
        pthread_mutex_destroy(&s.mu);
        return rc;
    }
    if (srv_model_open(&s, model_path, err, sizeof err)) {
        cli_err(cmd, "%s", err);
        return CLI_RUNTIME;
    }
    fprintf(stderr, "edgellm serve: %s, %d slots of %u tokens, %s\n", s.model_id, s.n_parallel, (unsigned)s.n_ctx,
            edgellm_isa());
    rc = srv_http_run(&s, host, (int)port);
    srv_model_close(&s);
    return rc;
}
