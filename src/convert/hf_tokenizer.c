/* hf_tokenizer: tokenizer.json -> GGUF vocabulary (see hf_tokenizer.h).
 * The token table is indexed by id: model.vocab first, then added_tokens (which may repeat a
 * vocab entry with the same id), then "[PAD<i>]" up to config.json's vocab_size, as llama.cpp's
 * converter pads. Strings point into the parsed tokenizer.json tree, which the vocab keeps. */
#include "convert/hf_tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "edgellm.h"
#include "template/json.h"

enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER_DEFINED = 4, TT_UNUSED = 5, TT_BYTE = 6 };

#define MAX_TOKENS (1u << 24)

/* The Split regexes the pre-tokenizers are recognised by, as tokenizer.json holds them. */
static const char RE_LLAMA3[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char RE_QWEN2[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char R1_BOS[] = "<\xef\xbd\x9c" "begin\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>";

static int is_str(const json_value *v) { return v && v->type == JSON_STRING; }
static int str_is(const json_value *v, const char *s) { return is_str(v) && !strcmp(v->str, s); }

void hf_vocab_free(struct hf_vocab *v) {
    if (!v) return;
    free(v->tokens);
    free(v->token_lens);
    free(v->scores);
    free(v->types);
    free(v->merges);
    free(v->merge_lens);
    for (size_t i = 0; i < v->n_owned; i++) free(v->owned[i]);
    free(v->owned);
    json_free(v->tok_json);
    free(v);
}

static char *own(struct hf_vocab *v, char *s) {
    if (!s) return NULL;
    char **p = realloc(v->owned, (v->n_owned + 1) * sizeof *p);
    if (!p) { free(s); return NULL; }
    v->owned = p;
    v->owned[v->n_owned++] = s;
    return s;
}

/* Visits the pre-tokenizer steps: a Sequence's members, or the one step. */
static size_t steps(const json_value *node, const char *list_key, const json_value **out, size_t max) {
    if (!node || node->type != JSON_OBJECT) return 0;
    const json_value *list = json_get(node, list_key);
    if (str_is(json_get(node, "type"), "Sequence") && list && list->type == JSON_ARRAY) {
        size_t n = 0;
        for (size_t i = 0; i < list->len && n < max; i++) out[n++] = list->items[i];
        return n;
    }
    out[0] = node;
    return 1;
}

static const json_value *find_step(const json_value **s, size_t n, const char *type) {
    for (size_t i = 0; i < n; i++)
        if (str_is(json_get(s[i], "type"), type)) return s[i];
    return NULL;
}

/* Id of an added token with this content, or -1. */
static int32_t added_id(const json_value *added, const char *content) {
    if (!added || added->type != JSON_ARRAY || !content) return -1;
    for (size_t i = 0; i < added->len; i++) {
        const json_value *c = json_get(added->items[i], "content"), *id = json_get(added->items[i], "id");
        if (str_is(c, content) && id && id->type == JSON_NUMBER && id->is_int && id->i >= 0 && id->i < MAX_TOKENS)
            return (int32_t)id->i;
    }
    return -1;
}

/* The text of a tokenizer_config "<x>_token" entry: a string or {"content": ...}. */
static const char *token_entry(const json_value *cfg, const char *key) {
    const json_value *e = cfg ? json_get(cfg, key) : NULL;
    if (is_str(e)) return e->str;
    if (e && e->type == JSON_OBJECT && is_str(json_get(e, "content"))) return json_get(e, "content")->str;
    return NULL;
}

static int looks_special(const char *s, size_t n) {
    static const char fl[] = "<\xef\xbd\x9c", fr[] = "\xef\xbd\x9c>";
    if (n >= 4 && s[0] == '<' && s[1] == '|' && s[n - 2] == '|' && s[n - 1] == '>') return 1;
    if (n >= 8 && !memcmp(s, fl, 4) && !memcmp(s + n - 4, fr, 4)) return 1;
    return !strcmp(s, "<pad>") || !strcmp(s, "<mask>") || (!strncmp(s, "<unused", 7) && s[n - 1] == '>');
}

static int is_byte_token(const char *s, size_t n) {
    return n == 6 && !strncmp(s, "<0x", 3) && s[5] == '>' && strchr("0123456789abcdefABCDEF", s[3]) &&
           strchr("0123456789abcdefABCDEF", s[4]) && s[3] && s[4];
}

/* Merge i as "left right" (string form kept; pair form joined, a space inside a part written
 * as U+0120 as gguf-py does). Returns the length, or -1 if malformed; *out may be owned. */
static int64_t merge_text(struct hf_vocab *v, const json_value *m, const char **out) {
    if (is_str(m)) {
        if (!memchr(m->str, ' ', m->len)) return -1;
        *out = m->str;
        return (int64_t)m->len;
    }
    if (!m || m->type != JSON_ARRAY || m->len != 2 || !is_str(m->items[0]) || !is_str(m->items[1])) return -1;
    size_t n = 0;
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < m->items[k]->len; i++) n += m->items[k]->str[i] == ' ' ? 2 : 1;
    char *s = own(v, malloc(n + 2));
    if (!s) return -2;
    size_t o = 0;
    for (int k = 0; k < 2; k++) {
        if (k) s[o++] = ' ';
        for (size_t i = 0; i < m->items[k]->len; i++) {
            char c = m->items[k]->str[i];
            if (c == ' ') { s[o++] = (char)0xc4; s[o++] = (char)0xa0; }
            else s[o++] = c;
        }
    }
    s[o] = 0;
    *out = s;
    return (int64_t)o;
}

/* Token texts sorted for lookup by text (ids of merge results). */
struct ent { const char *s; uint64_t n; int32_t id; };
static int cmp_text(const char *a, size_t na, const char *b, size_t nb) {
    int c = memcmp(a, b, na < nb ? na : nb);
    return c ? c : (na > nb) - (na < nb);
}
static int cmp_ent(const void *x, const void *y) {
    const struct ent *a = x, *b = y;
    return cmp_text(a->s, (size_t)a->n, b->s, (size_t)b->n);
}
static int32_t ent_find(const struct ent *e, uint32_t n_e, const char *s, size_t n) {
    uint32_t lo = 0, hi = n_e;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = cmp_text(e[mid].s, (size_t)e[mid].n, s, n);
        if (!c) return e[mid].id;
        if (c < 0) lo = mid + 1; else hi = mid;
    }
    return -1;
}

