/* Tokenizer tests: the nine conformance suites of ../shared/vocab (Hugging Face's ids for each
 * string, no BOS, specials not parsed) plus decode(encode(x)) == x, the Unicode class lookups
 * against hand-checked code points, the pre-tokenizer on hand-split strings, and the streaming
 * detokenizer on split and invalid UTF-8. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "edgellm.h"
#include "gguf/gguf.h"
#include "text/pretok.h"
#include "testutil.h"
#include "text/unicode.h"
#include "text/vocab.h"

static const char *suites[] = {"llama-spm", "llama-bpe", "qwen2", "deepseek-llm", "deepseek-coder",
                               "gpt-2", "phi-3", "falcon", "starcoder"};

/* Concatenated pieces; for SentencePiece the space the tokenizer put in front is dropped. */
static char *decode(const struct vocab *v, const int32_t *ids, size_t n, size_t *len) {
    size_t cap = 64, o = 0;
    char *s = malloc(cap);
    for (size_t i = 0; i < n; i++) {
        int k = vocab_token_to_piece(v, ids[i], 0, NULL, 0);
        if (k < 0) k = 0;
        while (o + (size_t)k + 1 > cap) s = realloc(s, cap *= 2);
        vocab_token_to_piece(v, ids[i], 0, s + o, (size_t)k + 1);
        o += (size_t)k;
    }
    s[o] = 0;
    if (!strcmp(vocab_model_name(v), "llama") && o && s[0] == ' ') memmove(s, s + 1, o--);
    *len = o;
    return s;
}

static void run_suite(const char *shared, const char *name) {
    char path[1024], err[256];
    snprintf(path, sizeof path, "%s/vocab/ggml-vocab-%s.gguf", shared, name);
    struct gguf_file *f = NULL;
    struct vocab *v = NULL;
    clock_t t0 = clock();
    int st = gguf_open(path, 1, &f, err, sizeof err);
    CHECKF(st == 0, "%s: %s", path, err);
    if (st) return;
    st = vocab_load(f, &v, err, sizeof err);
    double load_s = (double)(clock() - t0) / CLOCKS_PER_SEC;
    CHECKF(st == 0, "%s: %s", name, err);
    CHECKF(load_s < 1.0, "%s: loading took %.2f s", name, load_s);
    if (st) { gguf_close(f); return; }
    size_t inp_len, out_len;
    snprintf(path, sizeof path, "%s/vocab/ggml-vocab-%s.gguf.inp", shared, name);
    char *inp = tu_read_file(path, &inp_len);
    snprintf(path, sizeof path, "%s/vocab/ggml-vocab-%s.gguf.out", shared, name);
    char *outs = tu_read_file(path, &out_len);
    CHECKF(inp && outs, "%s: cannot read the suite", name);
    const char *sep = "\n__ggml_vocab_test__\n";
    char *p = inp, *line = outs;
    int n_case = 0, n_ok = 0, n_rt = 0;
    while (p && line && *line) {
        char *end = strstr(p, sep);
        if (!end) break;
        char *eol = strchr(line, '\n');
        if (eol) *eol = 0;
        int32_t want[4096];
        size_t n_want = 0;
        for (char *q = line; *q;) {
            char *e2;
            long x = strtol(q, &e2, 10);
            if (e2 == q) break;
            if (n_want < 4096) want[n_want++] = (int32_t)x;
            q = e2;
        }
        int32_t *got = NULL;
        size_t n_got = 0;
        st = vocab_tokenize(v, p, (size_t)(end - p), 0, 0, &got, &n_got, err, sizeof err);
        int ok = st == 0 && n_got == n_want && (n_got == 0 || !memcmp(got, want, n_got * sizeof *got));
        CHECKF(ok, "%s case %d: '%.*s'", name, n_case, (int)(end - p), p);
        if (!ok) {
            fprintf(stderr, "  want:");
            for (size_t i = 0; i < n_want; i++) fprintf(stderr, " %d", want[i]);
            fprintf(stderr, "\n  got: ");
            for (size_t i = 0; i < n_got; i++) fprintf(stderr, " %d", got[i]);
            fprintf(stderr, "\n");
        }
        n_ok += ok;
        size_t dl;
        char *dec = decode(v, got, n_got, &dl);
        int rt = dl == (size_t)(end - p) && !memcmp(dec, p, dl);
        CHECKF(rt, "%s case %d: decode(encode(x)) = '%s'", name, n_case, dec);
        n_rt += rt;
        free(dec);
        free(got);
        n_case++;
        p = end + strlen(sep);
        line = eol ? eol + 1 : line + strlen(line);
    }
    CHECKF(n_case > 0, "%s: no cases", name);
    /* arbitrary bytes (invalid UTF-8 included) come back byte for byte, where the vocabulary
     * has a normal token for every byte (falcon and starcoder lack some control bytes; DeepSeek
     * has some, such as the byte-level "ý", only as user-defined tokens decoded as text) */
    char rnd[600];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof rnd; i++) {
        x = x * 1103515245u + 12345u;
        rnd[i] = (char)(x >> 16);
        if (rnd[i] == ' ' && i == 0) rnd[i] = 'x';
    }
    int32_t *ids = NULL;
    size_t n_ids = 0, dl = 0;
    st = vocab_tokenize(v, rnd, sizeof rnd, 0, 0, &ids, &n_ids, err, sizeof err);
    char *dec = decode(v, ids, n_ids, &dl);
    int all_bytes = strcmp(name, "falcon") && strcmp(name, "starcoder") && strncmp(name, "deepseek", 8);
    CHECKF(st == 0 && (!all_bytes || (dl == sizeof rnd && !memcmp(dec, rnd, dl))),
           "%s: random bytes do not round-trip", name);
    free(dec);
    free(ids);
    fprintf(stderr, "%-15s %d/%d cases, %d round trips, load %.3f s\n", name, n_ok, n_case, n_rt, load_s);
    free(inp);
    free(outs);
    vocab_free(v);
    gguf_close(f);
}

