/* edgellm imatrix -m MODEL.gguf -f TEXT [-c 512] [-o imatrix.gguf] [-t N] [--kv-type T] [--process-output] [--json]
 * The importance matrix of a model over a text, as llama-imatrix computes it: the text in
 * chunks of -c tokens (cli_chunks.c), each evaluated on its own; the library's collector
 * (edgellm_imatrix_*) sums the squared inputs of every block matmul; the file is llama.cpp's
 * imatrix GGUF. The perplexity of the chunks' second halves is reported along the way. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define CMD "imatrix"

static void usage(FILE *f) {
    fprintf(f, "usage: edgellm imatrix -m MODEL.gguf -f TEXT [-c 512] [-o imatrix.gguf] [-t N] [--kv-type f16|f32|q8_0]\n"
               "                       [--process-output] [--json]\n\n"
               "Computes the importance matrix (per input column of every weight matrix of the blocks: the sum of\n"
               "squared activations and the token count) over TEXT in chunks of -c tokens, as llama-imatrix does,\n"
               "and writes it in llama.cpp's imatrix GGUF format (usable by edgellm quantize and llama-quantize).\n\n"
               "  -c N              tokens per chunk (default 512); the text must hold at least two chunks\n"
               "  -o FILE           output file (default imatrix.gguf)\n"
               "  --process-output  also collect output.weight\n"
               "  --json            print one JSON line at the end: out, n_chunks, chunk_size, n_tokens, n_entries, ppl\n");
}

int cmd_imatrix(int argc, char **argv) {
    const char *path = NULL, *text = NULL, *outp = "imatrix.gguf";
    long n_ctx = 512;
    int threads = 0, json = 0, process_output = 0;
    edgellm_kv_type kv = EDGELLM_KV_F16;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (cli_is_help(a)) { usage(stdout); return CLI_OK; }
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) { if (!(path = cli_value(CMD, argc, argv, &i))) return CLI_USAGE; }
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) { if (!(text = cli_value(CMD, argc, argv, &i))) return CLI_USAGE; }
        else if (!strcmp(a, "-o")) { if (!(outp = cli_value(CMD, argc, argv, &i))) return CLI_USAGE; }
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
            if (!(v = cli_value(CMD, argc, argv, &i)) || !cli_parse_int(CMD, "-c", v, 16, 1L << 20, &n_ctx)) return CLI_USAGE;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!(v = cli_value(CMD, argc, argv, &i)) || !cli_parse_threads(CMD, v, &threads)) return CLI_USAGE;
        } else if (!strcmp(a, "--kv-type")) {
            if (!(v = cli_value(CMD, argc, argv, &i)) || !cli_parse_kv_type(CMD, v, &kv)) return CLI_USAGE;
        } else if (!strcmp(a, "--process-output")) process_output = 1;
        else if (!strcmp(a, "--json")) json = 1;
        else { cli_err(CMD, "unknown option '%s' (see edgellm imatrix --help)", a); return CLI_USAGE; }
    }
    if (!path || !text) {
        cli_err(CMD, "-m and -f are required (see edgellm imatrix --help)");
        return CLI_USAGE;
    }
    if (!*outp) { cli_err(CMD, "-o needs a file name"); return CLI_USAGE; }
    int rc = CLI_RUNTIME;
    struct cli_chunks ch = {0};
    struct edgellm_context *ctx = NULL;
    struct edgellm_imatrix *im = NULL;
    edgellm_token *buf = NULL;
    int8_t *want = NULL;
    char err[512];
    {   /* find out now, not after the whole text, whether the output can be written */
        size_t len = strlen(outp);
        char *probe = malloc(len + 5);
        FILE *f = NULL;
        if (probe) {
            memcpy(probe, outp, len);
            memcpy(probe + len, ".tmp", 5);
            if ((f = fopen(probe, "wb")) != NULL) fclose(f), remove(probe);
        }
        free(probe);
        if (!f) { cli_err(CMD, "cannot write '%s'", outp); return CLI_RUNTIME; }
    }
    struct edgellm_model *m = cli_load_model(CMD, path, 0);
    if (!m) goto done;
    if (cli_chunks_tokenize(CMD, m, text, (int32_t)n_ctx, &ch)) goto done;
    struct edgellm_context_params cp = edgellm_context_default_params();
    cp.n_ctx = cp.n_batch = (uint32_t)n_ctx;
    cp.n_threads = threads;
    cp.kv_type = kv;
    cp.logits_all = 1;
    if (edgellm_context_new(m, &cp, &ctx, err, sizeof err)) { cli_err(CMD, "%s", err); goto done; }
    struct edgellm_imatrix_params ip = edgellm_imatrix_default_params();
    ip.chunk_size = (uint32_t)n_ctx;
    ip.process_output = process_output;
    if (edgellm_imatrix_new(&ip, &im, err, sizeof err) || edgellm_imatrix_add_dataset(im, text)) {
        cli_err(CMD, "%s", im ? edgellm_imatrix_errmsg(im) : err);
        goto done;
    }
    buf = malloc(sizeof *buf * (size_t)n_ctx);
    want = malloc((size_t)n_ctx);
    if (!buf || !want) { cli_err(CMD, "out of memory"); goto done; }
    edgellm_imatrix_attach(ctx, im);
    int32_t n_vocab = edgellm_model_n_vocab(m), first = (int32_t)n_ctx / 2;
    double nll = 0.0;
    long count = 0;
    fprintf(stderr, "edgellm imatrix: %d tokens, %d chunks of %ld\n", ch.n_tok, ch.n_chunks, n_ctx);
    for (int32_t c = 0; c < ch.n_chunks; c++) {
        /* with --process-output every position goes through the output projection, as in llama-imatrix */
        if (cli_chunk_decode(CMD, ctx, &ch, c, process_output ? 0 : first, buf, want)) goto done;
        if (edgellm_imatrix_status(im)) { cli_err(CMD, "%s", edgellm_imatrix_errmsg(im)); goto done; }
        int32_t row0 = process_output ? first : 0;
        const edgellm_token *t = ch.tok + (size_t)c * (size_t)n_ctx;
        for (int32_t k = first; k < n_ctx - 1; k++, count++)
            nll += cli_token_nll(edgellm_context_logits(ctx, row0 + k - first), n_vocab, t[k + 1]);
        fprintf(stderr, "[%d]%.4f%s", c + 1, exp(nll / (double)count), c + 1 < ch.n_chunks ? "," : "\n");
    }
    edgellm_imatrix_attach(ctx, NULL);
    if (edgellm_imatrix_save(im, outp)) { cli_err(CMD, "%s", edgellm_imatrix_errmsg(im)); goto done; }
    double ppl = exp(nll / (double)count);
    if (json) {
        printf("{\"out\":\"");
        for (const char *p = outp; *p; p++) {
            if (*p == '"' || *p == '\\') printf("\\%c", *p);
            else if ((unsigned char)*p < 0x20) printf("\\u%04x", (unsigned char)*p);
            else putchar(*p);
        }
        printf("\",\"n_chunks\":%u,\"chunk_size\":%ld,\"n_tokens\":%d,\"n_entries\":%d,\"ppl\":%.4f}\n",
               edgellm_imatrix_n_chunks(im), n_ctx, ch.n_tok, edgellm_imatrix_n_entries(im), ppl);
    } else {
        printf("wrote %s: %d weight matrices, %u chunks of %ld tokens (PPL of the second halves %.4f)\n", outp,
               edgellm_imatrix_n_entries(im), edgellm_imatrix_n_chunks(im), n_ctx, ppl);
    }
    rc = CLI_OK;
done:
    free(buf);
    free(want);
    edgellm_context_free(ctx);
    edgellm_imatrix_free(im);
    cli_chunks_free(&ch);
    edgellm_model_free(m);
    return rc;
}