int hf_vocab_build(const char *text, size_t len, const json_value *tcfg, const json_value *config,
                   const json_value *gencfg, uint32_t n_vocab, struct hf_vocab **out, char *err, size_t err_size) {
    *out = NULL;
    struct hf_vocab *v = calloc(1, sizeof *v);
    if (!v) return util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory");
    v->bos = v->eos = v->unk = v->sep = v->pad = -1;
    v->add_bos = v->add_eos = v->add_space_prefix = -1;
    int st = 0;
    struct ent *ord = NULL;
    char jerr[160];
    json_value *tj = v->tok_json = json_parse(text, len, jerr, sizeof jerr);
    if (!tj) { st = util_errf(err, err_size, EDGELLM_ERR_FORMAT, "tokenizer.json: %s", jerr); goto fail; }
    const json_value *model = json_get(tj, "model");
    if (tj->type != JSON_OBJECT || !model || model->type != JSON_OBJECT) {
        st = util_errf(err, err_size, EDGELLM_ERR_FORMAT, "tokenizer.json: no \"model\" object");
        goto fail;
    }
    const json_value *mtype = json_get(model, "type"), *vocab = json_get(model, "vocab"), *merges = json_get(model, "merges");
    if (!str_is(mtype, "BPE")) {
        st = util_errf(err, err_size, EDGELLM_ERR_UNSUPPORTED, "tokenizer.json: model type '%s' is not supported (BPE only)",
                       is_str(mtype) ? mtype->str : "?");
        goto fail;
    }
    if (!vocab || vocab->type != JSON_OBJECT || !vocab->len || !merges || merges->type != JSON_ARRAY) {
        st = util_errf(err, err_size, EDGELLM_ERR_FORMAT, "tokenizer.json: BPE model needs a \"vocab\" object and a \"merges\" list");
        goto fail;
    }
    const json_value *added = json_get(tj, "added_tokens");
    if (added && added->type != JSON_ARRAY) added = NULL;

    /* kind: byte-level or SentencePiece-style */
    const json_value *pre_steps[16], *norm_steps[16], *post_steps[16];
    size_t n_pre = steps(json_get(tj, "pre_tokenizer"), "pretokenizers", pre_steps, 16);
    size_t n_norm = steps(json_get(tj, "normalizer"), "normalizers", norm_steps, 16);
    size_t n_post = steps(json_get(tj, "post_processor"), "processors", post_steps, 16);
    const json_value *byte_level = find_step(pre_steps, n_pre, "ByteLevel");
    const json_value *metaspace = find_step(pre_steps, n_pre, "Metaspace");
    const json_value *prepend = find_step(norm_steps, n_norm, "Prepend");
    const json_value *replace = find_step(norm_steps, n_norm, "Replace");
    const json_value *tmpl = find_step(post_steps, n_post, "TemplateProcessing");
    int spm = 0;
    if (byte_level) {
        v->model = "gpt2";
        const json_value *split = find_step(pre_steps, n_pre, "Split");
        const json_value *re = split ? json_get(json_get(split, "pattern"), "Regex") : NULL;
        if (split && is_str(re) && !strcmp(re->str, RE_LLAMA3)) {
            v->pre = "llama-bpe";
        } else if (split && is_str(re) && !strcmp(re->str, RE_QWEN2)) {
            const json_value *single = tmpl ? json_get(tmpl, "single") : NULL;
            const json_value *first = single && single->type == JSON_ARRAY && single->len > 1 ? json_get(json_get(single->items[0], "SpecialToken"), "id") : NULL;
            v->pre = str_is(first, R1_BOS) ? "deepseek-r1-qwen" : "qwen2";
        } else if (!split && n_pre == 1 && json_get(byte_level, "use_regex") && json_get(byte_level, "use_regex")->boolean) {
            v->pre = "gpt-2";
        } else {
            st = util_errf(err, err_size, EDGELLM_ERR_UNSUPPORTED,
                           "tokenizer.json: byte-level BPE with a pre-tokenizer edgellm does not recognise (Split regex %.80s%s)",
                           is_str(re) ? re->str : "(none)", is_str(re) && re->len > 80 ? "..." : "");
            goto fail;
        }
    } else if (metaspace || (prepend && replace && str_is(json_get(prepend, "prepend"), "\xe2\x96\x81") &&
                             str_is(json_get(json_get(replace, "pattern"), "String"), " ") && str_is(json_get(replace, "content"), "\xe2\x96\x81"))) {
        spm = 1;
        v->model = "llama";
        v->pre = "default";
        if (metaspace) {
            const json_value *ps = json_get(metaspace, "prepend_scheme"), *ap = json_get(metaspace, "add_prefix_space");
            if (str_is(ps, "never") || (ap && ap->type == JSON_BOOL && !ap->boolean)) v->add_space_prefix = 0;
        }
    } else {
        st = util_errf(err, err_size, EDGELLM_ERR_UNSUPPORTED,
                       "tokenizer.json: BPE without a ByteLevel pre-tokenizer or a SentencePiece (\xe2\x96\x81) normalizer is not supported");
        goto fail;
    }

    /* token table */
    uint32_t n = 0;
    for (size_t i = 0; i < vocab->len; i++) {
        const json_value *id = vocab->items[i];
        if (!id || id->type != JSON_NUMBER || !id->is_int || id->i < 0 || id->i >= MAX_TOKENS) {
            st = util_errf(err, err_size, EDGELLM_ERR_FORMAT, "tokenizer.json: token '%.40s' has a bad id", vocab->keys[i]);
            goto fail;
        }
        if ((uint32_t)id->i + 1 > n) n = (uint32_t)id->i + 1;
    }
    for (size_t i = 0; added && i < added->len; i++) {
        const json_value *id = json_get(added->items[i], "id"), *c = json_get(added->items[i], "content");
        if (!id || id->type != JSON_NUMBER || !id->is_int || id->i < 0 || id->i >= MAX_TOKENS || !is_str(c)) {
            st = util_errf(err, err_size, EDGELLM_ERR_FORMAT, "tokenizer.json: added_tokens[%zu] needs an id and a content", i);
            goto fail;
        }
        if ((uint32_t)id->i + 1 > n) n = (uint32_t)id->i + 1;
    }
    if ((uint64_t)n > (uint64_t)vocab->len + (added ? added->len : 0) + 65536) {
        st = util_errf(err, err_size, EDGELLM_ERR_FORMAT, "tokenizer.json: token id %u leaves a gap of unused ids", n - 1);
        goto fail;
    }
    if (n_vocab && n > n_vocab) {
        st = util_errf(err, err_size, EDGELLM_ERR_FORMAT, "tokenizer.json has token id %u but config.json's vocab_size is %u", n - 1, n_vocab);
        goto fail;
    }
    if (n_vocab) n = n_vocab;
    v->n_tokens = n;
    v->tokens = calloc(n, sizeof *v->tokens);
    v->token_lens = calloc(n, sizeof *v->token_lens);
    v->types = calloc(n, sizeof *v->types);
    if (spm) v->scores = calloc(n, sizeof *v->scores);
    if (!v->tokens || !v->token_lens || !v->types || (spm && !v->scores)) { st = util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory"); goto fail; }
    for (size_t i = 0; i < vocab->len; i++) {
        uint32_t id = (uint32_t)vocab->items[i]->i;
        if (v->tokens[id]) { st = util_errf(err, err_size, EDGELLM_ERR_FORMAT, "tokenizer.json: id %u is used by two tokens", id); goto fail; }
        v->tokens[id] = vocab->keys[i];
        v->token_lens[id] = vocab->key_lens[i];
        v->types[id] = spm && is_byte_token(vocab->keys[i], vocab->key_lens[i]) ? TT_BYTE : TT_NORMAL;
    }
    for (size_t i = 0; added && i < added->len; i++) {
        const json_value *a = added->items[i];
        uint32_t id = (uint32_t)json_get(a, "id")->i;
        const json_value *c = json_get(a, "content"), *sp = json_get(a, "special");
        int special = sp && sp->type == JSON_BOOL && sp->boolean;
        v->tokens[id] = c->str;
        v->token_lens[id] = c->len;
        if (special || (!spm && looks_special(c->str, c->len))) {
            v->types[id] = TT_CONTROL;
        } else {
            v->types[id] = TT_USER_DEFINED;
            if (!spm && strstr(c->str, "\xe2\x96\x81")) { /* gguf-py pre-normalizes user-defined spaces */
                char *s = own(v, strdup(c->str));
                if (!s) { st = util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory"); goto fail; }
                size_t o = 0;
                for (size_t k = 0; s[k];) {
                    if (!strncmp(s + k, "\xe2\x96\x81", 3)) { s[o++] = ' '; k += 3; } else s[o++] = s[k++];
                }
                s[o] = 0;
                v->tokens[id] = s;
                v->token_lens[id] = o;
            }
        }
    }
    for (uint32_t id = 0; id < n; id++) {
        if (v->tokens[id]) continue;
        char buf[32];
        snprintf(buf, sizeof buf, "[PAD%u]", id);
        char *s = own(v, strdup(buf));
        if (!s) { st = util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory"); goto fail; }
        v->tokens[id] = s;
        v->token_lens[id] = strlen(s);
        v->types[id] = TT_UNUSED;
    }

    /* merges: kept in rank order (gpt2), or turned into scores (llama) */
    if (merges->len > MAX_TOKENS) { st = util_errf(err, err_size, EDGELLM_ERR_FORMAT, "tokenizer.json: too many merges"); goto fail; }
    if (spm) {
        if (!(ord = malloc((size_t)n * sizeof *ord))) { st = util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory"); goto fail; }
        for (uint32_t i = 0; i < n; i++) ord[i] = (struct ent){v->tokens[i], v->token_lens[i], (int32_t)i};
        qsort(ord, n, sizeof *ord, cmp_ent);
        uint8_t *has = calloc(n, 1);
        if (!has) { st = util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory"); goto fail; }
        for (size_t r = 0; r < merges->len; r++) {
            const char *m;
            int64_t ml = merge_text(v, merges->items[r], &m);
            if (ml < 0) {
                free(has);
                st = util_errf(err, err_size, ml == -2 ? EDGELLM_ERR_NOMEM : EDGELLM_ERR_FORMAT, "tokenizer.json: merge %zu is malformed", r);
                goto fail;
            }
            /* the merged token is the two parts without the separating space */
            const char *sp = memchr(m, ' ', (size_t)ml);
            size_t nl = (size_t)(sp - m);
            char *joined = malloc((size_t)ml);
            if (!joined) { free(has); st = util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory"); goto fail; }
            memcpy(joined, m, nl);
            memcpy(joined + nl, sp + 1, (size_t)ml - nl - 1);
            int32_t id = ent_find(ord, n, joined, (size_t)ml - 1);
            free(joined);
            if (id >= 0 && !has[id]) {
                has[id] = 1;
                v->scores[id] = -(float)r;
            }
        }
        /* tokens no merge produces never result from merging in HF: rank them below every merge */
        for (uint32_t i = 0; i < n; i++)
            if (!has[i]) v->scores[i] = -(float)merges->len - 1.0f;
        free(has);
    } else {
        v->n_merges = (uint32_t)merges->len;
        v->merges = calloc(merges->len + 1, sizeof *v->merges);
        v->merge_lens = calloc(merges->len + 1, sizeof *v->merge_lens);
        if (!v->merges || !v->merge_lens) { st = util_errf(err, err_size, EDGELLM_ERR_NOMEM, "out of memory"); goto fail; }
        for (size_t r = 0; r < merges->len; r++) {
            int64_t ml = merge_text(v, merges->items[r], &v->merges[r]);
            if (ml < 0) {
                st = util_errf(err, err_size, ml == -2 ? EDGELLM_ERR_NOMEM : EDGELLM_ERR_FORMAT, "tokenizer.json: merge %zu is malformed", r);
                goto fail;
            }
            v->merge_lens[r] = (uint64_t)ml;
        }
    }

    /* special tokens, as gguf-py's SpecialVocab reads them */
    static const char *const kinds[] = {"bos", "eos", "unk", "sep", "pad"};
    int32_t *ids[] = {&v->bos, &v->eos, &v->unk, &v->sep, &v->pad};
    const char *bos_text = token_entry(tcfg, "bos_token"), *eos_text = token_entry(tcfg, "eos_token");
    if (tmpl) {
        const json_value *single = json_get(tmpl, "single");
        if (single && single->type == JSON_ARRAY && single->len > 1) {
            const json_value *first = json_get(json_get(single->items[0], "SpecialToken"), "id");
            const json_value *last = json_get(json_get(single->items[single->len - 1], "SpecialToken"), "id");
            if (is_str(first)) {
                if (!bos_text) bos_text = first->str;
                v->add_bos = !strcmp(first->str, bos_text);
            }
            if (is_str(last)) v->add_eos = eos_text && !strcmp(last->str, eos_text);
        }
    }
    for (int k = 0; k < 5; k++) {
        char key[32];
        snprintf(key, sizeof key, "add_%s_token", kinds[k]);
        const json_value *a = tcfg ? json_get(tcfg, key) : NULL;
        if (a && a->type == JSON_BOOL) {
            if (k == 0) v->add_bos = a->boolean;
            if (k == 1) v->add_eos = a->boolean;
        }
        snprintf(key, sizeof key, "%s_token", kinds[k]);
        const char *t = k == 0 ? bos_text : token_entry(tcfg, key);
        int32_t id = added_id(added, t);
        if (id >= 0 && (uint32_t)id < n) *ids[k] = id;
    }
    for (int k = 0; k < 5; k++) {
        char key[32];
        snprintf(key, sizeof key, "%s_token_id", kinds[k]);
        for (int src = 0; src < 2 && *ids[k] < 0; src++) {
            const json_value *cf = src ? gencfg : config;
            const json_value *x = cf ? json_get(cf, key) : NULL;
            if (x && x->type == JSON_ARRAY && x->len) x = x->items[0]; /* generation_config: eos list */
            if (x && x->type == JSON_NUMBER && x->is_int && x->i >= 0 && x->i < (int64_t)n) *ids[k] = (int32_t)x->i;
        }
    }

    /* chat template: a string, or the "default" entry of a list of named templates */
    const json_value *ct = tcfg ? json_get(tcfg, "chat_template") : NULL;
    if (is_str(ct)) {
        v->chat_template = own(v, strdup(ct->str));
    } else if (ct && ct->type == JSON_ARRAY) {
        for (size_t i = 0; i < ct->len; i++)
            if (str_is(json_get(ct->items[i], "name"), "default") && is_str(json_get(ct->items[i], "template")))
                v->chat_template = own(v, strdup(json_get(ct->items[i], "template")->str));
    }
    free(ord);
    *out = v;
    return 0;
fail:
    free(ord);
    hf_vocab_free(v);
    return st ? st : EDGELLM_ERR_FORMAT;
}
