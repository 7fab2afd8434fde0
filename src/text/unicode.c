/* Unicode lookups, UTF-8 coding and NFC for the tokenizers. Every lookup is a binary search in a
 * generated table of unicode_tables.c (category runs, White_Space, combining classes,
 * decompositions, composites); ASCII goes through the same tables, one source of truth. */
#include <stdlib.h>
#include <string.h>

#include "text/unicode.h"

enum unicode_cat unicode_category(uint32_t cp) {
    if (cp > 0x10FFFF) return UCAT_UNDEF;
    uint32_t lo = 0, hi = unicode_n_cat_runs; /* find the last run whose start <= cp */
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (unicode_cat_start[mid] <= cp) lo = mid;
        else hi = mid;
    }
    return (enum unicode_cat)unicode_cat_value[lo];
}

int unicode_is_space(uint32_t cp) {
    uint32_t lo = 0, hi = unicode_n_white_space;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (unicode_white_space[mid] == cp) return 1;
        if (unicode_white_space[mid] < cp) lo = mid + 1;
        else hi = mid;
    }
    return 0;
}

unsigned unicode_flags(uint32_t cp) {
    unsigned f = 1u << unicode_category(cp);
    if (unicode_is_space(cp)) f |= UFLAG_SPACE;
    return f;
}

/* Lead byte -> sequence length and the allowed range of the second byte (the later bytes are
 * always 80..BF); len 0 marks a byte that can never start a sequence. */
static void lead_info(unsigned char b, size_t *n, unsigned char *lo, unsigned char *hi) {
    *lo = 0x80; *hi = 0xBF;
    if (b < 0x80) *n = 1;
    else if (b < 0xC2) *n = 0;
    else if (b < 0xE0) *n = 2;
    else if (b < 0xF0) {
        *n = 3;
        if (b == 0xE0) *lo = 0xA0;
        if (b == 0xED) *hi = 0x9F;
    } else if (b < 0xF5) {
        *n = 4;
        if (b == 0xF0) *lo = 0x90;
        if (b == 0xF4) *hi = 0x8F;
    } else *n = 0;
}

/* Bytes of s[0..len) that form the valid prefix of a sequence starting at s[0]: returns the
 * full length when complete, and sets *partial when the input ends inside a valid prefix. */
static size_t valid_prefix(const unsigned char *s, size_t len, size_t *need, int *partial) {
    unsigned char lo, hi;
    size_t n;
    lead_info(s[0], &n, &lo, &hi);
    *need = n;
    *partial = 0;
    if (n <= 1) return n;
    for (size_t k = 1; k < n; k++) {
        if (k >= len) { *partial = 1; return k; }
        unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
        if (s[k] < l || s[k] > h) return k; /* the sequence breaks before byte k */
    }
    return n;
}

size_t unicode_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp) {
    size_t need;
    int partial;
    size_t got = valid_prefix(s, len, &need, &partial);
    if (need == 1) { *cp = s[0]; return 1; }
    if (need == 0 || got != need) { *cp = UNICODE_REPLACEMENT; return 1; }
    uint32_t c = s[0] & (0x7F >> need);
    for (size_t k = 1; k < need; k++) c = (c << 6) | (s[k] & 0x3F);
    *cp = c;
    return need;
}

int unicode_utf8_encode(uint32_t cp, char *out) {
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6)); out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12)); out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18)); out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

size_t unicode_utf8_lead_len(unsigned char lead) {
    static const unsigned char len_by_high_nibble[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return len_by_high_nibble[lead >> 4];
}

size_t unicode_utf8_sanitize(const unsigned char *s, size_t len, int final, char *out, size_t *out_len) {
    size_t i = 0, o = *out_len;
    while (i < len) {
        size_t need;
        int partial;
        size_t got = valid_prefix(s + i, len - i, &need, &partial);
        if (need >= 1 && got == need) {
            for (size_t k = 0; k < need; k++) out[o++] = (char)s[i + k];
            i += need;
            continue;
        }
        if (partial && !final) break; /* may still complete with the next bytes */
        /* one U+FFFD per maximal subpart: the lead plus the continuation bytes that were valid */
        o += (size_t)unicode_utf8_encode(UNICODE_REPLACEMENT, out + o);
        i += got ? got : 1;
    }
    *out_len = o;
    return i;
}

/* ---- NFC: full canonical decomposition, canonical ordering, then canonical composition ---- */

/* Hangul syllables decompose and compose arithmetically (Unicode ch. 3.12). */
enum { S_BASE = 0xAC00, L_BASE = 0x1100, V_BASE = 0x1161, T_BASE = 0x11A7,
       L_COUNT = 19, V_COUNT = 21, T_COUNT = 28, N_COUNT = V_COUNT * T_COUNT, S_COUNT = L_COUNT * N_COUNT };

/* A decoded code point, or an undecodable byte marked by RAW_BYTE. */
#define RAW_BYTE 0x80000000u

static unsigned ccc_of(uint32_t cp) {
    if (cp < 0x300 || (cp & RAW_BYTE)) return 0;
    uint32_t lo = 0, hi = unicode_n_ccc;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (unicode_ccc[mid][0] == cp) return unicode_ccc[mid][1];
        if (unicode_ccc[mid][0] < cp) lo = mid + 1;
        else hi = mid;
    }
    return 0;
}