static void test_unicode(void) {
    CHECK(unicode_category('a') == UCAT_LETTER);
    CHECK(unicode_category('Z') == UCAT_LETTER);
    CHECK(unicode_category('7') == UCAT_NUMBER);
    CHECK(unicode_category('!') == UCAT_PUNCT);
    CHECK(unicode_category('$') == UCAT_SYMBOL);
    CHECK(unicode_category(' ') == UCAT_SEPARATOR);
    CHECK(unicode_category('\n') == UCAT_CONTROL);
    CHECK(unicode_category(0x00E9) == UCAT_LETTER);   /* é */
    CHECK(unicode_category(0x0301) == UCAT_MARK);     /* combining acute */
    CHECK(unicode_category(0x0663) == UCAT_NUMBER);   /* Arabic-Indic three */
    CHECK(unicode_category(0x00BD) == UCAT_NUMBER);   /* ½ (No) */
    CHECK(unicode_category(0x2167) == UCAT_NUMBER);   /* Roman numeral eight (Nl) */
    CHECK(unicode_category(0x4E2D) == UCAT_LETTER);   /* 中, inside a First/Last range */
    CHECK(unicode_category(0xAC00) == UCAT_LETTER);   /* 가 */
    CHECK(unicode_category(0x3002) == UCAT_PUNCT);    /* 。 */
    CHECK(unicode_category(0x1F600) == UCAT_SYMBOL);  /* 😀 */
    CHECK(unicode_category(0x0378) == UCAT_UNDEF);    /* unassigned */
    CHECK(unicode_category(0x10FFFF) == UCAT_UNDEF);
    CHECK(unicode_category(0x110000) == UCAT_UNDEF);
    CHECK(unicode_is_space(' ') && unicode_is_space('\t') && unicode_is_space(0x3000) && unicode_is_space(0x85));
    CHECK(!unicode_is_space('a') && !unicode_is_space(0x200B) && !unicode_is_space(0x1C));
    CHECK(unicode_flags(0x00A0) == (UFLAG_SEPARATOR | UFLAG_SPACE));
    uint32_t cp;
    CHECK(unicode_utf8_decode((const unsigned char *)"\xe2\x82\xac", 3, &cp) == 3 && cp == 0x20AC);
    CHECK(unicode_utf8_decode((const unsigned char *)"\xf0\x9f\x98\x80", 4, &cp) == 4 && cp == 0x1F600);
    CHECK(unicode_utf8_decode((const unsigned char *)"\xc0\xaf", 2, &cp) == 1 && cp == UNICODE_REPLACEMENT);
    CHECK(unicode_utf8_decode((const unsigned char *)"\xed\xa0\x80", 3, &cp) == 1 && cp == UNICODE_REPLACEMENT);
    CHECK(unicode_utf8_decode((const unsigned char *)"\xe2\x82", 2, &cp) == 1 && cp == UNICODE_REPLACEMENT);
}

