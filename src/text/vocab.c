/* Vocabulary loading and the two tokenizers (SentencePiece score merges, byte-level BPE).
 * Layout: token texts are copied NUL-terminated into one blob (tok_off/tok_len per id); open-
 * addressing hashes map text -> id and a BPE merge "left right" -> rank. Special tokens are cut
 * out first (longest first); each raw fragment is then merged pairwise from a heap ordered by
 * score or rank, ties to the leftmost pair, as llama.cpp and Hugging Face do. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgellm.h"
#include "core/util.h"
#include "gguf/gguf.h"
#include "text/pretok.h"
#include "text/unicode.h"
#include "text/vocab.h"

enum vocab_kind { VK_NONE = 0, VK_SPM, VK_BPE, VK_UNSUPPORTED };
enum { ATTR_EOG = 1, ATTR_RSTRIP = 2 /* spaces after the token belong to it (Phi-3) */ };

struct strhash { int32_t *slot; uint32_t mask; };

struct vocab {
    enum vocab_kind kind;
    char *model_name, *pre_name;
    int pre_kind;                 /* enum pretok_kind, -1 when .pre is unknown */
    int32_t n_tokens;
    char *blob;                   /* token texts, each NUL-terminated */
    uint32_t *tok_off, *tok_len;  /* [n_tokens] */
    float *scores;                /* [n_tokens] */
    uint8_t *types;               /* [n_tokens] enum vocab_token_type */
    uint8_t *attr;                /* [n_tokens] ATTR_* */
    struct strhash tok_hash;
    char *merge_blob;             /* merges, each NUL-terminated */
    uint32_t *merge_off, *merge_len;
    int32_t n_merges;
    struct strhash merge_hash;
    int32_t bos, eos, eot, eom, pad, unk;
    int add_bos, add_eos, add_space_prefix, ignore_merges;
    int nfc;                      /* Qwen2's tokenizer.json normalizes text to NFC first */
    int32_t *specials, n_specials; /* CONTROL/USER_DEFINED/UNKNOWN ids, longest text first */
    int32_t byte_tok[256];        /* token of each byte: SPM <0xXX>, BPE its mapped character */
    int spm_byte_tokens;          /* SPM: the vocab has <0xXX> tokens (else an unknown piece is one <unk>) */
    char byte_enc[256][2];        /* GPT-2 byte -> code point (256..323 above the printable ones) */
    uint8_t byte_enc_len[256];
    uint8_t cp_to_byte[324];      /* reverse of the map, for code points < 324 */
    uint8_t cp_is_byte[324];
};

/* ---- hashing ----------------------------------------------------------------------------- */

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static int strhash_init(struct strhash *h, size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap <<= 1;
    h->slot = calloc(cap, sizeof *h->slot);
    h->mask = (uint32_t)(cap - 1);
    return h->slot ? 0 : -1;
}

/* Inserts id. When the text is already there, id replaces it only if replace is set. */
static void strhash_put(struct strhash *h, const char *blob, const uint32_t *off, const uint32_t *len, int32_t id,
                        int replace) {
    uint32_t i = (uint32_t)hash_bytes(blob + off[id], len[id]) & h->mask;
    for (;; i = (i + 1) & h->mask) {
        int32_t s = h->slot[i] - 1;
        if (s < 0 || (len[s] == len[id] && !memcmp(blob + off[s], blob + off[id], len[id]))) {
            if (s < 0 || replace) h->slot[i] = id + 1;
            return;
        }
    }
}

static int32_t strhash_get(const struct strhash *h, const char *blob, const uint32_t *off, const uint32_t *len,
                           const char *s, size_t n) {
    if (!h->slot) return -1;
    for (uint32_t i = (uint32_t)hash_bytes(s, n) & h->mask;; i = (i + 1) & h->mask) {
        int32_t id = h->slot[i] - 1;
        if (id < 0) return -1;
        if (len[id] == n && !memcmp(blob + off[id], s, n)) return id;
    }
}

int32_t vocab_find(const struct vocab *v, const char *text, size_t len) {
    return v ? strhash_get(&v->tok_hash, v->blob, v->tok_off, v->tok_len, text, len) : -1;
}

/* ---- loading ----------------------------------------------------------------------------- */

static char *dup_gstr(struct gguf_str s) {
    char *p = malloc(s.len + 1);
    if (p) { memcpy(p, s.ptr, s.len); p[s.len] = 0; }
    return p;
}

