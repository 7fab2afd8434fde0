/* Chat prompts as tokens: the one place where a conversation (or a prompt rendered from one)
 * becomes the tokens to evaluate — `run --chat`, `chat` and `serve` all come here, so one chat
 * prompt tokenizes the same way everywhere. The rule: the template's control tokens are parsed,
 * the model's metadata decides the BOS, and when the template writes the BOS token itself (so the
 * text starts with it) the doubled BOS is kept once. */
#include <stdlib.h>
#include <string.h>

#include "edgellm.h"
#include "core/util.h"
#include "model/model.h"
#include "text/vocab.h"

#define CHAT_PARAMS_SIZE_1_0 UTIL_END_OF(struct edgellm_chat_params, prompt)
#define CHAT_PROMPT_SIZE_1_0 UTIL_END_OF(struct edgellm_chat_prompt, opens_think)
#ifndef EDGELLM_TEST_GROW_STRUCTS
_Static_assert(CHAT_PROMPT_SIZE_1_0 == sizeof(struct edgellm_chat_prompt), "1.0 layout ends in padding");
#endif

/* Tokenizes a rendered chat prompt by the rule above into a malloc'ed array. */
static edgellm_status chat_prompt_tokens(const struct edgellm_model *model, const char *text, int32_t **out,
                                         int32_t *n_out, char *err, size_t err_size) {
    const struct vocab *v = model_vocab(model);
    size_t n = 0;
    edgellm_status st = vocab_tokenize(v, text, strlen(text), -1, 1, out, &n, err, err_size);
    if (st) return st;
    int32_t bos = vocab_bos(v);
    if (n >= 2 && bos >= 0 && (*out)[0] == bos && (*out)[1] == bos) {
        memmove(*out, *out + 1, (n - 1) * sizeof **out);
        n--;
    }
    if (n > INT32_MAX) {
        free(*out);
        *out = NULL;
        return util_errf(err, err_size, EDGELLM_ERR_ARG, "the prompt has too many tokens");
    }
    *n_out = (int32_t)n;
    return EDGELLM_OK;
}

edgellm_status edgellm_chat_tokenize(const struct edgellm_model *model, const char *messages_json,
                                     const struct edgellm_chat_params *params, struct edgellm_chat_prompt *out,
                                     char *err, size_t err_size) {
    if (err && err_size) err[0] = 0;
    struct edgellm_chat_prompt r;
    memset(&r, 0, sizeof r);
    r.struct_size = (uint32_t)sizeof r;
    /* validate the caller's struct before anything is allocated */
    edgellm_status st = util_struct_out(out, &r, sizeof r, CHAT_PROMPT_SIZE_1_0);
    if (st) return util_errf(err, err_size, st, "chat prompt: no output struct or a struct_size below 1.0's");
    struct edgellm_chat_params cp = edgellm_chat_default_params();
    if (!model || util_params_in(&cp, sizeof cp, params, CHAT_PARAMS_SIZE_1_0) != EDGELLM_OK || !UTIL_GROWN_OK(cp))
        return util_errf(err, err_size, EDGELLM_ERR_ARG, "chat prompt: %s",
                         !model ? "no model" : "params struct_size is not a known layout");
    if (cp.prompt) {
        r.text = malloc(strlen(cp.prompt) + 1);
        if (!r.text) return util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory");
        strcpy(r.text, cp.prompt);
    } else {
        st = edgellm_chat_render(model, messages_json, &cp, &r.text, &r.used_fallback, err, err_size);
        if (st) return st;
    }
    /* keep a fallback warning in err unless tokenizing fails */
    st = chat_prompt_tokens(model, r.text, &r.tokens, &r.n_tokens, err, err_size);
    if (st) {
        free(r.text);
        return st;
    }
    r.opens_think = edgellm_prompt_opens_think(r.text);
#ifdef EDGELLM_TEST_GROW_STRUCTS
    r.test_grown = 0x5a5a5a5a5a5a5a5aULL; /* tests/abi: must not reach a 1.0 caller */
#endif
    return util_struct_out(out, &r, sizeof r, CHAT_PROMPT_SIZE_1_0);
}

void edgellm_chat_prompt_free(struct edgellm_chat_prompt *p) {
    if (!p || p->struct_size < CHAT_PROMPT_SIZE_1_0) return;
    free(p->tokens);
    free(p->text);
    p->tokens = NULL;
    p->text = NULL;
    p->n_tokens = 0;
}
