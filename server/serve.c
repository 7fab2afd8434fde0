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
#include "cli.h"
#include "server.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: edgellm serve -m MODEL.gguf [options]\n\n"
            "OpenAI-compatible (/v1/chat/completions, /v1/completions, /v1/models) and Ollama-compatible\n"
            "(/api/chat, /api/generate, /api/tags, /api/version) HTTP server, with a chat page at /.\n\n"
            "  -m, --model FILE   GGUF model to serve (required)\n"
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

/* The model id clients see: the file's base name without .gguf. */
static void model_id_from_path(const char *path, char *out, size_t size) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(out, size, "%s", base);
    size_t n = strlen(out);
    if (n > 5 && !strcmp(out + n - 5, ".gguf")) out[n - 5] = 0;
}

int cmd_serve(int argc, char **argv) {
    const char *cmd = "serve", *model_path = NULL, *host = "127.0.0.1", *api_key = NULL;
    long port = 8080, parallel = 4, n_ctx = 0, keep = -1, spill_max = 16;
    int no_shift = 0;
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
        } else if (!strcmp(a, "--kv-type")) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_parse_kv_type(cmd, v, &kv)) return CLI_USAGE;
        } else {
            cli_err(cmd, "unknown option '%s' (see edgellm serve --help)", a);
            return CLI_USAGE;
        }
    }
    if (!model_path) {
        cli_err(cmd, "a model is required: -m MODEL.gguf");
        return CLI_USAGE;
    }

#ifdef __GLIBC__
    /* One thread per connection: left alone, glibc gives many of them an arena of their own, whose
     * freed pages stay resident, so RSS creeps up with the peak number of connections. */
    mallopt(M_ARENA_MAX, 2);
#endif
    struct server s;
    memset(&s, 0, sizeof(s));
    s.model_path = model_path;
    s.api_key = api_key;
    s.n_parallel = (int)parallel;
    s.keep = keep;
    s.no_shift = no_shift;
    s.slot_save_path = save_path;
    s.slot_spill_max = (int)spill_max;
    if (save_path) {
        struct stat st;
        if (stat(save_path, &st) || !S_ISDIR(st.st_mode)) {
            cli_err(cmd, "--slot-save-path %s: not a directory", save_path);
            return CLI_USAGE;
        }
    }
    model_id_from_path(model_path, s.model_id, sizeof(s.model_id));
    if (!(s.model = cli_load_model(cmd, model_path, 0))) return CLI_RUNTIME;
    s.desc.struct_size = (uint32_t)sizeof s.desc;
    edgellm_model_describe(s.model, &s.desc);
    if (!s.desc.supported) {
        cli_err(cmd, "%s: cannot run this model: %s", model_path, s.desc.unsupported_why);
        edgellm_model_free(s.model);
        return CLI_RUNTIME;
    }
    uint32_t ctx_want = n_ctx ? (uint32_t)n_ctx : 4096;
    if (!n_ctx && s.desc.n_ctx_train && s.desc.n_ctx_train < ctx_want) ctx_want = s.desc.n_ctx_train;

    struct edgellm_context_params cp = edgellm_context_default_params();
    cp.n_ctx = ctx_want;
    cp.n_seq = (uint32_t)parallel;
    cp.n_batch = parallel > 512 ? (uint32_t)parallel : 512; /* one step always fits a token per slot */
    cp.n_threads = n_threads;
    cp.kv_type = kv;
    char err[512] = "";
    if (edgellm_context_new(s.model, &cp, &s.ctx, err, sizeof(err)) != EDGELLM_OK) {
        cli_err(cmd, "cannot create the context: %s", err);
        edgellm_model_free(s.model);
        return CLI_RUNTIME;
    }
    s.n_ctx = edgellm_context_n_ctx(s.ctx);
    int rc = CLI_RUNTIME;
    if (!(s.slot_info = calloc((size_t)parallel, sizeof *s.slot_info))) {
        cli_err(cmd, "out of memory");
    } else if (srv_engine_start(&s)) {
        cli_err(cmd, "cannot start the engine thread");
    } else {
        fprintf(stderr, "edgellm serve: %s, %d slots of %u tokens, %s\n", s.model_id, s.n_parallel,
                (unsigned)s.n_ctx, edgellm_isa());
        rc = srv_http_run(&s, host, (int)port);
        if (rc) srv_engine_stop(&s);
    }
    edgellm_context_free(s.ctx);
    edgellm_model_free(s.model);
    free(s.slot_info);
    return rc;
}
