/* Pre-tokenizers as hand-written matchers. Each regex of a family becomes a function that,
 * given a start position inside a piece [p, e), returns the length of the match the regex would
 * make there (ECMAScript leftmost-first alternation, as llama.cpp's std::regex and Hugging
 * Face's Oniguruma agree on for these patterns), or 0. Pieces are kept as a flat array of
 * [start, end) code-point pairs; each stage rewrites that array. */
#include <stdlib.h>

#include "text/pretok.h"
#include "text/unicode.h"

struct pt {
    const uint32_t *cp;
    const uint16_t *fl;
};

#define END_CP 0xFFFFFFFFu

static inline unsigned F(const struct pt *t, size_t i, size_t e) { return i < e ? t->fl[i] : 0; }
static inline uint32_t C(const struct pt *t, size_t i, size_t e) { return i < e ? t->cp[i] : END_CP; }

/* [^\s\p{L}\p{N}]: any real code point that is not space, letter or number. */
static inline int is_other(unsigned f) { return f && !(f & (UFLAG_SPACE | UFLAG_LETTER | UFLAG_NUMBER)); }

static int ascii_lower(uint32_t c) { return c >= 'A' && c <= 'Z' ? (int)(c + 32) : (int)c; }

/* 's|'t|'re|'ve|'m|'ll|'d, case-insensitive when ci. Returns the length or 0. */
static size_t contraction(const struct pt *t, size_t p, size_t e, int ci) {
    if (C(t, p, e) != '\'' || p + 1 >= e) return 0;
    int a = ci ? ascii_lower(C(t, p + 1, e)) : (int)C(t, p + 1, e);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (p + 2 >= e) return 0;
    int b = ci ? ascii_lower(C(t, p + 2, e)) : (int)C(t, p + 2, e);
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

static size_t run_of(const struct pt *t, size_t q, size_t e, unsigned mask) {
    while (q < e && (t->fl[q] & mask)) q++;
    return q;
}

/* \s+(?!\S)|\s+ at p: a run of spaces gives back its last one when a non-space follows. */
static size_t spaces(const struct pt *t, size_t p, size_t e) {
    size_t q = run_of(t, p, e, UFLAG_SPACE);
    size_t n = q - p;
    if (n > 1 && q < e) return n - 1;
    return n;
}

/* GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static size_t m_gpt2(const struct pt *t, size_t p, size_t e) {
    size_t n = contraction(t, p, e, 0);
    if (n) return n;
    int sp = C(t, p, e) == ' ';
    unsigned f2 = sp ? F(t, p + 1, e) : F(t, p, e);
    size_t q = p + (size_t)sp;
    if (f2 & UFLAG_LETTER) return run_of(t, q, e, UFLAG_LETTER) - p;
    if (f2 & UFLAG_NUMBER) return run_of(t, q, e, UFLAG_NUMBER) - p;
    if (is_other(f2)) {
        while (q < e && is_other(t->fl[q])) q++;
        return q - p;
    }
    return spaces(t, p, e);
}

/* Llama 3 (max_digits 3) and Qwen2 (max_digits 1):
 * (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max_digits}
 * | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
static size_t m_llama3_like(const struct pt *t, size_t p, size_t e, size_t max_digits) {
    size_t n = contraction(t, p, e, 1);
    if (n) return n;
    uint32_t c = C(t, p, e);
    unsigned f = F(t, p, e);
    if (!(c == '\r' || c == '\n' || (f & UFLAG_NUMBER))) {
        if ((f & UFLAG_LETTER) || (F(t, p + 1, e) & UFLAG_LETTER))
            return run_of(t, p + 1, e, UFLAG_LETTER) - p;
    }
    if (f & UFLAG_NUMBER) {
        size_t q = p;
        while (q < e && q - p < max_digits && (t->fl[q] & UFLAG_NUMBER)) q++;
        return q - p;
    }
    int sp = c == ' ';
    unsigned f2 = sp ? F(t, p + 1, e) : f;
    if (is_other(f2)) {
        size_t q = p + (size_t)sp;
        while (q < e && is_other(t->fl[q])) q++;
        while (q < e && (t->cp[q] == '\r' || t->cp[q] == '\n')) q++;
        return q - p;
    }
    /* \s*[\r\n]+ reaches the last CR/LF of the space run */
    size_t q = p, last_nl = 0;
    while (q < e && (t->fl[q] & UFLAG_SPACE)) {
        if (t->cp[q] == '\r' || t->cp[q] == '\n') last_nl = q + 1;
        q++;
    }
    if (last_nl) return last_nl - p;
    return spaces(t, p, e);
}