/* A numeric array key of any element type, or NULL. */
static const struct gguf_kv *num_array(const struct gguf_file *f, const char *key) {
    int64_t i = gguf_find_key(f, key);
    if (i < 0) return NULL;
    const struct gguf_kv *kv = &f->kv[i];
    if (kv->type != GGUF_T_ARRAY || kv->arr_type == GGUF_T_STRING || kv->arr_type == GGUF_T_ARRAY ||
        gguf_vtype_size(kv->arr_type) == 0)
        return NULL;
    return kv;
}

/* Copies a string array into blob/off/len. Returns 0 or -1 (out of memory or > 4 GiB). */
static int copy_strings(const struct gguf_kv *kv, char **blob, uint32_t **off, uint32_t **len) {
    size_t n = (size_t)kv->n;
    struct gguf_str *s = malloc((n ? n : 1) * sizeof *s);
    if (!s) return -1;
    gguf_arr_strings(kv, s);
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) total += s[i].len + 1;
    *blob = total < UINT32_MAX ? malloc(total ? total : 1) : NULL;
    *off = malloc((n ? n : 1) * sizeof **off);
    *len = malloc((n ? n : 1) * sizeof **len);
    if (!*blob || !*off || !*len) { free(s); return -1; }
    uint32_t o = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(*blob + o, s[i].ptr, s[i].len);
        (*blob)[o + s[i].len] = 0;
        (*off)[i] = o;
        (*len)[i] = (uint32_t)s[i].len;
        o += (uint32_t)s[i].len + 1;
    }
    free(s);
    return 0;
}

static int32_t special_id(const struct gguf_file *f, const char *key, int32_t dflt, int32_t n) {
    int64_t id;
    if (!gguf_get_i64(f, key, &id)) id = dflt;
    return id >= 0 && id < n ? (int32_t)id : -1;
}

static int name_in(const char *s, const char *const *list) {
    for (; *list; list++)
        if (!strcmp(s, *list)) return 1;
    return 0;
}

/* End-of-generation tokens by their text, whatever their type (the reference engine's list;
 * a non-control one becomes control, as Phi-3's USER_DEFINED "</s>" does). */
static const char *const eog_names[] = {
    "<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "</s>",
    "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>", NULL,
};

struct len_id { uint32_t len; int32_t id; };

static int cmp_special(const void *a, const void *b) {
    const struct len_id *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* GPT-2's byte -> printable code point map: printable Latin-1 bytes stand for themselves, the
 * other 68 bytes take 256, 257, ... in byte order. */
static void build_byte_map(struct vocab *v) {
    int next = 256;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
        int cp = printable ? b : next++;
        char tmp[4];
        v->byte_enc_len[b] = (uint8_t)unicode_utf8_encode((uint32_t)cp, tmp);
        memcpy(v->byte_enc[b], tmp, v->byte_enc_len[b]);
        v->cp_to_byte[cp] = (uint8_t)b;
        v->cp_is_byte[cp] = 1;
    }
}

static edgellm_status fail(char *err, size_t err_size, edgellm_status st, const char *msg) {
    return util_errf(err, err_size, st, "%s", msg);
}