/* Splits s with a pre-tokenizer and joins the words with '|'. */
static void split_str(enum pretok_kind k, const char *s, char *out) {
    uint32_t cp[256];
    uint16_t fl[256];
    size_t off[257], n = 0, len = strlen(s);
    for (size_t o = 0; o < len; n++) {
        off[n] = o;
        o += unicode_utf8_decode((const unsigned char *)s + o, len - o, &cp[n]);
        fl[n] = (uint16_t)unicode_flags(cp[n]);
    }
    off[n] = len;
    size_t *b, nw, o = 0;
    if (pretok_split(k, cp, fl, n, &b, &nw)) { strcpy(out, "OOM"); return; }
    for (size_t w = 0; w < nw; w++) {
        if (w) out[o++] = '|';
        memcpy(out + o, s + off[b[w]], off[b[w + 1]] - off[b[w]]);
        o += off[b[w + 1]] - off[b[w]];
    }
    out[o] = 0;
    free(b);
}

static void test_pretok(void) {
    char out[512];
    /* hand-applied regexes */
    split_str(PRETOK_GPT2, "Hello world's  12345 !!", out);
    CHECKF(!strcmp(out, "Hello| world|'s| | 12345| !!"), "%s", out);
    split_str(PRETOK_LLAMA3, "I'VE 12345 \n\n  x", out);
    CHECKF(!strcmp(out, "I|'VE| |123|45| \n\n| | x"), "%s", out);
    split_str(PRETOK_QWEN2, "a1234b", out);
    CHECKF(!strcmp(out, "a|1|2|3|4|b"), "%s", out);
    split_str(PRETOK_DEFAULT, "x=1234567;", out);
    CHECKF(!strcmp(out, "x|=|123|456|7|;"), "%s", out);
    split_str(PRETOK_DEEPSEEK_CODER, "ab\ncd 中文12", out);
    CHECKF(!strcmp(out, "ab|\n|cd| |中文|1|2"), "%s", out);
    CHECK(pretok_kind_from_name("deepseek-r1-qwen") == PRETOK_QWEN2);
    CHECK(pretok_kind_from_name("no-such-pre") == -1);
}

static void test_sanitize(void) {
    char out[64];
    size_t n = 0, used;
    /* "é" split across two calls: nothing is emitted until it completes */
    used = unicode_utf8_sanitize((const unsigned char *)"a\xc3", 2, 0, out, &n);
    CHECK(used == 1 && n == 1 && out[0] == 'a');
    n = 0;
    used = unicode_utf8_sanitize((const unsigned char *)"\xc3\xa9", 2, 0, out, &n);
    CHECK(used == 2 && n == 2 && !memcmp(out, "\xc3\xa9", 2));
    /* a lead byte followed by ASCII is proven invalid: U+FFFD, then the ASCII */
    n = 0;
    used = unicode_utf8_sanitize((const unsigned char *)"\xe2\x82x", 3, 0, out, &n);
    CHECK(used == 3 && n == 4 && !memcmp(out, "\xef\xbf\xbdx", 4));
    /* a stray continuation byte and 0xFF each give one U+FFFD */
    n = 0;
    used = unicode_utf8_sanitize((const unsigned char *)"\x80\xff", 2, 0, out, &n);
    CHECK(used == 2 && n == 6 && !memcmp(out, "\xef\xbf\xbd\xef\xbf\xbd", 6));
    /* an incomplete tail at the end of generation */
    n = 0;
    used = unicode_utf8_sanitize((const unsigned char *)"\xf0\x9f\x98", 3, 1, out, &n);
    CHECK(used == 3 && n == 3 && !memcmp(out, "\xef\xbf\xbd", 3));
}

