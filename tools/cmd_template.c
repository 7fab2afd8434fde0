/* `edgellm template`: renders a chat template (a model's own, or a .jinja file) over a JSON list
 * of messages and prints the prompt exactly, with no newline added. Only what the flags say is
 * passed to the template: messages, add_generation_prompt, bos/eos tokens when given, the date
 * strftime_now sees, and one variable per --kwarg NAME=JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *const usage_text =
    "usage: edgellm template (-m MODEL.gguf | --template FILE.jinja) --messages FILE.json\n"
    "                        [--add-generation-prompt] [--bos-token S] [--eos-token S]\n"
    "                        [--date YYYY-MM-DD] [--kwarg NAME=JSON]... [--tools FILE.json]\n"
    "\n"
    "Prints the rendered prompt exactly (no newline added).\n"
    "  -m, --model FILE         use the chat template stored in this GGUF file\n"
    "  --template FILE          use this Jinja template file\n"
    "  --messages FILE          JSON list of {\"role\": ..., \"content\": ...} objects ('-' = stdin)\n"
    "  --add-generation-prompt  end with the header of the assistant's turn\n"
    "  --bos-token S            value of bos_token (undefined when absent)\n"
    "  --eos-token S            value of eos_token (undefined when absent)\n"
    "  --date YYYY-MM-DD        the date strftime_now sees (default: today)\n"
    "  --kwarg NAME=JSON        an extra template variable, e.g. --kwarg enable_thinking=true\n"
    "  --tools FILE.json        a JSON list of tools passed as the variable tools (absent: undefined,\n"
    "                           as Hugging Face does)\n";

#define MAX_KWARGS 64

static int valid_name(const char *s, size_t n) {
    if (n == 0 || (s[0] >= '0' && s[0] <= '9')) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return 0;
    }
    return 1;
}

/* Builds {"NAME": JSON, ...} from the --kwarg values; checks each one by rendering an empty template. */
static char *build_kwargs(const char *cmd, const char **kw, int n_kw, int *usage_error) {
    size_t total = 3;
    for (int i = 0; i < n_kw; i++) total += strlen(kw[i]) + 8;
    char *obj = malloc(total);
    if (!obj) { cli_err(cmd, "out of memory"); return NULL; }
    size_t k = 0;
    obj[k++] = '{';
    for (int i = 0; i < n_kw; i++) {
        const char *eq = strchr(kw[i], '=');
        size_t nl = eq ? (size_t)(eq - kw[i]) : 0;
        if (!eq || !valid_name(kw[i], nl)) {
            cli_err(cmd, "--kwarg expects NAME=JSON with NAME an identifier, got '%s'", kw[i]);
            free(obj);
            *usage_error = 1;
            return NULL;
        }
        char one[1024];
        if (strlen(kw[i]) + 8 < sizeof one) {
            snprintf(one, sizeof one, "{\"%.*s\": %s}", (int)nl, kw[i], eq + 1);
            struct edgellm_template_params p = edgellm_template_default_params();
            p.kwargs_json = one;
            char err[256], *out = NULL;
            if (edgellm_template_render("", "[]", &p, &out, err, sizeof err) != EDGELLM_OK) {
                cli_err(cmd, "--kwarg %.*s: the value is not valid JSON: %s", (int)nl, kw[i], eq + 1);
                free(obj);
                *usage_error = 1;
                return NULL;
            }
            edgellm_free(out);
        }
        k += (size_t)sprintf(obj + k, "%s\"%.*s\": %s", i ? ", " : "", (int)nl, kw[i], eq + 1);
    }
    obj[k++] = '}';
    obj[k] = 0;
    return obj;
}