edgellm_status vocab_load(const struct gguf_file *f, struct vocab **out, char *err, size_t err_size) {
    *out = NULL;
    struct vocab *v = calloc(1, sizeof *v);
    if (!v) return fail(err, err_size, EDGELLM_ERR_NOMEM, "out of memory");
    struct gguf_str s;
    v->model_name = gguf_get_str(f, "tokenizer.ggml.model", &s) ? dup_gstr(s) : strdup("");
    v->pre_name = gguf_get_str(f, "tokenizer.ggml.pre", &s) ? dup_gstr(s) : strdup("");
    if (!v->model_name || !v->pre_name) goto oom;
    v->kind = !strcmp(v->model_name, "llama") ? VK_SPM : !strcmp(v->model_name, "gpt2") ? VK_BPE
              : v->model_name[0] ? VK_UNSUPPORTED : VK_NONE;
    /* a BPE file without .pre gets the default regexes, as the reference does */
    v->pre_kind = v->pre_name[0] ? pretok_kind_from_name(v->pre_name) : PRETOK_DEFAULT;
    v->ignore_merges = v->pre_kind == PRETOK_LLAMA3; /* not smaug-bpe, whose regex is the same */
    v->nfc = v->kind == VK_BPE && (!strcmp(v->pre_name, "qwen2") || !strcmp(v->pre_name, "deepseek-r1-qwen"));
    build_byte_map(v);

    const struct gguf_kv *toks = gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_T_STRING);
    if (toks) {
        if (toks->n > INT32_MAX) {
            vocab_free(v);
            return fail(err, err_size, EDGELLM_ERR_FORMAT, "tokenizer.ggml.tokens: too many tokens");
        }
        v->n_tokens = (int32_t)toks->n;
        if (copy_strings(toks, &v->blob, &v->tok_off, &v->tok_len)) goto oom;
    }
    int32_t n = v->n_tokens;
    v->scores = calloc(n ? (size_t)n : 1, sizeof *v->scores);
    v->types = malloc(n ? (size_t)n : 1);
    v->attr = calloc(n ? (size_t)n : 1, 1);
    if (!v->scores || !v->types || !v->attr || strhash_init(&v->tok_hash, (size_t)n)) goto oom;
    memset(v->types, VOCAB_TT_NORMAL, n ? (size_t)n : 1);
    const struct gguf_kv *sc = num_array(f, "tokenizer.ggml.scores");
    const struct gguf_kv *tt = num_array(f, "tokenizer.ggml.token_type");
    if ((sc && sc->n != (uint64_t)n) || (tt && tt->n != (uint64_t)n)) {
        vocab_free(v);
        return fail(err, err_size, EDGELLM_ERR_FORMAT,
                    "tokenizer.ggml.scores/token_type: length differs from tokenizer.ggml.tokens");
    }
    for (int32_t i = 0; i < n; i++) {
        if (sc) v->scores[i] = (float)gguf_arr_num(sc, (uint64_t)i);
        if (tt) {
            double t = gguf_arr_num(tt, (uint64_t)i);
            v->types[i] = t >= 0 && t <= VOCAB_TT_BYTE ? (uint8_t)t : VOCAB_TT_UNDEFINED;
        }
    }
    /* a text that is both a normal token and an added one (DeepSeek's user-defined "ý" next to
     * the byte-level "ý") resolves to the normal token inside BPE/SPM, as in Hugging Face's
     * model vocabulary; the added token is still matched whole on raw text */
    for (int pass = 0; pass < 2; pass++)
        for (int32_t i = 0; i < n; i++)
            if ((v->types[i] == VOCAB_TT_NORMAL) == pass)
                strhash_put(&v->tok_hash, v->blob, v->tok_off, v->tok_len, i, 1);

    const struct gguf_kv *mg = gguf_get_arr(f, "tokenizer.ggml.merges", GGUF_T_STRING);
    if (mg && v->kind == VK_BPE) {
        if (mg->n > INT32_MAX) {
            vocab_free(v);
            return fail(err, err_size, EDGELLM_ERR_FORMAT, "tokenizer.ggml.merges: too many merges");
        }
        v->n_merges = (int32_t)mg->n;
        if (copy_strings(mg, &v->merge_blob, &v->merge_off, &v->merge_len) ||
            strhash_init(&v->merge_hash, (size_t)v->n_merges))
            goto oom;
        /* the first occurrence of a merge keeps its (best) rank */
        for (int32_t i = v->n_merges - 1; i >= 0; i--)
            strhash_put(&v->merge_hash, v->merge_blob, v->merge_off, v->merge_len, i, 1);
    }

    int spm = v->kind == VK_SPM;
    v->bos = special_id(f, "tokenizer.ggml.bos_token_id", spm ? 1 : -1, n);
    v->eos = special_id(f, "tokenizer.ggml.eos_token_id", spm ? 2 : -1, n);
    v->unk = special_id(f, "tokenizer.ggml.unknown_token_id", spm ? 0 : -1, n);
    v->eot = special_id(f, "tokenizer.ggml.eot_token_id", -1, n);
    v->eom = special_id(f, "tokenizer.ggml.eom_token_id", -1, n);
    v->pad = special_id(f, "tokenizer.ggml.padding_token_id", -1, n);
    int b;
    if (gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &b)) v->add_bos = b;
    else v->add_bos = spm || (v->kind == VK_BPE && v->pre_kind == PRETOK_LLAMA3); /* smaug-bpe: none */
    v->add_eos = gguf_get_bool(f, "tokenizer.ggml.add_eos_token", &b) ? b : 0;
    v->add_space_prefix = gguf_get_bool(f, "tokenizer.ggml.add_space_prefix", &b) ? b : spm;

    /* end of generation: the metadata ids plus the known end-of-turn control tokens */
    int32_t n_special = 0;
    for (int32_t i = 0; i < n; i++) {
        int t = v->types[i];
        if (name_in(v->blob + v->tok_off[i], eog_names)) {
            v->attr[i] |= ATTR_EOG;
            if (t == VOCAB_TT_CONTROL && v->eot < 0 && i != v->eos && strcmp(v->blob + v->tok_off[i], "</s>")) v->eot = i;
            if (t != VOCAB_TT_CONTROL) v->types[i] = t = VOCAB_TT_CONTROL;
        }
        if ((t == VOCAB_TT_CONTROL || t == VOCAB_TT_USER_DEFINED || t == VOCAB_TT_UNKNOWN) && v->tok_len[i])
            n_special++;
    }
    if (v->eos >= 0) v->attr[v->eos] |= ATTR_EOG;
    if (v->eot >= 0) v->attr[v->eot] |= ATTR_EOG;
    if (v->eom >= 0) v->attr[v->eom] |= ATTR_EOG;
    /* with "<|tool_response>" in the vocabulary, "</s>" is text, not an end (Gemma 4) */
    {
        int32_t tool_resp = -1, s_id = -1;
        for (int32_t i = 0; i < n; i++) {
            const char *t = v->blob + v->tok_off[i];
            if (!strcmp(t, "<|tool_response>")) tool_resp = i;
            else if (!strcmp(t, "</s>")) s_id = i;
        }
        if (tool_resp >= 0 && s_id >= 0) v->attr[s_id] &= (uint8_t)~ATTR_EOG;
    }
    /* Phi-3's added tokens swallow the spaces that follow them (rstrip in its tokenizer.json,
     * which GGUF does not carry; matched by general.name as the reference does) */
    if (gguf_get_str(f, "general.name", &s)) {
        char name[128];
        size_t k = 0;
        for (; k < s.len && k + 1 < sizeof name; k++)
            name[k] = (char)((s.ptr[k] >= 'A' && s.ptr[k] <= 'Z') ? s.ptr[k] + 32 : s.ptr[k]);
        name[k] = 0;
        if (strstr(name, "phi-3") || strstr(name, "phi3")) {
            for (int32_t i = 0; i < n; i++) {
                const char *t = v->blob + v->tok_off[i];
                int special = v->types[i] == VOCAB_TT_CONTROL || v->types[i] == VOCAB_TT_USER_DEFINED ||
                              v->types[i] == VOCAB_TT_UNKNOWN;
                if ((special || !strcmp(t, "</s>")) && strcmp(t, "<unk>") && strcmp(t, "<s>") &&
                    strcmp(t, "<|endoftext|>"))
                    v->attr[i] |= ATTR_RSTRIP;
            }
        }
    }
    v->specials = malloc((size_t)(n_special ? n_special : 1) * sizeof *v->specials);
    struct len_id *order = malloc((size_t)(n_special ? n_special : 1) * sizeof *order);
    if (!v->specials || !order) { free(order); goto oom; }
    for (int32_t i = 0; i < n; i++) {
        int t = v->types[i];
        if ((t == VOCAB_TT_CONTROL || t == VOCAB_TT_USER_DEFINED || t == VOCAB_TT_UNKNOWN) && v->tok_len[i])
            order[v->n_specials++] = (struct len_id){v->tok_len[i], i};
    }
    qsort(order, (size_t)v->n_specials, sizeof *order, cmp_special);
    for (int32_t i = 0; i < v->n_specials; i++) v->specials[i] = order[i].id;
    free(order);

    for (int c = 0; c < 256; c++) {
        int32_t id = -1;
        if (spm) {
            char name[8];
            snprintf(name, sizeof name, "<0x%02X>", c);
            id = vocab_find(v, name, 6);
            if (id >= 0) v->spm_byte_tokens = 1;
            if (id < 0) { char ch = (char)c; id = vocab_find(v, &ch, 1); }
            if (id < 0) id = v->unk;
        } else {
            id = vocab_find(v, v->byte_enc[c], v->byte_enc_len[c]);
        }
        v->byte_tok[c] = id;
    }
    *out = v;
    return EDGELLM_OK;