static size_t m_llama3(const struct pt *t, size_t p, size_t e) { return m_llama3_like(t, p, e, 3); }

/* GPT-4o's letter classes as the reference engine runs them (its regex rewrites \p{Lu}... as
 * "a letter that is not a-z" and \p{Ll}... as "a letter that is not A-Z"; letters outside ASCII
 * are in both). */
static int o200k_upper(const struct pt *t, size_t i, size_t e) {
    return (F(t, i, e) & UFLAG_LETTER) && !(t->cp[i] >= 'a' && t->cp[i] <= 'z');
}
static int o200k_lower(const struct pt *t, size_t i, size_t e) {
    return (F(t, i, e) & UFLAG_LETTER) && !(t->cp[i] >= 'A' && t->cp[i] <= 'Z');
}

/* From q (a letter): UPPER*LOWER+ (with the backtracking of the greedy UPPER*), else UPPER+LOWER*,
 * then an optional case-insensitive contraction. Returns the end, or 0. */
static size_t o200k_word(const struct pt *t, size_t q, size_t e) {
    size_t a = q, end = 0, start = q, found = 1;
    while (a < e && o200k_upper(t, a, e)) a++;
    start = a;
    if (!o200k_lower(t, a, e)) { /* give UPPER characters back until one can start LOWER+ */
        found = 0;
        for (size_t j = a; j > q && !found; j--)
            if (o200k_lower(t, j - 1, e)) start = j - 1, found = 1;
    }
    if (found) {
        end = start;
        while (end < e && o200k_lower(t, end, e)) end++;
    } else if (a > q) {
        end = a; /* UPPER+ and an empty LOWER* (the character at a is not a lower one) */
    }
    return end ? end + contraction(t, end, e, 1) : 0;
}