/* The public streaming detokenizer on a real vocabulary: the bytes of "é" and of an emoji come
 * as separate byte tokens (<0xC3> <0xA9>); an orphan lead byte becomes U+FFFD at flush. */
static void test_detok(const char *shared) {
    char path[1024], err[256];
    snprintf(path, sizeof path, "%s/vocab/ggml-vocab-llama-spm.gguf", shared);
    struct edgellm_model_params mp = edgellm_model_default_params();
    mp.vocab_only = 1;
    struct edgellm_model *m = NULL;
    int st = edgellm_model_load(path, &mp, &m, err, sizeof err);
    CHECKF(st == 0, "%s", err);
    if (st) return;
    struct edgellm_detok *d = NULL;
    CHECK(edgellm_detok_new(m, 0, &d) == EDGELLM_OK && d);
    if (!d) return;
    char buf[300];
    int32_t c3 = 3 + 0xC3, a9 = 3 + 0xA9, f0 = 3 + 0xF0;
    CHECK(!strcmp(edgellm_token_text(m, c3), "<0xC3>"));
    CHECK(edgellm_detok_push(d, c3, buf, sizeof buf) == 0 && buf[0] == 0);
    CHECK(edgellm_detok_push(d, a9, buf, sizeof buf) == 2 && !strcmp(buf, "\xc3\xa9"));
    int32_t hello[8];
    int32_t n = 0;
    CHECK(edgellm_tokenize(m, "Hello", 5, 0, 0, hello, 8, &n, err, sizeof err) == EDGELLM_OK && n >= 1);
    CHECK(edgellm_detok_push(d, f0, buf, sizeof buf) == 0);
    /* the next token's 'H'... proves the F0 invalid */
    int k = edgellm_detok_push(d, hello[0], buf, sizeof buf);
    CHECKF(k >= 4 && !memcmp(buf, "\xef\xbf\xbd", 3), "got %d '%s'", k, buf);
    CHECK(edgellm_detok_push(d, f0, buf, sizeof buf) == 0);
    /* too small a buffer: the size needed, and nothing consumed — the retry gets the text */
    char tiny[2] = "x";
    CHECK(edgellm_detok_flush(d, tiny, sizeof tiny) == 3 && tiny[0] == 0);
    CHECK(edgellm_detok_flush(d, buf, sizeof buf) == 3 && !strcmp(buf, "\xef\xbf\xbd"));
    CHECK(edgellm_detok_flush(d, buf, sizeof buf) == 0);
    /* control tokens render only when asked */
    CHECK(edgellm_token_to_piece(m, 2, 0, buf, sizeof buf) == 0);
    CHECK(edgellm_token_to_piece(m, 2, 1, buf, sizeof buf) == 4 && !strcmp(buf, "</s>"));
    /* errors are negative statuses */
    CHECK(edgellm_token_to_piece(m, -1, 0, buf, sizeof buf) == -EDGELLM_ERR_ARG && buf[0] == 0);
    CHECK(edgellm_token_to_piece(m, edgellm_model_n_vocab(m), 0, buf, sizeof buf) == -EDGELLM_ERR_ARG);
    CHECK(edgellm_detok_push(NULL, 1, buf, sizeof buf) == -EDGELLM_ERR_ARG);
    CHECK(edgellm_token_is_eog(m, 2) && !edgellm_token_is_eog(m, 1) && edgellm_token_is_control(m, 1));
    /* snprintf rule: too small a buffer reports the needed size */
    int32_t one[1] = {-7};
    CHECK(edgellm_tokenize(m, "Hello world", 11, 1, 0, one, 1, &n, err, sizeof err) == EDGELLM_ERR_BUFFER_TOO_SMALL &&
          n == 3 && one[0] == -7);
    CHECK(edgellm_tokenize(m, "Hello world", 11, 1, 0, NULL, 0, &n, NULL, 0) == EDGELLM_ERR_BUFFER_TOO_SMALL && n == 3);
    CHECK(edgellm_tokenize(m, "Hello", 5, 1, 0, NULL, 0, NULL, err, sizeof err) == EDGELLM_ERR_ARG && err[0]);
    edgellm_detok_free(d);
    edgellm_model_free(m);
}

