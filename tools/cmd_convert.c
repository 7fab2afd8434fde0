/* `edgellm convert`: a Hugging Face checkpoint directory to a GGUF file (edgellm_model_convert),
 * with a progress bar on stderr when it is a terminal. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char *const usage_text =
    "usage: edgellm convert HF_DIR -o OUT.gguf [--outtype TYPE] [-t N]\n"
    "\n"
    "Converts a Hugging Face checkpoint (config.json, model.safetensors or sharded\n"
    "model-0000N-of-0000M.safetensors + index, tokenizer.json, tokenizer_config.json,\n"
    "generation_config.json) to GGUF. Architectures: llama, qwen2 (incl. R1-Distill-Qwen), qwen3.\n"
    "  -o, --output FILE  the GGUF file to write (written as FILE.part, renamed when complete)\n"
    "  --outtype TYPE     f32, f16 (default), bf16, q8_0, or a quantized type:\n"
    "                     ";

struct bar {
    int on;
    int last;
};

static int progress(void *user, uint64_t done, uint64_t total) {
    struct bar *b = user;
    int pct = total ? (int)(done * 100 / total) : 100;
    if (!b->on || pct == b->last) return 0;
    b->last = pct;
    char line[64];
    int filled = pct / 4;
    memset(line, '#', (size_t)filled);
    memset(line + filled, '.', (size_t)(25 - filled));
    line[25] = 0;
    fprintf(stderr, "\rconvert [%s] %3d%%", line, pct);
    fflush(stderr);
    return 0;
}

int cmd_convert(int argc, char **argv) {
    const char *cmd = "convert", *dir = NULL, *out = NULL;
    struct edgellm_convert_params p = edgellm_convert_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(usage_text, stdout);
            for (int k = 4; edgellm_convert_outtype_name(k); k++) printf("%s%s", k > 4 ? " " : "", edgellm_convert_outtype_name(k));
            printf("\n  -t, --threads N    threads (default: all cores)\n");
            return CLI_OK;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (!(out = cli_value(cmd, argc, argv, &i))) return CLI_USAGE;
        } else if (!strcmp(a, "--outtype")) {
            if (!(p.outtype = cli_value(cmd, argc, argv, &i))) return CLI_USAGE;
            int ok = 0;
            for (int k = 0; edgellm_convert_outtype_name(k); k++) ok |= !strcmp(p.outtype, edgellm_convert_outtype_name(k));
            if (!ok) {
                cli_err(cmd, "unknown --outtype '%s' (try --help)", p.outtype);
                return CLI_USAGE;
            }
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            const char *v = cli_value(cmd, argc, argv, &i);
            if (!v || !cli_parse_threads(cmd, v, &p.n_threads)) return CLI_USAGE;
        } else if (a[0] == '-' && a[1]) {
            cli_err(cmd, "unknown option '%s' (try --help)", a);
            return CLI_USAGE;
        } else if (!dir) {
            dir = a;
        } else {
            cli_err(cmd, "one checkpoint directory only ('%s' and '%s')", dir, a);
            return CLI_USAGE;
        }
    }
    if (!dir || !out) {
        cli_err(cmd, "HF_DIR and -o OUT.gguf are required (try --help)");
        return CLI_USAGE;
    }
    struct bar b = {isatty(2), -1};
    p.progress = progress;
    p.progress_user = &b;
    char err[512];
    edgellm_status st = edgellm_model_convert(dir, out, &p, err, sizeof err);
    if (b.on && b.last >= 0) fputc('\n', stderr);
    if (st != EDGELLM_OK) {
        cli_err(cmd, "%s", err);
        return st == EDGELLM_ERR_ARG ? CLI_USAGE : CLI_RUNTIME;
    }
    fprintf(stderr, "edgellm convert: wrote %s (%s)\n", out, p.outtype);
    return CLI_OK;
}
