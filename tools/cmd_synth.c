/* edgellm synth: writes a synthetic GGUF with a real model's tensor layout, vocabulary and chat
 * template and seeded random weights (edgellm_synth_write), so benchmarks need no download.
 * The shared data folder is found from --shared, $EDGELLM_SHARED, ../shared (from the current
 * folder), or from the build the binary came from (its CMakeCache.txt names EDGELLM_SHARED_DIR).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "edgellm_dev.h"

static const char *CMD = "synth";

static void usage(FILE *f) {
    fprintf(f,
            "usage: edgellm synth --preset NAME --type TYPE -o FILE.gguf [--seed N]\n"
            "\n"
            "Writes a GGUF whose tensors have exactly the names, types and shapes of a real download\n"
            "(<shared>/presets/NAME-TYPE.tsv), filled with seeded random weights, with the model's\n"
            "metadata, vocabulary and chat template. For benchmarks: both engines load it.\n"
            "\n"
            "  --preset NAME   r1-qwen-1.5b (DeepSeek-R1-Distill-Qwen-1.5B), qwen3-1.7b, gemma3-1b, phi4-mini\n"
            "                  (placeholder vocabularies for the last two), or r1-qwen-tiny (tests)\n"
            "  --type TYPE     q4_0, q8_0, q4_k_m, or f16 (unquantized matrices: a base for quantize)\n"
            "  -o FILE         output path\n"
            "  --seed N        random seed (default 1)\n"
            "  --presets DIR   folder of NAME-TYPE.tsv layouts (default <shared>/presets; without a\n"
            "                  TSV the layout is derived with llama.cpp's quantization rules)\n"
            "  --shared DIR    the shared data folder (vocab/, templates/); default $EDGELLM_SHARED,\n"
            "                  ../shared, or the one the build was configured with\n"
            "  --layout        print the tensor layout (TSV) instead of writing a file\n");
}

static int is_shared(const char *dir) {
    char p[4096];
    struct stat st;
    if (snprintf(p, sizeof p, "%s/vocab/ggml-vocab-qwen2.gguf", dir) >= (int)sizeof p) return 0;
    return stat(p, &st) == 0;
}

/* The EDGELLM_SHARED_DIR recorded in the CMakeCache.txt beside the running binary, if any. */
static int shared_from_build(char *out, size_t size) {
    char exe[4096], line[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return 0;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash) return 0;
    for (int up = 0; up < 3; up++) {
        *slash = 0;
        char cache[4200];
        FILE *f = snprintf(cache, sizeof cache, "%s/CMakeCache.txt", exe) < (int)sizeof cache ? fopen(cache, "r") : NULL;
        if (f) {
            int found = 0;
            while (!found && fgets(line, sizeof line, f)) {
                const char *key = "EDGELLM_SHARED_DIR:PATH=";
                if (!strncmp(line, key, strlen(key))) {
                    char *v = line + strlen(key);
                    v[strcspn(v, "\r\n")] = 0;
                    snprintf(out, size, "%s", v);
                    found = is_shared(out);
                }
            }
            fclose(f);
            if (found) return 1;
        }
        if (snprintf(out, size, "%s/../shared", exe) < (int)size && is_shared(out)) return 1;
        if (!(slash = strrchr(exe, '/'))) break;
    }
    return 0;
}

static const char *find_shared(const char *given, char *buf, size_t size) {
    if (given) return given;
    const char *e = getenv("EDGELLM_SHARED");
    if (e && e[0] && is_shared(e)) return e;
    if (is_shared("../shared")) return "../shared";
    if (is_shared("shared")) return "shared";
    if (shared_from_build(buf, size)) return buf;
    return NULL;
}

int cmd_synth(int argc, char **argv) {
    struct edgellm_synth_params p = {0};
    const char *out = NULL, *shared = NULL;
    int layout = 0;
    p.seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (cli_is_help(a)) { usage(stdout); return CLI_OK; }
        if (!strcmp(a, "--layout")) { layout = 1; continue; }
        if (!strcmp(a, "--preset") || !strcmp(a, "--type") || !strcmp(a, "-o") || !strcmp(a, "--output") ||
            !strcmp(a, "--seed") || !strcmp(a, "--presets") || !strcmp(a, "--shared")) {
            if (!(v = cli_value(CMD, argc, argv, &i))) return CLI_USAGE;
        } else {
            cli_err(CMD, "unknown option '%s' (see edgellm synth --help)", a);
            return CLI_USAGE;
        }
        if (!strcmp(a, "--preset")) p.preset = v;
        else if (!strcmp(a, "--type")) p.type = v;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) out = v;
        else if (!strcmp(a, "--presets")) p.presets_dir = v;
        else if (!strcmp(a, "--shared")) shared = v;
        else {
            char *end;
            unsigned long long s = strtoull(v, &end, 10);
            if (!*v || *end || v[0] == '-') { cli_err(CMD, "--seed expects a non-negative integer, got '%s'", v); return CLI_USAGE; }
            p.seed = s;
        }
    }
    if (!p.preset || !p.type || (!out && !layout)) {
        cli_err(CMD, "--preset, --type and -o are required (see edgellm synth --help)");
        return CLI_USAGE;
    }
    char buf[4096];
    p.shared_dir = find_shared(shared, buf, sizeof buf);
    if (!p.shared_dir) {
        cli_err(CMD, "cannot find the shared data folder (vocab/, templates/): set EDGELLM_SHARED or pass --shared DIR");
        return CLI_USAGE;
    }
    char err[512];
    edgellm_status st;
    if (layout) {
        char *text = NULL;
        st = edgellm_synth_layout(&p, &text, err, sizeof err);
        if (st == EDGELLM_OK) fputs(text, stdout);
        edgellm_free(text);
    } else {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        st = edgellm_synth_write(&p, out, err, sizeof err);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (st == EDGELLM_OK) {
            struct stat sb;
            double mib = stat(out, &sb) == 0 ? (double)sb.st_size / (1024.0 * 1024.0) : 0.0;
            printf("wrote %s (%.1f MiB, %s %s, seed %llu) in %.1f s\n", out, mib, p.preset, p.type,
                   (unsigned long long)p.seed, (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9);
        }
    }
    if (st != EDGELLM_OK) {
        cli_err(CMD, "%s", err);
        return st == EDGELLM_ERR_ARG ? CLI_USAGE : CLI_RUNTIME;
    }
    return CLI_OK;
}