/* Special tokens on the Llama 3 vocabulary: control tokens only with parse_special; EOG set. */
static void test_specials(const char *shared) {
    char path[1024], err[256];
    snprintf(path, sizeof path, "%s/vocab/ggml-vocab-llama-bpe.gguf", shared);
    struct gguf_file *f = NULL;
    struct vocab *v = NULL;
    if (gguf_open(path, 1, &f, err, sizeof err) || vocab_load(f, &v, err, sizeof err)) {
        CHECKF(0, "%s", err);
        gguf_close(f);
        return;
    }
    const char *text = "<|begin_of_text|>Hello<|eot_id|>";
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK(vocab_tokenize(v, text, strlen(text), 0, 1, &ids, &n, err, sizeof err) == 0);
    CHECKF(n == 3 && ids[0] == 128000 && ids[1] == 9906 && ids[2] == 128009, "n=%zu", n);
    free(ids);
    CHECK(vocab_tokenize(v, text, strlen(text), 0, 0, &ids, &n, err, sizeof err) == 0);
    CHECKF(n > 3 && ids[0] != 128000, "control token matched without parse_special");
    free(ids);
    /* metadata BOS: absent add_bos_token, the llama-bpe pre-tokenizer asks for it */
    CHECK(vocab_add_bos(v) == 1 && vocab_bos(v) == 128000);
    CHECK(vocab_tokenize(v, "Hello", 5, -1, 0, &ids, &n, err, sizeof err) == 0);
    CHECK(n == 2 && ids[0] == 128000 && ids[1] == 9906);
    free(ids);
    CHECK(vocab_is_eog(v, 128001) && vocab_is_eog(v, 128009) && !vocab_is_eog(v, 128000) && !vocab_is_eog(v, 9906));
    CHECK(vocab_eos(v) == 128001 && vocab_unk(v) == -1);
    CHECK(vocab_find(v, "Hello", 5) == 9906);
    vocab_free(v);
    gguf_close(f);
}

