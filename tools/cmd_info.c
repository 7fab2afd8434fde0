/* edgellm info MODEL.gguf [--json]: what a GGUF file holds. Works on any architecture and on
 * vocabulary-only files; a malformed file gives one line on stderr and exit 1. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f) {
    fprintf(f, "usage: edgellm info MODEL.gguf [--json] [--meta]\n\n"
               "  --json   one JSON object on stdout\n"
               "  --meta   also list every metadata key and value\n");
}

static void json_str(const char *s) {
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\') printf("\\%c", *p);
        else if (*p == '\n') fputs("\\n", stdout);
        else if (*p < 0x20) printf("\\u%04x", *p);
        else putchar(*p);
    }
    putchar('"');
}

static void print_token(const struct edgellm_model *m, const char *name, edgellm_token t, int json, int *first) {
    if (json) {
        printf("%s", *first ? "" : ",");
        json_str(name);
        if (t < 0) printf(":null");
        else {
            printf(":{\"id\":%d,\"text\":", t);
            json_str(edgellm_token_text(m, t));
            printf("}");
        }
    } else if (t >= 0) {
        printf("%s%s=%d '%s'", *first ? "" : ", ", name, t, edgellm_token_text(m, t));
    } else {
        return;
    }
    *first = 0;
}

int cmd_info(int argc, char **argv) {
    const char *path = NULL;
    int json = 0, meta = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) { usage(stdout); return CLI_OK; }
        else if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--meta")) meta = 1;
        else if (!strcmp(argv[i], "-m") && i + 1 < argc) path = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1]) { cli_err("info", "unknown option '%s' (see edgellm info --help)", argv[i]); return CLI_USAGE; }
        else if (!path) path = argv[i];
        else { cli_err("info", "unexpected argument '%s'", argv[i]); return CLI_USAGE; }
    }
    if (!path) { usage(stderr); return CLI_USAGE; }
    struct edgellm_model *m = cli_load_model("info", path, 1);
    if (!m) return CLI_RUNTIME;
    struct edgellm_model_desc d = EDGELLM_MODEL_DESC_INIT;
    edgellm_model_describe(m, &d);
    int first = 1;
    if (json) {
        printf("{\"file\":");
        json_str(path);
        printf(",\"file_size\":%llu,\"gguf_version\":%u,\"architecture\":", (unsigned long long)d.file_size, d.gguf_version);
        json_str(d.arch);
        printf(",\"name\":");
        json_str(d.name);
        printf(",\"supported\":%s,\"unsupported_reason\":", d.supported ? "true" : "false");
        json_str(d.unsupported_why);
        printf(",\"n_params\":%llu,\"n_tensors\":%llu,\"n_kv\":%llu,\"context_length\":%u,\"n_embd\":%u,\"n_layer\":%u,"
               "\"n_head\":%u,\"n_head_kv\":%u,\"head_dim\":%u,\"n_ff\":%u,\"n_rot\":%u,\"rope_freq_base\":%g,"
               "\"norm_eps\":%g,\"rope_freqs\":%s,\"tied_output\":%s,\"n_vocab\":%d,\"tokenizer_model\":",
               (unsigned long long)d.n_params, (unsigned long long)d.n_tensors, (unsigned long long)d.n_kv, d.n_ctx_train,
               d.n_embd, d.n_layer, d.n_head, d.n_head_kv, d.head_dim, d.n_ff, d.n_rot, d.rope_freq_base, d.norm_eps,
               d.has_rope_freqs ? "true" : "false", d.tied_output ? "true" : "false", d.n_vocab);
        json_str(d.tokenizer_model);
        printf(",\"tokenizer_pre\":");
        json_str(d.tokenizer_pre);
        printf(",\"add_bos\":%s,\"add_eos\":%s,\"special_tokens\":{", d.add_bos ? "true" : "false", d.add_eos ? "true" : "false");
        print_token(m, "bos", d.bos, 1, &first);
        print_token(m, "eos", d.eos, 1, &first);
        print_token(m, "eot", d.eot, 1, &first);
        print_token(m, "pad", d.pad, 1, &first);
        print_token(m, "unk", d.unk, 1, &first);
        printf("},\"chat_template\":%s,\"tensor_types\":{", d.chat_template ? "true" : "false");
        for (int i = 0; i < edgellm_model_n_tensor_types(m); i++) {
            uint64_t n;
            const char *t = edgellm_model_tensor_type(m, i, &n);
            printf("%s", i ? "," : "");
            json_str(t);
            printf(":%llu", (unsigned long long)n);
        }
        printf("},\"family\":");
        json_str(d.family);
        printf(",\"head_dim_k\":%u,\"head_dim_v\":%u,\"rope\":{\"type\":\"%s\",\"n_rot\":%u},\"layers\":[", d.head_dim,
               d.head_dim_v, d.rope_neox ? "neox" : "norm", d.n_rot);
        struct edgellm_layer_desc ld = EDGELLM_LAYER_DESC_INIT;
        for (uint32_t il = 0; edgellm_model_layer(m, il, &ld) == 0; il++)
            printf("%s{\"attn\":\"%s\",\"window\":%u,\"rope\":%s,\"rope_freq_base\":%g}", il ? "," : "",
                   ld.swa ? "swa" : "full", ld.window, ld.rope ? "true" : "false", ld.rope_freq_base);
        printf("]");
        if (meta) {
            printf(",\"metadata\":{");
            for (uint64_t i = 0; i < d.n_kv; i++) {
                char v[1024];
                edgellm_model_meta_value(m, i, v, sizeof v);
                printf("%s", i ? "," : "");
                json_str(edgellm_model_meta_key(m, i));
                putchar(':');
                json_str(v);
            }
            printf("}");
        }
        printf("}\n");
    } else {
        printf("file:            %s (%.2f MiB, GGUF v%u)\n", path, (double)d.file_size / (1024.0 * 1024.0), d.gguf_version);
        printf("architecture:    %s%s%s\n", d.arch[0] ? d.arch : "(none)", d.supported ? "" : " — cannot be run: ",
               d.supported ? "" : d.unsupported_why);
        if (d.name[0]) printf("name:            %s\n", d.name);
        printf("parameters:      %llu in %llu tensors\n", (unsigned long long)d.n_params, (unsigned long long)d.n_tensors);
        if (d.n_embd) {
            printf("context length:  %u\n", d.n_ctx_train);
            printf("layers:          %u, embedding %u, feed-forward %u\n", d.n_layer, d.n_embd, d.n_ff);
            printf("attention:       %u heads, %u kv heads, head size %u (k) / %u (v), %s rope on %u dims, rope base %g%s\n",
                   d.n_head, d.n_head_kv, d.head_dim, d.head_dim_v, d.rope_neox ? "neox" : "norm", d.n_rot,
                   d.rope_freq_base, d.has_rope_freqs ? " + rope_freqs (llama3 scaling)" : "");
            struct edgellm_layer_desc ld = EDGELLM_LAYER_DESC_INIT;
            if (edgellm_model_layer(m, 0, &ld) == 0) {
                printf("layer attention:");
                for (uint32_t il = 0; edgellm_model_layer(m, il, &ld) == 0; il++) {
                    printf("%s %u %s", il ? "," : "", il, ld.swa ? "swa" : "full");
                    if (ld.swa) printf(" %u", ld.window);
                    if (ld.rope) printf(" (rope %g)", ld.rope_freq_base);
                    else printf(" (no rope)");
                }
                putchar('\n');
            }
            printf("norm epsilon:    %g\n", d.norm_eps);
            printf("output:          %s\n", d.tied_output ? "tied to the token embeddings" : "separate matrix");
        }
        printf("vocabulary:      %d tokens, tokenizer '%s'%s%s%s\n", d.n_vocab, d.tokenizer_model,
               d.tokenizer_pre[0] ? ", pre-tokenizer '" : "", d.tokenizer_pre, d.tokenizer_pre[0] ? "'" : "");
        printf("special tokens:  ");
        print_token(m, "bos", d.bos, 0, &first);
        print_token(m, "eos", d.eos, 0, &first);
        print_token(m, "eot", d.eot, 0, &first);
        print_token(m, "pad", d.pad, 0, &first);
        print_token(m, "unk", d.unk, 0, &first);
        printf("%s (add bos: %s)\n", first ? "none" : "", d.add_bos ? "yes" : "no");
        printf("chat template:   %s\n", d.chat_template ? "yes" : "no");
        printf("tensor types:   ");
        for (int i = 0; i < edgellm_model_n_tensor_types(m); i++) {
            uint64_t n;
            const char *t = edgellm_model_tensor_type(m, i, &n);
            printf(" %s:%llu", t, (unsigned long long)n);
        }
        printf("%s\n", edgellm_model_n_tensor_types(m) ? "" : " (no tensors)");
        if (meta)
            for (uint64_t i = 0; i < d.n_kv; i++) {
                char v[1024];
                edgellm_model_meta_value(m, i, v, sizeof v);
                printf("  %s = %s\n", edgellm_model_meta_key(m, i), v);
            }
    }
    edgellm_model_free(m);
    return CLI_OK;
}
