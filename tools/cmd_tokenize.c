/* `edgellm tokenize`: text (from -p, or all of stdin byte for byte) to token ids, printed
 * space-separated on one line. Loads only the vocabulary, so vocabulary-only GGUFs work. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *const usage_text =
    "usage: edgellm tokenize -m MODEL.gguf [--no-bos] [--parse-special] [-p TEXT]\n"
    "\n"
    "Prints the token ids of TEXT (or of all of stdin, byte-exact, when -p is absent) on one line.\n"
    "  -m, --model FILE   GGUF file (a vocabulary-only file is enough)\n"
    "  -p, --prompt TEXT  text to tokenize\n"
    "  --no-bos           do not add the BOS token the model's metadata asks for\n"
    "  --parse-special    turn control-token texts such as <|im_start|> into their ids\n";

int cmd_tokenize(int argc, char **argv) {
    const char *cmd = "tokenize", *model_path = NULL, *prompt = NULL;
    int no_bos = 0, parse_special = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(usage_text, stdout);
            return CLI_OK;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!(model_path = cli_value(cmd, argc, argv, &i))) return CLI_USAGE;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            if (!(prompt = cli_value(cmd, argc, argv, &i))) return CLI_USAGE;
        } else if (!strcmp(a, "--no-bos")) {
            no_bos = 1;
        } else if (!strcmp(a, "--parse-special")) {
            parse_special = 1;
        } else {
            cli_err(cmd, "unknown option '%s' (try --help)", a);
            return CLI_USAGE;
        }
    }
    if (!model_path) {
        cli_err(cmd, "-m MODEL.gguf is required (try --help)");
        return CLI_USAGE;
    }
    struct edgellm_model *m = cli_load_model(cmd, model_path, 1);
    if (!m) return CLI_RUNTIME;
    char *input = NULL;
    size_t len = 0;
    if (prompt) {
        len = strlen(prompt);
    } else if (!(input = cli_read_file(cmd, "-", &len))) {
        edgellm_model_free(m);
        return CLI_RUNTIME;
    }
    const char *text = prompt ? prompt : input;
    int add_bos = no_bos ? 0 : -1;
    int rc = CLI_RUNTIME;
    int32_t n = 0;
    char err[512];
    edgellm_token *ids = NULL;
    edgellm_status st = edgellm_tokenize(m, text, len, add_bos, parse_special, NULL, 0, &n, err, sizeof err);
    if (st == EDGELLM_ERR_BUFFER_TOO_SMALL) {
        if (!(ids = malloc((size_t)n * sizeof *ids))) {
            cli_err(cmd, "out of memory");
            free(input);
            edgellm_model_free(m);
            return CLI_RUNTIME;
        }
        st = edgellm_tokenize(m, text, len, add_bos, parse_special, ids, n, &n, err, sizeof err);
    }
    if (st != EDGELLM_OK) {
        cli_err(cmd, "tokenize: %s", err);
    } else {
        for (int32_t i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
        putchar('\n');
        rc = fflush(stdout) == 0 ? CLI_OK : CLI_RUNTIME;
    }
    free(ids);
    free(input);
    edgellm_model_free(m);
    return rc;
}