/* Tokenizes with one vocabulary file and compares with hand-derived ids. */
static void expect_ids(const char *shared, const char *name, const char *text, int parse_special,
                       const int32_t *want, size_t n_want) {
    char path[1024], err[256];
    snprintf(path, sizeof path, "%s/vocab/ggml-vocab-%s.gguf", shared, name);
    struct gguf_file *f = NULL;
    struct vocab *v = NULL;
    if (gguf_open(path, 1, &f, err, sizeof err) || vocab_load(f, &v, err, sizeof err)) {
        CHECKF(0, "%s", err);
        gguf_close(f);
        return;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    int st = vocab_tokenize(v, text, strlen(text), 0, parse_special, &ids, &n, err, sizeof err);
    CHECKF(st == 0 && n == n_want && !memcmp(ids, want, n * sizeof *ids), "%s: '%s' (%zu ids)", name, text, n);
    free(ids);
    vocab_free(v);
    gguf_close(f);
}

/* A minimal GGUF v3 in memory: general.alignment-free header, string KVs and a token list. */
struct gbuf { unsigned char b[4096]; size_t n; };
static void g_put(struct gbuf *g, const void *p, size_t n) { memcpy(g->b + g->n, p, n); g->n += n; }
static void g_u32(struct gbuf *g, uint32_t x) { g_put(g, &x, 4); }
static void g_u64(struct gbuf *g, uint64_t x) { g_put(g, &x, 8); }
static void g_str(struct gbuf *g, const char *s) { g_u64(g, strlen(s)); g_put(g, s, strlen(s)); }

static void make_gguf(struct gbuf *g, const char *model, const char *pre) {
    g->n = 0;
    g_put(g, "GGUF", 4);
    g_u32(g, 3);
    g_u64(g, 0);
    g_u64(g, 3);
    g_str(g, "tokenizer.ggml.model"); g_u32(g, 8); g_str(g, model);
    g_str(g, "tokenizer.ggml.pre"); g_u32(g, 8); g_str(g, pre);
    g_str(g, "tokenizer.ggml.tokens"); g_u32(g, 9); g_u32(g, 8); g_u64(g, 2); g_str(g, "a"); g_str(g, "b");
}

/* Unsupported tokenizers load (for `info`) but refuse to tokenize, naming what is missing. */
static void test_unsupported(void) {
    struct gbuf g;
    const char *cases[][3] = {{"gpt2", "no-such-pre", "no-such-pre"}, {"bert", "default", "bert"}};
    for (int c = 0; c < 2; c++) {
        make_gguf(&g, cases[c][0], cases[c][1]);
        struct gguf_file *f = NULL;
        struct vocab *v = NULL;
        char err[256] = "";
        int st = gguf_open_mem(g.b, g.n, 1, &f, err, sizeof err);
        CHECKF(st == 0, "gguf_open_mem: %s", err);
        if (st) continue;
        st = vocab_load(f, &v, err, sizeof err);
        CHECKF(st == 0 && vocab_n_tokens(v) == 2 && !strcmp(vocab_model_name(v), cases[c][0]), "%s", err);
        int32_t *ids = NULL;
        size_t n = 0;
        err[0] = 0;
        st = vocab_tokenize(v, "ab", 2, 0, 0, &ids, &n, err, sizeof err);
        CHECKF(st == EDGELLM_ERR_UNSUPPORTED && strstr(err, cases[c][2]), "status %d: '%s'", st, err);
        CHECK(ids == NULL);
        vocab_free(v);
        gguf_close(f);
    }
}

int main(int argc, char **argv) {
    const char *shared = tu_shared(argc, argv);
    test_unicode();
    test_pretok();
    test_sanitize();
    test_unsupported();
    for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++) run_suite(shared, suites[i]);
    test_specials(shared);
    /* SentencePiece puts its space prefix after a special token too: <s> ▁Hello */
    expect_ids(shared, "llama-spm", "<s>Hello", 1, (const int32_t[]){1, 15043}, 2);
    /* Phi-3's </s> (user-defined in the file, made control as an end-of-generation token, as
     * the reference does; rstrip) swallows the spaces after it: ▁Hello </s> ▁world */
    expect_ids(shared, "phi-3", "Hello</s>  world", 1, (const int32_t[]){15043, 2, 3186}, 3);
    /* Qwen2 normalizes to NFC first: e + U+0301 tokenizes as é */
    int32_t *ids1 = NULL, *ids2 = NULL;
    size_t n1 = 0, n2 = 0;
    {
        char path[1024], err[256];
        snprintf(path, sizeof path, "%s/vocab/ggml-vocab-qwen2.gguf", shared);
        struct gguf_file *f = NULL;
        struct vocab *v = NULL;
        if (!gguf_open(path, 1, &f, err, sizeof err) && !vocab_load(f, &v, err, sizeof err)) {
            const char *a = "caf\xc3\xa9 \xea\xb0\x80", *b = "cafe\xcc\x81 \xe1\x84\x80\xe1\x85\xa1";
            CHECK(vocab_tokenize(v, a, strlen(a), 0, 0, &ids1, &n1, err, sizeof err) == 0);
            CHECK(vocab_tokenize(v, b, strlen(b), 0, 0, &ids2, &n2, err, sizeof err) == 0);
            CHECK(n1 == n2 && n1 > 0 && !memcmp(ids1, ids2, n1 * sizeof *ids1));
        }
        free(ids1);
        free(ids2);
        vocab_free(v);
        gguf_close(f);
        /* the normalizer on its own: Hangul and a reordered mark pair compose; bad bytes pass */
        size_t ol;
        char *o = unicode_nfc("\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8 a\xcc\xa3\xcc\x87\xff", 16, &ol);
        CHECKF(o && ol == 10 && !memcmp(o, "\xea\xb0\x81 \xe1\xba\xa1\xcc\x87\xff", 10), "nfc: %zu bytes", ol);
        free(o);
    }
    /* DeepSeek's user-defined "ö" is cut out whole before pre-tokenization */
    expect_ids(shared, "deepseek-llm", "\xc3\xb6", 0, (const int32_t[]){100003}, 1);
    test_detok(shared);
    return TEST_DONE();
}