oom:
    vocab_free(v);
    return fail(err, err_size, EDGELLM_ERR_NOMEM, "out of memory while reading the vocabulary");
}

void vocab_free(struct vocab *v) {
    if (!v) return;
    free(v->model_name); free(v->pre_name);
    free(v->blob); free(v->tok_off); free(v->tok_len);
    free(v->scores); free(v->types); free(v->attr); free(v->tok_hash.slot);
    free(v->merge_blob); free(v->merge_off); free(v->merge_len); free(v->merge_hash.slot);
    free(v->specials);
    free(v);
}

int32_t vocab_n_tokens(const struct vocab *v) { return v ? v->n_tokens : 0; }
int32_t vocab_bos(const struct vocab *v) { return v ? v->bos : -1; }
int32_t vocab_eos(const struct vocab *v) { return v ? v->eos : -1; }
int32_t vocab_eot(const struct vocab *v) { return v ? v->eot : -1; }
int32_t vocab_eom(const struct vocab *v) { return v ? v->eom : -1; }
int32_t vocab_pad(const struct vocab *v) { return v ? v->pad : -1; }
int32_t vocab_unk(const struct vocab *v) { return v ? v->unk : -1; }
int vocab_add_bos(const struct vocab *v) { return v ? v->add_bos : 0; }
int vocab_add_eos(const struct vocab *v) { return v ? v->add_eos : 0; }
const char *vocab_model_name(const struct vocab *v) { return v ? v->model_name : ""; }
const char *vocab_pre_name(const struct vocab *v) { return v ? v->pre_name : ""; }

