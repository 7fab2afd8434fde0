/* Context shift for run, chat and serve: the first `keep` tokens stay; when the context is full
 * the oldest half of the rest (a block of (n_ctx - keep) / 2 tokens) is dropped and the cached
 * keys move down (edgellm_context_seq_shift, no recomputation). A prompt that does not fit is cut
 * the same way, in whole blocks. cli_shift remembers how many tokens after keep were dropped from
 * the conversation, so that its next prompt (the whole conversation again) is cut at the same
 * place and shares the cached prefix. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

uint32_t cli_shift_block(uint32_t n_ctx, uint32_t keep) { return keep + 2 < n_ctx ? (n_ctx - keep) / 2 : 0; }

int32_t cli_shift_prompt(struct cli_shift *sh, uint32_t n_ctx, const edgellm_token *in, int32_t n, edgellm_token *out) {
    uint32_t keep = sh->keep < (uint32_t)n ? sh->keep : (uint32_t)n;
    if (sh->n_discarded && (uint32_t)n < keep + sh->n_discarded + 1) sh->n_discarded = 0; /* another conversation */
    uint32_t d = sh->n_discarded, len = (uint32_t)n - d, block = cli_shift_block(n_ctx, keep);
    if (len + 1 > n_ctx) {
        if (!block) return -1;
        uint32_t blocks = (len + 1 - n_ctx + block - 1) / block;
        d += blocks * block;
        len = (uint32_t)n - d;
    }
    memmove(out, in, keep * sizeof *out);
    memmove(out + keep, in + keep + d, (len - keep) * sizeof *out);
    sh->n_discarded = d;
    return (int32_t)len;
}

uint32_t cli_shift_now(struct edgellm_context *ctx, int32_t seq, struct cli_shift *sh, edgellm_token *toks, int32_t *n) {
    uint32_t len = edgellm_context_seq_len(ctx, seq), block = cli_shift_block(edgellm_context_n_ctx(ctx), sh->keep);
    if (!block || len < sh->keep + block || edgellm_context_seq_shift(ctx, seq, sh->keep, block) != EDGELLM_OK) return 0;
    if (toks && n && *n >= (int32_t)(sh->keep + block)) {
        memmove(toks + sh->keep, toks + sh->keep + block, (size_t)(*n - (int32_t)(sh->keep + block)) * sizeof *toks);
        *n -= (int32_t)block;
    }
    sh->n_discarded += block;
    return block;
}

uint32_t cli_chat_keep(const struct edgellm_model *m, const char *messages_json, int enable_thinking,
                       const edgellm_token *prompt, int32_t n) {
    struct edgellm_model_desc d = EDGELLM_MODEL_DESC_INIT;
    edgellm_model_describe(m, &d);
    uint32_t keep = n > 0 && d.bos >= 0 && prompt[0] == d.bos ? 1 : 0;
    /* the first message alone, when it is a system message: {"role": "system", ...} */
    const char *p = messages_json ? strchr(messages_json, '{') : NULL, *e = NULL;
    if (!p || !strstr(p, "\"system\"")) return keep;
    int depth = 0, in_str = 0;
    for (const char *q = p; *q && !e; q++) {
        if (in_str) {
            if (*q == '\\' && q[1]) q++;
            else if (*q == '"') in_str = 0;
        } else if (*q == '"') in_str = 1;
        else if (*q == '{') depth++;
        else if (*q == '}' && --depth == 0) e = q + 1;
    }
    if (!e) return keep;
    size_t len = (size_t)(e - p);
    char *one = malloc(len + 3);
    if (!one) return keep;
    one[0] = '[';
    memcpy(one + 1, p, len);
    memcpy(one + 1 + len, "]", 2);
    const char *role = strstr(one, "\"role\"");
    const char *colon = role ? strchr(role + 6, ':') : NULL;
    while (colon && (*++colon == ' ' || *colon == '\t' || *colon == '\n')) {}
    if (colon && !strncmp(colon, "\"system\"", 8)) {
        struct edgellm_chat_params cp = edgellm_chat_default_params();
        struct edgellm_chat_prompt pr = EDGELLM_CHAT_PROMPT_INIT;
        cp.add_generation_prompt = 0;
        cp.enable_thinking = enable_thinking;
        if (edgellm_chat_tokenize(m, one, &cp, &pr, NULL, 0) == EDGELLM_OK) {
            int32_t k = 0; /* the part the whole prompt shares with it */
            while (k < pr.n_tokens && k < n && pr.tokens[k] == prompt[k]) k++;
            if ((uint32_t)k > keep) keep = (uint32_t)k;
        }
        edgellm_chat_prompt_free(&pr);
    }
    free(one);
    return keep;
}
