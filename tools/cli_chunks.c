/* Text in chunks, as llama-perplexity and llama-imatrix evaluate it (shared by `edgellm
 * perplexity` and `edgellm imatrix`): the whole text is tokenized once (one trailing newline
 * dropped, BOS added if the model adds one, special tokens not parsed); chunk c is tokens
 * [c*n_ctx, (c+1)*n_ctx) with its first token replaced by BOS (when the model adds BOS),
 * evaluated on its own from an empty cache; the tail shorter than a chunk is dropped. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd_run.h"

int cli_chunks_tokenize(const char *cmd, struct edgellm_model *m, const char *path, int32_t n_ctx, struct cli_chunks *out) {
    memset(out, 0, sizeof *out);
    size_t len;
    char *text = cli_read_file(cmd, path, &len);
    if (!text) return CLI_RUNTIME;
    if (len && text[len - 1] == '\n') text[--len] = 0; /* as llama.cpp's -f does */
    if (len > (size_t)1 << 30) {
        cli_err(cmd, "'%s' is too large (%zu bytes)", path, len);
        free(text);
        return CLI_RUNTIME;
    }
    int32_t n = 0;
    edgellm_token *t = run_tokenize(cmd, m, text, -1, 0, &n); /* prints its error */
    free(text);
    if (!t) return CLI_RUNTIME;
    struct edgellm_model_desc d = EDGELLM_MODEL_DESC_INIT;
    edgellm_model_describe(m, &d);
    out->tok = t;
    out->n_tok = n;
    out->n_ctx = n_ctx;
    out->n_chunks = n / n_ctx;
    out->bos = d.add_bos ? d.bos : -1;
    if (n < 2 * n_ctx) {
        cli_err(cmd, "'%s' tokenizes to %d tokens; at least %d (two chunks of -c %d) are needed", path, n, 2 * n_ctx, n_ctx);
        cli_chunks_free(out);
        return CLI_RUNTIME;
    }
    return CLI_OK;
}

void cli_chunks_free(struct cli_chunks *ch) {
    free(ch->tok);
    ch->tok = NULL;
}

int cli_chunk_decode(const char *cmd, struct edgellm_context *ctx, const struct cli_chunks *ch, int32_t c, int32_t first_out,
                     edgellm_token *buf, int8_t *want) {
    int32_t n = ch->n_ctx;
    memcpy(buf, ch->tok + (size_t)c * (size_t)n, sizeof *buf * (size_t)n);
    if (ch->bos >= 0) buf[0] = ch->bos;
    for (int32_t k = 0; k < n; k++) want[k] = k >= first_out;
    edgellm_context_seq_truncate(ctx, 0, 0);
    struct edgellm_batch b = {n, buf, NULL, NULL, want};
    if (edgellm_context_decode(ctx, &b)) {
        cli_err(cmd, "chunk %d: %s", c + 1, edgellm_context_errmsg(ctx));
        return CLI_RUNTIME;
    }
    return CLI_OK;
}

double cli_token_nll(const float *logits, int32_t n_vocab, edgellm_token tok) {
    float mx = logits[0];
    for (int32_t i = 1; i < n_vocab; i++) mx = logits[i] > mx ? logits[i] : mx;
    double s = 0.0;
    for (int32_t i = 0; i < n_vocab; i++) s += expf(logits[i] - mx);
    return -((double)(logits[tok] - mx) - log(s));
}