const char *vocab_token_text(const struct vocab *v, int32_t tok) {
    return v && tok >= 0 && tok < v->n_tokens ? v->blob + v->tok_off[tok] : NULL;
}
int vocab_token_type(const struct vocab *v, int32_t tok) {
    return v && tok >= 0 && tok < v->n_tokens ? v->types[tok] : VOCAB_TT_UNDEFINED;
}
int vocab_is_eog(const struct vocab *v, int32_t tok) {
    return v && tok >= 0 && tok < v->n_tokens && (v->attr[tok] & ATTR_EOG);
}

/* ---- output and merge machinery ------------------------------------------------------------ */

struct ids { int32_t *v; size_t n, cap; int oom; };

static void ids_push(struct ids *o, int32_t id) {
    if (o->oom || id < 0) return;
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 64;
        int32_t *p = realloc(o->v, cap * sizeof *p);
        if (!p) { o->oom = 1; return; }
        o->v = p;
        o->cap = cap;
    }
    o->v[o->n++] = id;
}

/* Symbols of one merge session: byte ranges of a text, linked left to right. */
struct sym { uint32_t start, n; int32_t prev, next; };

/* A candidate pair; key orders the heap (lower first: -score for SPM, rank for BPE), then left. */
struct pair { double key; int32_t left, right; uint32_t size; };

struct heap { struct pair *v; size_t n, cap; };

static int pair_less(const struct pair *a, const struct pair *b) {
    return a->key < b->key || (a->key == b->key && a->left < b->left);
}

static int heap_push(struct heap *h, struct pair p) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        struct pair *q = realloc(h->v, cap * sizeof *q);
        if (!q) return -1;
        h->v = q;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0 && pair_less(&p, &h->v[(i - 1) / 2])) {
        h->v[i] = h->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->v[i] = p;
    return 0;
}

static struct pair heap_pop(struct heap *h) {
    struct pair top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && pair_less(&h->v[c + 1], &h->v[c])) c++;
        if (!pair_less(&h->v[c], &last)) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n) h->v[i] = last;
    return top;
}

struct session {
    const struct vocab *v;
    const char *text;          /* the text the symbols index (SPM: escaped; BPE: byte-mapped) */
    struct sym *sym;
    size_t n_sym, cap_sym;
    struct heap heap;
    char *key;                 /* scratch for "left right" merge lookups */
    size_t key_cap;
    int oom;
};

/* Queues the pair (l, r) if it can merge: SPM when the joined text is a token, BPE when
 * "left right" is a merge. */
