/* The public text API of a model (include/edgellm.h): tokenize, token pieces and types, and the
 * streaming detokenizer. Thin wrappers over the model's vocabulary (text/vocab.c); the
 * detokenizer holds back the bytes of a UTF-8 character that is still incomplete. */
#include <limits.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "edgellm.h"
#include "core/util.h"
#include "model/model.h"
#include "text/unicode.h"
#include "text/vocab.h"

edgellm_status edgellm_tokenize(const struct edgellm_model *model, const char *text, size_t len, int add_bos,
                                int parse_special, edgellm_token *out, int32_t n_max, int32_t *n_tokens, char *err,
                                size_t err_size) {
    if (n_tokens) *n_tokens = 0;
    if (err && err_size) err[0] = 0;
    if (!model || !n_tokens || n_max < 0 || (n_max > 0 && !out))
        return util_errf(err, err_size, EDGELLM_ERR_ARG, "tokenize: %s",
                         !model ? "no model" : !n_tokens ? "n_tokens is NULL" : "bad output array");
    int32_t *ids;
    size_t n;
    edgellm_status st = vocab_tokenize(model_vocab(model), text, len, add_bos, parse_special, &ids, &n, err, err_size);
    if (st) return st;
    if (n > INT32_MAX) {
        free(ids);
        return util_errf(err, err_size, EDGELLM_ERR_ARG, "tokenize: too many tokens");
    }
    *n_tokens = (int32_t)n;
    if ((int32_t)n > n_max) {
        free(ids);
        return util_errf(err, err_size, EDGELLM_ERR_BUFFER_TOO_SMALL, "tokenize: %d tokens do not fit in %d", (int)n,
                         (int)n_max);
    }
    if (n) memcpy(out, ids, n * sizeof *ids);
    free(ids);
    return EDGELLM_OK;
}

int edgellm_token_to_piece(const struct edgellm_model *model, edgellm_token tok, int render_special, char *buf,
                           size_t size) {
    if (size && buf) buf[0] = 0;
    if (!model || (size && !buf)) return -EDGELLM_ERR_ARG;
    int n = vocab_token_to_piece(model_vocab(model), tok, render_special, buf, size);
    return n < 0 ? -EDGELLM_ERR_ARG : n;
}

const char *edgellm_token_text(const struct edgellm_model *model, edgellm_token tok) {
    return model ? vocab_token_text(model_vocab(model), tok) : NULL;
}

int edgellm_token_is_eog(const struct edgellm_model *model, edgellm_token tok) {
    return model && vocab_is_eog(model_vocab(model), tok);
}

int edgellm_token_is_control(const struct edgellm_model *model, edgellm_token tok) {
    return model && vocab_token_type(model_vocab(model), tok) == VOCAB_TT_CONTROL;
}

/* Streaming detokenizer: pending holds the (at most 3) bytes of a character still incomplete;
 * work (pending + the token's piece) and text (the validated output) are scratch buffers that
 * grow with the longest token seen. */
struct edgellm_detok {
    const struct vocab *v;
    int render_special;
    unsigned char pending[4];
    size_t n_pending;
    char *work, *text;
    size_t cap;
};

edgellm_status edgellm_detok_new(const struct edgellm_model *model, int render_special, struct edgellm_detok **out) {
    if (!out) return EDGELLM_ERR_ARG;
    *out = NULL;
    if (!model || !model_vocab(model)) return EDGELLM_ERR_ARG;
    struct edgellm_detok *d = calloc(1, sizeof *d);
    if (!d) return EDGELLM_ERR_NOMEM;
    d->v = model_vocab(model);
    d->render_special = render_special;
    *out = d;
    return EDGELLM_OK;
}

static int detok_reserve(struct edgellm_detok *d, size_t n) {
    if (n <= d->cap) return 0;
    char *w = realloc(d->work, n), *t;
    if (!w) return -1;
    d->work = w;
    if (!(t = realloc(d->text, 3 * n))) return -1;
    d->text = t;
    d->cap = n;
    return 0;
}

/* Validates pending + the n_new bytes at work[0..n_new), keeps an incomplete tail pending and
 * copies the text out — only if it fits: otherwise the state is left as it was, so the caller
 * can retry the same token with a bigger buffer. */
static int detok_emit(struct edgellm_detok *d, size_t n_new, int final, char *buf, size_t size) {
    size_t n = d->n_pending + n_new, n_text = 0;
    memmove(d->work + d->n_pending, d->work, n_new);
    memcpy(d->work, d->pending, d->n_pending);
    size_t used = unicode_utf8_sanitize((const unsigned char *)d->work, n, final, d->text, &n_text);
    if (n_text > INT32_MAX) return -EDGELLM_ERR_NOMEM;
    if (n_text && n_text >= size) {
        if (size) buf[0] = 0;
        return (int)n_text; /* pending unchanged: nothing consumed */
    }
    d->n_pending = n - used;
    memcpy(d->pending, d->work + used, d->n_pending);
    if (size) {
        memcpy(buf, d->text, n_text);
        buf[n_text] = 0;
    }
    return (int)n_text;
}

int edgellm_detok_push(struct edgellm_detok *d, edgellm_token tok, char *buf, size_t size) {
    if (size && buf) buf[0] = 0;
    if (!d || (size && !buf)) return -EDGELLM_ERR_ARG;
    int need = vocab_token_to_piece(d->v, tok, d->render_special, NULL, 0);
    if (need < 0) need = 0;
    if (detok_reserve(d, (size_t)need + 8)) return -EDGELLM_ERR_NOMEM;
    if (need) vocab_token_to_piece(d->v, tok, d->render_special, d->work, (size_t)need + 1);
    return detok_emit(d, (size_t)need, 0, buf, size);
}

int edgellm_detok_flush(struct edgellm_detok *d, char *buf, size_t size) {
    if (size && buf) buf[0] = 0;
    if (!d || (size && !buf)) return -EDGELLM_ERR_ARG;
    if (detok_reserve(d, 8)) return -EDGELLM_ERR_NOMEM;
    return detok_emit(d, 0, 1, buf, size);
}

void edgellm_detok_reset(struct edgellm_detok *d) {
    if (d) d->n_pending = 0;
}

void edgellm_detok_free(struct edgellm_detok *d) {
    if (!d) return;
    free(d->work);
    free(d->text);
    free(d);
}