int cmd_template(int argc, char **argv) {
    const char *cmd = "template", *model_path = NULL, *template_path = NULL, *messages_path = NULL, *tools_path = NULL;
    const char *kw[MAX_KWARGS];
    int n_kw = 0;
    struct edgellm_template_params p = edgellm_template_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(usage_text, stdout);
            return CLI_OK;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!(model_path = cli_value(cmd, argc, argv, &i))) return CLI_USAGE;
        } else if (!strcmp(a, "--template")) {
            if (!(template_path = cli_value(cmd, argc, argv, &i))) return CLI_USAGE;
        } else if (!strcmp(a, "--messages")) {
            if (!(messages_path = cli_value(cmd, argc, argv, &i))) return CLI_USAGE;
        } else if (!strcmp(a, "--add-generation-prompt")) {
            p.add_generation_prompt = 1;
        } else if (!strcmp(a, "--bos-token")) {
            if (!(p.bos_token = cli_value(cmd, argc, argv, &i))) return CLI_USAGE;
        } else if (!strcmp(a, "--eos-token")) {
            if (!(p.eos_token = cli_value(cmd, argc, argv, &i))) return CLI_USAGE;
        } else if (!strcmp(a, "--date")) {
            if (!(p.date = cli_value(cmd, argc, argv, &i))) return CLI_USAGE;
        } else if (!strcmp(a, "--tools")) {
            if (!(tools_path = cli_value(cmd, argc, argv, &i))) return CLI_USAGE;
        } else if (!strcmp(a, "--kwarg")) {
            const char *v = cli_value(cmd, argc, argv, &i);
            if (!v) return CLI_USAGE;
            if (n_kw == MAX_KWARGS) {
                cli_err(cmd, "at most %d --kwarg options", MAX_KWARGS);
                return CLI_USAGE;
            }
            kw[n_kw++] = v;
        } else {
            cli_err(cmd, "unknown option '%s' (try --help)", a);
            return CLI_USAGE;
        }
    }
    if (!model_path == !template_path) {
        cli_err(cmd, "give exactly one of -m MODEL.gguf or --template FILE.jinja (try --help)");
        return CLI_USAGE;
    }
    if (!messages_path) {
        cli_err(cmd, "--messages FILE.json is required (try --help)");
        return CLI_USAGE;
    }
    if (p.date) {
        struct edgellm_template_params dp = edgellm_template_default_params();
        dp.date = p.date;
        char err[256], *out = NULL;
        if (edgellm_template_render("", "[]", &dp, &out, err, sizeof err) != EDGELLM_OK) {
            cli_err(cmd, "--date expects YYYY-MM-DD, got '%s'", p.date);
            return CLI_USAGE;
        }
        edgellm_free(out);
    }
    char *kwargs = NULL;
    if (n_kw) {
        int usage_error = 0;
        if (!(kwargs = build_kwargs(cmd, kw, n_kw, &usage_error))) return usage_error ? CLI_USAGE : CLI_RUNTIME;
        p.kwargs_json = kwargs;
    }
    if (tools_path) {
        /* {"tools": FILE, the --kwarg members...}: checked as JSON by rendering an empty template */
        size_t tlen = 0;
        char *tools = cli_read_file(cmd, tools_path, &tlen);
        if (!tools) { free(kwargs); return CLI_USAGE; }
        const char *t = tools;
        while (*t == ' ' || *t == '\t' || *t == '\n' || *t == '\r') t++;
        size_t klen = kwargs ? strlen(kwargs) : 0;
        char *merged = malloc(tlen + klen + 16);
        int bad = strlen(tools) != tlen || *t != '[';
        if (merged && !bad) {
            sprintf(merged, "{\"tools\": %s%s%s", tools, klen > 2 ? ", " : "}", klen > 2 ? kwargs + 1 : "");
            struct edgellm_template_params tp = edgellm_template_default_params();
            tp.kwargs_json = merged;
            char terr[256], *tout = NULL;
            if (edgellm_template_render("", "[]", &tp, &tout, terr, sizeof terr) != EDGELLM_OK) bad = 1;
            edgellm_free(tout);
        }
        free(tools);
        free(kwargs);
        kwargs = merged;
        if (!merged || bad) {
            if (merged) cli_err(cmd, "%s: expected a JSON list of tools", tools_path);
            else cli_err(cmd, "out of memory");
            free(kwargs);
            return merged ? CLI_USAGE : CLI_RUNTIME;
        }
        p.kwargs_json = kwargs;
    }
    int rc = CLI_RUNTIME;
    struct edgellm_model *m = NULL;
    char *tpl_file = NULL, *messages = NULL, *out = NULL;
    const char *tpl;
    if (model_path) {
        if (!(m = cli_load_model(cmd, model_path, 1))) goto done;
        struct edgellm_model_desc d = EDGELLM_MODEL_DESC_INIT;
        edgellm_model_describe(m, &d);
        if (!d.chat_template || !d.chat_template[0]) {
            cli_err(cmd, "%s has no chat template (tokenizer.chat_template)", model_path);
            goto done;
        }
        tpl = d.chat_template;
    } else {
        size_t len;
        if (!(tpl_file = cli_read_file(cmd, template_path, &len))) goto done;
        if (strlen(tpl_file) != len) {
            cli_err(cmd, "%s contains a NUL byte", template_path);
            goto done;
        }
        tpl = tpl_file;
    }
    size_t mlen;
    if (!(messages = cli_read_file(cmd, messages_path, &mlen))) goto done;
    char err[512];
    edgellm_status st = edgellm_template_render(tpl, messages, &p, &out, err, sizeof err);
    if (st != EDGELLM_OK) {
        if (st == EDGELLM_ERR_FORMAT) cli_err(cmd, "%s: %s", messages_path, err);
        else cli_err(cmd, "%s", err);
        goto done;
    }
    size_t olen = strlen(out);
    if (fwrite(out, 1, olen, stdout) != olen || fflush(stdout) != 0) {
        cli_err(cmd, "cannot write the output");
        goto done;
    }
    rc = CLI_OK;
done:
    edgellm_free(out);
    free(messages);
    free(tpl_file);
    free(kwargs);
    if (m) edgellm_model_free(m);
    return rc;
}