static void try_pair(struct session *s, int32_t l, int32_t r) {
    if (l < 0 || r < 0 || s->oom) return;
    const struct vocab *v = s->v;
    const struct sym *a = &s->sym[l], *b = &s->sym[r];
    struct pair p = {0, l, r, a->n + b->n};
    if (v->kind == VK_SPM) {
        int32_t id = vocab_find(v, s->text + a->start, a->n + b->n);
        if (id < 0) return;
        p.key = -(double)v->scores[id];
    } else {
        size_t need = (size_t)a->n + b->n + 1;
        if (need > s->key_cap) {
            char *k = realloc(s->key, need * 2);
            if (!k) { s->oom = 1; return; }
            s->key = k;
            s->key_cap = need * 2;
        }
        memcpy(s->key, s->text + a->start, a->n);
        s->key[a->n] = ' ';
        memcpy(s->key + a->n + 1, s->text + b->start, b->n);
        int32_t rank = strhash_get(&v->merge_hash, v->merge_blob, v->merge_off, v->merge_len, s->key, need);
        if (rank < 0) return;
        p.key = rank;
    }
    if (heap_push(&s->heap, p)) s->oom = 1;
}

/* Splits text[0..len) into symbols of the given byte lengths (lens == NULL: UTF-8 lead lengths),
 * merges pairs until none is left, and emits the resulting tokens. */
static void merge_and_emit(struct session *s, const char *text, size_t len, struct ids *out) {
    const struct vocab *v = s->v;
    s->text = text;
    s->n_sym = 0;
    s->heap.n = 0;
    if (!len) return;
    if (len > s->cap_sym) {
        struct sym *p = realloc(s->sym, len * sizeof *p);
        if (!p) { s->oom = 1; return; }
        s->sym = p;
        s->cap_sym = len;
    }
    for (size_t o = 0; o < len;) {
        size_t n = unicode_utf8_lead_len((unsigned char)text[o]);
        if (n > len - o) n = len - o;
        struct sym *y = &s->sym[s->n_sym];
        y->start = (uint32_t)o;
        y->n = (uint32_t)n;
        y->prev = (int32_t)s->n_sym - 1;
        o += n;
        y->next = o == len ? -1 : (int32_t)s->n_sym + 1;
        s->n_sym++;
    }
    for (size_t i = 1; i < s->n_sym; i++) try_pair(s, (int32_t)i - 1, (int32_t)i);
    while (s->heap.n && !s->oom) {
        struct pair p = heap_pop(&s->heap);
        struct sym *a = &s->sym[p.left], *b = &s->sym[p.right];
        if (!a->n || !b->n || a->n + b->n != p.size || a->next != p.right) continue; /* stale */
        a->n += b->n;
        b->n = 0;
        a->next = b->next;
        if (b->next >= 0) s->sym[b->next].prev = p.left;
        try_pair(s, a->prev, p.left);
        try_pair(s, p.left, a->next);
    }
    int fused_unk = 0;
    for (int32_t i = 0; i >= 0 && (size_t)i < s->n_sym; i = s->sym[i].next) {
        const struct sym *y = &s->sym[i];
        int32_t id = vocab_find(v, text + y->start, y->n);
        int was_unk = fused_unk;
        fused_unk = 0;
        if (id >= 0) { ids_push(out, id); continue; }
        if (v->kind == VK_SPM && !v->spm_byte_tokens && v->unk >= 0) {
            /* no byte tokens to fall back to: one <unk> per unknown piece, consecutive ones fused
             * (Hugging Face BPE with fuse_unk, e.g. TinyStories) */
            if (!was_unk) ids_push(out, v->unk);
            fused_unk = 1;
        } else if (v->kind == VK_SPM) { /* byte fallback */
            for (uint32_t k = 0; k < y->n; k++) ids_push(out, v->byte_tok[(unsigned char)text[y->start + k]]);
        } else { /* each mapped byte character on its own */
            for (uint32_t k = 0; k < y->n;) {
                size_t cl = unicode_utf8_lead_len((unsigned char)text[y->start + k]);
                if (cl > y->n - k) cl = y->n - k;
                ids_push(out, vocab_find(v, text + y->start + k, cl));
                k += (uint32_t)cl;
            }
        }
    }
}

/* SentencePiece: optional leading space, spaces as U+2581, then score merges. */
static void spm_fragment(struct session *s, const char *text, size_t len, int prefix_space, struct ids *out) {
    size_t n_sp = (size_t)prefix_space;
    for (size_t i = 0; i < len; i++) n_sp += text[i] == ' ';
    char *esc = malloc(len + 2 * n_sp + 1);
    if (!esc) { s->oom = 1; return; }
    size_t o = 0;
    if (prefix_space) { memcpy(esc, "\xe2\x96\x81", 3); o = 3; }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') { memcpy(esc + o, "\xe2\x96\x81", 3); o += 3; }
        else esc[o++] = text[i];
    }
    merge_and_emit(s, esc, o, out);
    free(esc);
}