static const uint32_t *decomp_of(uint32_t cp) {
    uint32_t lo = 0, hi = unicode_n_decomp;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (unicode_decomp[mid][0] == cp) return unicode_decomp[mid];
        if (unicode_decomp[mid][0] < cp) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

/* Appends the full canonical decomposition of cp (at most 4 code points deep in Unicode 15). */
static size_t decompose(uint32_t cp, uint32_t *out) {
    if (cp >= S_BASE && cp < S_BASE + S_COUNT) {
        uint32_t s = cp - S_BASE, t = s % T_COUNT;
        out[0] = L_BASE + s / N_COUNT;
        out[1] = V_BASE + (s % N_COUNT) / T_COUNT;
        if (!t) return 2;
        out[2] = T_BASE + t;
        return 3;
    }
    const uint32_t *d = (cp & RAW_BYTE) || cp < 0xC0 ? NULL : decomp_of(cp);
    if (!d) { out[0] = cp; return 1; }
    size_t n = decompose(d[1], out);
    if (d[2]) n += decompose(d[2], out + n);
    return n;
}

static uint32_t compose_pair(uint32_t a, uint32_t b) {
    if (a >= L_BASE && a < L_BASE + L_COUNT && b >= V_BASE && b < V_BASE + V_COUNT)
        return S_BASE + ((a - L_BASE) * V_COUNT + (b - V_BASE)) * T_COUNT;
    if (a >= S_BASE && a < S_BASE + S_COUNT && (a - S_BASE) % T_COUNT == 0 && b > T_BASE && b < T_BASE + T_COUNT)
        return a + (b - T_BASE);
    uint32_t lo = 0, hi = unicode_n_comp;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const uint32_t *c = unicode_comp[mid];
        if (c[0] == a && c[1] == b) return c[2];
        if (c[0] < a || (c[0] == a && c[1] < b)) lo = mid + 1;
        else hi = mid;
    }
    return 0;
}

char *unicode_nfc(const char *s, size_t len, size_t *out_len) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len && u[i] < 0xCC) i++; /* below U+0300 every text is already NFC */
    char *out;
    if (i == len) {
        if (!(out = malloc(len + 1))) return NULL;
        memcpy(out, s, len);
        out[len] = 0;
        *out_len = len;
        return out;
    }
    /* a code point decomposes into at most 4 (Hangul: 3), each re-encoded in at most 4 bytes */
    uint32_t *cp = malloc((4 * len + 4) * sizeof *cp);
    out = malloc(4 * len * 4 + 1);
    if (!cp || !out) { free(cp); free(out); return NULL; }
    size_t n = 0;
    for (size_t o = 0; o < len;) {
        uint32_t c;
        size_t k = unicode_utf8_decode(u + o, len - o, &c);
        if (k == 1 && u[o] >= 0x80) c = RAW_BYTE | u[o];
        n += decompose(c, cp + n);
        o += k;
    }
    /* canonical ordering: stable sort of each run of non-starters by combining class */
    for (size_t a = 1; a < n; a++) {
        uint32_t x = cp[a];
        unsigned cx = ccc_of(x);
        if (!cx) continue;
        size_t b = a;
        for (; b > 0 && ccc_of(cp[b - 1]) > cx; b--) cp[b] = cp[b - 1];
        cp[b] = x;
    }
    size_t m = 0;
    long starter = -1;
    unsigned last_ccc = 0;
    for (size_t a = 0; a < n; a++) {
        uint32_t c = cp[a];
        unsigned cc = ccc_of(c);
        if (starter >= 0 && !(c & RAW_BYTE)) {
            int adjacent = (size_t)starter == m - 1;
            if (adjacent || (last_ccc != 0 && last_ccc < cc)) {
                uint32_t x = compose_pair(cp[starter], c);
                if (x) { cp[starter] = x; continue; }
            }
        }
        if (c & RAW_BYTE) starter = -1;
        else if (!cc) starter = (long)m;
        last_ccc = cc;
        cp[m++] = c;
    }
    size_t o = 0;
    for (size_t a = 0; a < m; a++) {
        if (cp[a] & RAW_BYTE) out[o++] = (char)(cp[a] & 0xFF);
        else o += (size_t)unicode_utf8_encode(cp[a], out + o);
    }
    out[o] = 0;
    free(cp);
    *out_len = o;
    return out;
}