/* GPT-4o (Phi-4-mini's "gpt-4o"):
 * [^\r\n\p{L}\p{N}]?UPPER*LOWER+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?UPPER+LOWER*(?i:...)?
 * |\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
static size_t m_gpt4o(const struct pt *t, size_t p, size_t e) {
    uint32_t c = C(t, p, e);
    unsigned f = F(t, p, e);
    if (f & UFLAG_LETTER) return o200k_word(t, p, e) - p;
    if (c != '\r' && c != '\n' && !(f & UFLAG_NUMBER) && (F(t, p + 1, e) & UFLAG_LETTER)) {
        size_t end = o200k_word(t, p + 1, e);
        if (end) return end - p;
    }
    if (f & UFLAG_NUMBER) {
        size_t q = p;
        while (q < e && q - p < 3 && (t->fl[q] & UFLAG_NUMBER)) q++;
        return q - p;
    }
    int sp = c == ' ';
    unsigned f2 = sp ? F(t, p + 1, e) : f;
    if (is_other(f2)) {
        size_t q = p + (size_t)sp;
        while (q < e && is_other(t->fl[q])) q++;
        while (q < e && (t->cp[q] == '\r' || t->cp[q] == '\n' || t->cp[q] == '/')) q++;
        return q - p;
    }
    size_t q = p, last_nl = 0;
    while (q < e && (t->fl[q] & UFLAG_SPACE)) {
        if (t->cp[q] == '\r' || t->cp[q] == '\n') last_nl = q + 1;
        q++;
    }
    if (last_nl) return last_nl - p;
    return spaces(t, p, e);
}
static size_t m_qwen2(const struct pt *t, size_t p, size_t e) { return m_llama3_like(t, p, e, 1); }

struct cp_range { uint32_t lo, hi; };

static int in_ranges(uint32_t c, const struct cp_range *r, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (c >= r[i].lo && c <= r[i].hi) return 1;
    return 0;
}

/* DeepSeek LLM's explicit letter class (the cased letters of its tokenizer.json regex). */
static const struct cp_range ds_letters[] = {
    {0x41, 0x5A}, {0x61, 0x7A}, {0xB5, 0xB5}, {0xC0, 0xD6}, {0xD8, 0xF6}, {0xF8, 0x1BA}, {0x1BC, 0x1BF},
    {0x1C4, 0x293}, {0x295, 0x2AF}, {0x370, 0x373}, {0x376, 0x377}, {0x37B, 0x37D}, {0x37F, 0x37F},
    {0x386, 0x386}, {0x388, 0x38A}, {0x38C, 0x38C}, {0x38E, 0x3A1}, {0x3A3, 0x3F5}, {0x3F7, 0x481},
    {0x48A, 0x52F}, {0x531, 0x556}, {0x10A0, 0x10C5}, {0x13A0, 0x13F5}, {0x13F8, 0x13FD},
    {0x1C90, 0x1CBA}, {0x1CBD, 0x1CBF}, {0x1D00, 0x1D2B}, {0x1D6B, 0x1D77}, {0x1D79, 0x1D9A},
    {0x1E00, 0x1F15}, {0x1F18, 0x1F1D}, {0x1F20, 0x1F45}, {0x1F48, 0x1F4D}, {0x1F50, 0x1F57},
    {0x1F59, 0x1F59}, {0x1F5B, 0x1F5B}, {0x1F5D, 0x1F5D}, {0x1F5F, 0x1F7D}, {0x1F80, 0x1FB4},
    {0x1FB6, 0x1FBC}, {0x1FBE, 0x1FBE}, {0x1FC2, 0x1FC4}, {0x1FC6, 0x1FCC}, {0x1FD0, 0x1FD3},
    {0x1FD6, 0x1FDB}, {0x1FE0, 0x1FEC}, {0x1FF2, 0x1FF4}, {0x1FF6, 0x1FFC}, {0x2102, 0x2102},
    {0x2107, 0x2107}, {0x210A, 0x2113}, {0x2115, 0x2115}, {0x2119, 0x211D}, {0x2124, 0x2124},
    {0x2126, 0x2126}, {0x2128, 0x2128}, {0x212A, 0x212D}, {0x212F, 0x2134}, {0x2139, 0x2139},
    {0x213C, 0x213F}, {0x2145, 0x2149}, {0x214E, 0x214E}, {0x2183, 0x2184}, {0x2C00, 0x2C7B},
    {0x2C7E, 0x2CE4}, {0x2CEB, 0x2CEE}, {0x2CF2, 0x2CF3}, {0xA640, 0xA66D}, {0xA680, 0xA69B},
    {0xA722, 0xA76F}, {0xA771, 0xA787}, {0xA78B, 0xA78E}, {0xAB70, 0xABBF}, {0xFB00, 0xFB06},
    {0xFB13, 0xFB17}, {0xFF21, 0xFF3A}, {0xFF41, 0xFF5A}, {0x10400, 0x1044F}, {0x104B0, 0x104D3},
    {0x104D8, 0x104FB}, {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
};
/* [!-/:-~！-／：-～‘-‟　-。] */
static const struct cp_range ds_punct[] = {
    {0x21, 0x2F}, {0x3A, 0x7E}, {0xFF01, 0xFF0F}, {0xFF1A, 0xFF5E}, {0x2018, 0x201F}, {0x3000, 0x3002},
};
/* [一-龥ࠀ-一가-퟿]: CJK ideographs, everything from U+0800 up to them, and Hangul. */
static const struct cp_range cjk[] = { {0x4E00, 0x9FA5}, {0x0800, 0x4E00}, {0xAC00, 0xD7FF} };

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static int is_ds_letter(uint32_t c) { return in_ranges(c, ds_letters, N_OF(ds_letters)); }
static int is_ds_punct(uint32_t c) { return in_ranges(c, ds_punct, N_OF(ds_punct)); }

/* \s?X+ for a class X given by a predicate on code points. */
static size_t opt_space_class(const struct pt *t, size_t p, size_t e, int (*in)(uint32_t)) {
    size_t q = p;
    if ((t->fl[p] & UFLAG_SPACE) && p + 1 < e && in(t->cp[p + 1])) q = p + 1;
    else if (!in(t->cp[p])) return 0;
    while (q < e && in(t->cp[q])) q++;
    return q - p;
}

/* \s?X+ for a class X given by flags. */
static size_t opt_space_flags(const struct pt *t, size_t p, size_t e, unsigned mask) {
    size_t q = p;
    if ((t->fl[p] & UFLAG_SPACE) && (F(t, p + 1, e) & mask)) q = p + 1;
    else if (!(t->fl[p] & mask)) return 0;
    return run_of(t, q, e, mask) - p;
}

static size_t m_crlf(const struct pt *t, size_t p, size_t e) { return t->cp[p] == '\r' || t->cp[p] == '\n'; }
static size_t m_ds_letters(const struct pt *t, size_t p, size_t e) { return opt_space_class(t, p, e, is_ds_letter); }
static size_t m_ds_punct(const struct pt *t, size_t p, size_t e) { return opt_space_class(t, p, e, is_ds_punct); }
static size_t m_cjk(const struct pt *t, size_t p, size_t e) {
    size_t q = p;
    while (q < e && in_ranges(t->cp[q], cjk, N_OF(cjk))) q++;
    return q - p;
}
static size_t m_numbers(const struct pt *t, size_t p, size_t e) { return run_of(t, p, e, UFLAG_NUMBER) - p; }
static size_t m_number(const struct pt *t, size_t p, size_t e) { return (t->fl[p] & UFLAG_NUMBER) ? 1 : 0; }
static size_t m_space_letters(const struct pt *t, size_t p, size_t e) { return opt_space_flags(t, p, e, UFLAG_LETTER); }
static size_t m_space_punct(const struct pt *t, size_t p, size_t e) { return opt_space_flags(t, p, e, UFLAG_PUNCT); }

/* [\p{P}\$\+<=>\^~\|]+ (default) and the same with ` (falcon). */
static int is_sym_default(const struct pt *t, size_t i) {
    uint32_t c = t->cp[i];
    return (t->fl[i] & UFLAG_PUNCT) || c == '$' || c == '+' || c == '<' || c == '=' || c == '>' ||
           c == '^' || c == '~' || c == '|';
}
static size_t m_punct_default(const struct pt *t, size_t p, size_t e) {
    size_t q = p;
    while (q < e && is_sym_default(t, q)) q++;
    return q - p;
}
static size_t m_punct_falcon(const struct pt *t, size_t p, size_t e) {
    size_t q = p;
    while (q < e && (is_sym_default(t, q) || t->cp[q] == '`')) q++;
    return q - p;
}
/* [0-9][0-9][0-9] */
static size_t m_digits3(const struct pt *t, size_t p, size_t e) {
    if (p + 3 > e) return 0;
    for (size_t k = 0; k < 3; k++)
        if (t->cp[p + k] < '0' || t->cp[p + k] > '9') return 0;
    return 3;
}

typedef size_t (*pt_match_fn)(const struct pt *t, size_t p, size_t e);

/* Marks \s+$ (spaces ending the piece), which is a property of the piece, not of a position. */
static size_t m_trailing_space(const struct pt *t, size_t p, size_t e) { return 0; }

struct pt_family { int n; pt_match_fn stage[6]; };

static const struct pt_family families[] = {
    [PRETOK_DEFAULT] = {4, {m_punct_default, m_gpt2, m_numbers, m_digits3}},
    [PRETOK_GPT2] = {1, {m_gpt2}},
    [PRETOK_LLAMA3] = {1, {m_llama3}},
    [PRETOK_SMAUG] = {1, {m_llama3}},
    [PRETOK_GPT4O] = {1, {m_gpt4o}},
    [PRETOK_QWEN2] = {1, {m_qwen2}},
    [PRETOK_DEEPSEEK_LLM] = {6, {m_crlf, m_ds_letters, m_ds_punct, m_trailing_space, m_cjk, m_numbers}},
    [PRETOK_DEEPSEEK_CODER] = {5, {m_crlf, m_space_letters, m_space_punct, m_cjk, m_number}},
    [PRETOK_FALCON] = {3, {m_punct_falcon, m_gpt2, m_digits3}},
    [PRETOK_STARCODER] = {2, {m_number, m_gpt2}},
};

static const struct { const char *name; enum pretok_kind kind; } pretok_names[] = {
    {"default", PRETOK_DEFAULT},
    {"llama3", PRETOK_LLAMA3}, {"llama-v3", PRETOK_LLAMA3}, {"llama-bpe", PRETOK_LLAMA3},
    {"smaug-bpe", PRETOK_SMAUG}, {"gpt-4o", PRETOK_GPT4O}, {"llama4", PRETOK_GPT4O},
    {"qwen2", PRETOK_QWEN2}, {"deepseek-r1-qwen", PRETOK_QWEN2},
    {"deepseek-llm", PRETOK_DEEPSEEK_LLM}, {"deepseek-coder", PRETOK_DEEPSEEK_CODER},
    {"gpt-2", PRETOK_GPT2}, {"phi-2", PRETOK_GPT2}, {"mpt", PRETOK_GPT2}, {"olmo", PRETOK_GPT2},
    {"falcon", PRETOK_FALCON},
    {"starcoder", PRETOK_STARCODER}, {"refact", PRETOK_STARCODER}, {"smollm", PRETOK_STARCODER},
};

int pretok_kind_from_name(const char *name) {
    for (size_t i = 0; i < N_OF(pretok_names); i++) {
        const char *a = pretok_names[i].name, *b = name;
        while (*a && *a == *b) a++, b++;
        if (!*a && !*b) return (int)pretok_names[i].kind;
    }
    return -1;
}

struct pieces { size_t *v; size_t n, cap; }; /* v holds start/end pairs */

static int push_piece(struct pieces *ps, size_t a, size_t b) {
    if (a >= b) return 0;
    if (ps->n + 2 > ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 64;
        size_t *v = realloc(ps->v, cap * sizeof *v);
        if (!v) return -1;
        ps->v = v;
        ps->cap = cap;
    }
    ps->v[ps->n++] = a;
    ps->v[ps->n++] = b;
    return 0;
}

/* Splits [a, e) into the matches of one stage and the unmatched runs between them. */
static int split_piece(const struct pt *t, pt_match_fn m, size_t a, size_t e, struct pieces *out) {
    if (m == m_trailing_space) {
        size_t s = e;
        while (s > a && (t->fl[s - 1] & UFLAG_SPACE)) s--;
        return push_piece(out, a, s) || push_piece(out, s, e) ? -1 : 0;
    }
    size_t gap = a, p = a;
    while (p < e) {
        size_t n = m(t, p, e);
        if (!n) { p++; continue; }
        if (push_piece(out, gap, p) || push_piece(out, p, p + n)) return -1;
        p += n;
        gap = p;
    }
    return push_piece(out, gap, e);
}

int pretok_split(enum pretok_kind kind, const uint32_t *cp, const uint16_t *flags, size_t n,
                 size_t **bounds, size_t *n_words) {
    const struct pt t = {cp, flags};
    const struct pt_family *fam = &families[kind];
    struct pieces cur = {0}, next = {0};
    *bounds = NULL;
    *n_words = 0;
    if (push_piece(&cur, 0, n)) return -1;
    for (int s = 0; s < fam->n; s++) {
        next.n = 0;
        for (size_t i = 0; i < cur.n; i += 2)
            if (split_piece(&t, fam->stage[s], cur.v[i], cur.v[i + 1], &next)) goto oom;
        struct pieces tmp = cur;
        cur = next;
        next = tmp;
    }
    size_t nw = cur.n / 2;
    size_t *b = malloc((nw + 1) * sizeof *b);
    if (!b) goto oom;
    for (size_t i = 0; i < nw; i++) b[i] = cur.v[2 * i];
    b[nw] = nw ? cur.v[cur.n - 1] : 0;
    free(cur.v);
    free(next.v);
    *bounds = b;
    *n_words = nw;
    return 0;
oom:
    free(cur.v);
    free(next.v);
    return -1;
}