/* Byte-level BPE: pre-tokenize into words, map each word's bytes to printable characters,
 * then rank merges inside the word. */
static void bpe_fragment(struct session *s, const char *text, size_t len, struct ids *out) {
    const struct vocab *v = s->v;
    char *normalized = NULL;
    if (v->nfc) {
        if (!(normalized = unicode_nfc(text, len, &len))) { s->oom = 1; return; }
        text = normalized;
    }
    uint32_t *cp = malloc((len + 1) * sizeof *cp);
    uint16_t *fl = malloc((len + 1) * sizeof *fl);
    size_t *boff = malloc((len + 1) * sizeof *boff); /* byte offset of each code point */
    char *enc = malloc(2 * len + 1);
    size_t *bounds = NULL, n_words = 0, n = 0;
    if (!cp || !fl || !boff || !enc) goto oom;
    for (size_t o = 0; o < len; n++) {
        boff[n] = o;
        o += unicode_utf8_decode((const unsigned char *)text + o, len - o, &cp[n]);
        fl[n] = (uint16_t)unicode_flags(cp[n]);
    }
    boff[n] = len;
    if (pretok_split((enum pretok_kind)v->pre_kind, cp, fl, n, &bounds, &n_words)) goto oom;
    for (size_t w = 0; w < n_words && !s->oom; w++) {
        size_t a = boff[bounds[w]], b = boff[bounds[w + 1]], e = 0;
        for (size_t i = a; i < b; i++) {
            unsigned char c = (unsigned char)text[i];
            memcpy(enc + e, v->byte_enc[c], v->byte_enc_len[c]);
            e += v->byte_enc_len[c];
        }
        int32_t whole = v->ignore_merges ? vocab_find(v, enc, e) : -1;
        if (whole >= 0) ids_push(out, whole);
        else merge_and_emit(s, enc, e, out);
    }
    goto done;
oom:
    s->oom = 1;
done:
    free(cp); free(fl); free(boff); free(enc); free(bounds); free(normalized);
}

/* ---- special tokens and the tokenize entry point ------------------------------------------- */

/* A piece of the input: raw text [off, off + len) or a special token (tok >= 0). */
struct frag { size_t off, len; int32_t tok; };

/* Cuts every occurrence of each special token out of the raw fragments, longest token first. */
static struct frag *partition(const struct vocab *v, const char *text, size_t len, int parse_special, size_t *n_frag) {
    size_t n = 1, cap = 16;
    struct frag *fr = malloc(cap * sizeof *fr);
    if (!fr) return NULL;
    fr[0] = (struct frag){0, len, -1};
    for (int32_t k = 0; k < v->n_specials; k++) {
        int32_t id = v->specials[k];
        if (!parse_special && v->types[id] != VOCAB_TT_USER_DEFINED) continue;
        const char *st = v->blob + v->tok_off[id];
        size_t sl = v->tok_len[id];
        for (size_t i = 0; i < n; i++) {
            if (fr[i].tok >= 0 || fr[i].len < sl) continue;
            const char *base = text + fr[i].off;
            const char *hit = memmem(base, fr[i].len, st, sl);
            if (!hit) continue;
            if (n + 2 > cap) {
                struct frag *p = realloc(fr, 2 * cap * sizeof *p);
                if (!p) { free(fr); return NULL; }
                fr = p;
                cap *= 2;
            }
            size_t pre = (size_t)(hit - base);
            struct frag rest = {fr[i].off + pre + sl, fr[i].len - pre - sl, -1};
            if (v->attr[id] & ATTR_RSTRIP) /* ASCII spaces only, as the reference's isspace() */
                while (rest.len && (text[rest.off] == ' ' || (text[rest.off] >= '\t' && text[rest.off] <= '\r')))
                    rest.off++, rest.len--;
            size_t ins = pre ? 2 : 1; /* [prefix] token rest: rest is examined next round */
            memmove(&fr[i + 1 + ins], &fr[i + 1], (n - i - 1) * sizeof *fr);
            if (pre) { fr[i].len = pre; fr[i + 1] = (struct frag){0, 0, id}; }
            else fr[i] = (struct frag){0, 0, id};
            fr[i + ins] = rest;
            n += ins;
            i += ins - 1; /* continue with rest */
        }
    }
    *n_frag = n;
    return fr;
}

edgellm_status vocab_tokenize(const struct vocab *v, const char *text, size_t len, int add_bos, int parse_special,
                   int32_t **out, size_t *n_out, char *err, size_t err_size) {
    *out = NULL;
    *n_out = 0;
    if (!v || v->n_tokens == 0) return fail(err, err_size, EDGELLM_ERR_UNSUPPORTED, "the model has no vocabulary");
    if (v->kind != VK_SPM && v->kind != VK_BPE)
        return util_errf(err, err_size, EDGELLM_ERR_UNSUPPORTED,
                         "tokenizer model '%s' is not supported (only 'llama' and 'gpt2')", v->model_name);
    if (v->kind == VK_BPE && v->pre_kind < 0)
        return util_errf(err, err_size, EDGELLM_ERR_UNSUPPORTED, "pre-tokenizer '%s' (tokenizer.ggml.pre) is not supported",
                         v->pre_name);
    if (!text && len) return fail(err, err_size, EDGELLM_ERR_ARG, "text is NULL");
    int bos = add_bos < 0 ? v->add_bos : add_bos > 0;
    int eos = add_bos != 0 && v->add_eos;
    struct ids o = {0};
    struct session s = {.v = v};
    if (bos) ids_push(&o, v->bos);
    size_t n_frag = 0;
    struct frag *fr = len ? partition(v, text, len, parse_special, &n_frag) : NULL;
    if (len && !fr) s.oom = 1;
    int prev_special = 1; /* SentencePiece puts the space prefix after a special token too */
    for (size_t i = 0; i < n_frag && !s.oom; i++) {
        if (fr[i].tok >= 0) {
            ids_push(&o, fr[i].tok);
            prev_special = 1;
            continue;
        }
        if (!fr[i].len) continue;
        if (v->kind == VK_SPM) spm_fragment(&s, text + fr[i].off, fr[i].len, v->add_space_prefix && prev_special, &o);
        else bpe_fragment(&s, text + fr[i].off, fr[i].len, &o);
        prev_special = 0;
    }
    if (eos) ids_push(&o, v->eos);
    free(fr);
    free(s.sym);
    free(s.heap.v);
    free(s.key);
    if (s.oom || o.oom) {
        free(o.v);
        return fail(err, err_size, EDGELLM_ERR_NOMEM, "out of memory while tokenizing");
    }
    *out = o.v;
    *n_out = o.n;
    return EDGELLM_OK;
}

/* ---- pieces -------------------------------------------------------------------------------- */

static int put(char *buf, size_t size, size_t at, const char *s, size_t n) {
    if (at < size) {
        size_t room = size - 1 - at;
        memcpy(buf + at, s, n < room ? n : room);
    }
    return (int)n;
}

int vocab_token_to_piece(const struct vocab *v, int32_t tok, int render_special, char *buf, size_t size) {
    if (!v || tok < 0 || tok >= v->n_tokens) return -1;
    const char *t = v->blob + v->tok_off[tok];
    size_t tl = v->tok_len[tok], o = 0;
    int type = v->types[tok];
    if (type == VOCAB_TT_USER_DEFINED || ((type == VOCAB_TT_CONTROL || type == VOCAB_TT_UNKNOWN) && render_special)) {
        o = (size_t)put(buf, size, 0, t, tl);
    } else if (type == VOCAB_TT_NORMAL || type == VOCAB_TT_UNDEFINED) {
        for (size_t i = 0; i < tl;) {
            if (v->kind == VK_SPM) { /* U+2581 stands for a space */
                int sp = tl - i >= 3 && !memcmp(t + i, "\xe2\x96\x81", 3);
                o += (size_t)put(buf, size, o, sp ? " " : t + i, 1);
                i += sp ? 3 : 1;
                continue;
            }
            uint32_t c;
            size_t cl = unicode_utf8_decode((const unsigned char *)t + i, tl - i, &c);
            if (v->kind == VK_BPE && c < 324 && v->cp_is_byte[c]) {
                char byte = (char)v->cp_to_byte[c];
                o += (size_t)put(buf, size, o, &byte, 1);
            } else {
                o += (size_t)put(buf, size, o, t + i, cl);
            }
            i += cl;
        }
    } else if (type == VOCAB_TT_BYTE && v->kind == VK_SPM) {
        unsigned x = 0;
        if (tl == 6 && sscanf(t, "<0x%2X>", &x) == 1) { char byte = (char)x; o = (size_t)put(buf, size, 0, &byte, 1); }
    }
    if (size) buf[o < size ? o : size - 1] = 0;
    return (int)o;
}
