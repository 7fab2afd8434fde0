/* Text side of the model families: the GPT-4o pre-tokenizer (Phi-4-mini's "gpt-4o"; no offline
 * conformance suite exists, so these cases are worked out by hand from its regex as the
 * reference engine runs it), and for each zoo vocabulary the end-of-generation tokens, BOS
 * default, USER_DEFINED tokens in plain text and the tokenization of the shared prompt. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgellm.h"
#include "testutil.h"
#include "text/pretok.h"
#include "text/unicode.h"

/* Splits utf-8 text with kind and joins the words with '|'. */
/* Token count of text (or -1 on an error), the tokens in out[0..n_max). */
static int32_t tok_n(const struct edgellm_model *m, const char *text, size_t len, int add_bos, int parse_special,
                     edgellm_token *out, int32_t n_max) {
    int32_t n = 0;
    return edgellm_tokenize(m, text, len, add_bos, parse_special, out, n_max, &n, NULL, 0) == EDGELLM_OK ? n : -1;
}

static void split(enum pretok_kind kind, const char *text, char *out, size_t size) {
    uint32_t cp[256];
    uint16_t fl[256];
    size_t off[257], n = 0, len = strlen(text), i = 0;
    while (i < len && n < 256) {
        off[n] = i;
        i += unicode_utf8_decode((const unsigned char *)text + i, len - i, &cp[n]);
        fl[n] = (uint16_t)unicode_flags(cp[n]);
        n++;
    }
    off[n] = len;
    size_t *b = NULL, nw = 0, o = 0;
    out[0] = 0;
    if (pretok_split(kind, cp, fl, n, &b, &nw)) return;
    for (size_t w = 0; w < nw && o + 2 < size; w++) {
        size_t a = off[b[w]], e = off[b[w + 1]];
        if (w) out[o++] = '|';
        for (size_t k = a; k < e && o + 1 < size; k++) out[o++] = text[k];
        out[o] = 0;
    }
    free(b);
}

static void gpt4o_cases(void) {
    static const char *const cases[][2] = {
        {"Hello world", "Hello| world"},
        {"helloWorld", "hello|World"},             /* a lower run ends at an upper letter */
        {"HELLOworld", "HELLOworld"},              /* UPPER*LOWER+ */
        {"HELLO WORLD", "HELLO| WORLD"},           /* UPPER+ with an empty LOWER* */
        {"don't DON'T", "don't| DON'T"},           /* contractions stay on the word, any case */
        {"it'S", "it'S"},
        {"12345", "123|45"},                       /* \p{N}{1,3} */
        {"a/b", "a|/b"},                           /* a symbol prefixes the next word */
        {"x = 1;\n\ny", "x| =| |1|;\n\n|y"},        /* ?[^\s\p{L}\p{N}]+[\r\n/]* */
        {"path//to", "path|//|to"},                /* '/' ends a symbol run; "/to" needs one symbol */
        {"a.\n/b", "a|.\n/|b"},
        {"one  two", "one| | two"},                /* \s+(?!\S) leaves the last space to the word */
        {"end  \n\nnext", "end|  \n\n|next"},      /* \s*[\r\n]+ */
        {"tail   ", "tail|   "},
        {"\xc3\xa9t\xc3\xa9 \xc3\x89" "COLE", "\xc3\xa9t\xc3\xa9| \xc3\x89" "|COLE"}, /* non-ASCII letters are upper and lower */
        {"ABC\xc3\xa9", "ABC\xc3\xa9"},            /* ... so one can close an UPPER* run */
        {"\xc3\xa9" "ABC", "\xc3\xa9" "|ABC"},    /* ... and the greedy UPPER* gives it back */
        {"\r\nHi", "\r\n|Hi"},                     /* CR/LF never prefix a word */
        {"$5", "$|5"},
    };
    char got[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        split(PRETOK_GPT4O, cases[i][0], got, sizeof got);
        CHECKF(!strcmp(got, cases[i][1]), "gpt-4o split of \"%s\": got \"%s\", expected \"%s\"", cases[i][0], got, cases[i][1]);
    }
    CHECK(pretok_kind_from_name("gpt-4o") == PRETOK_GPT4O);
    CHECK(pretok_kind_from_name("smaug-bpe") == PRETOK_SMAUG);
    /* smaug-bpe splits as Llama 3 does */
    char a[512], b[512];
    split(PRETOK_SMAUG, "Hello  world's 12345!!\n\n x", a, sizeof a);
    split(PRETOK_LLAMA3, "Hello  world's 12345!!\n\n x", b, sizeof b);
    CHECK(!strcmp(a, b));
}

struct fam {
    const char *file;
    int add_bos;
    edgellm_token eog[4];
};

static void zoo_vocab(const char *shared) {
    static const struct fam fams[] = {
        {"qwen3-mini-q8_0", 0, {700, 702, -1}},
        {"gemma3-mini-q8_0", 1, {2, 701, -1}},
        {"phi3-mini-q8_0", 1, {2, 700, 707, -1}},
        {"smollm3-mini-q8_0", 0, {701, 705, -1}},
    };
    for (size_t f = 0; f < sizeof fams / sizeof fams[0]; f++) {
        char path[2048], err[512];
        snprintf(path, sizeof path, "%s/zoo/%s.gguf", shared, fams[f].file);
        struct edgellm_model *m = NULL;
        struct edgellm_model_params mp = edgellm_model_default_params();
        mp.vocab_only = 1;
        if (edgellm_model_load(path, &mp, &m, err, sizeof err)) { CHECKF(0, "load %s: %s", path, err); continue; }
        int n_eog = 0, ok = 1;
        for (edgellm_token t = 0; t < edgellm_model_n_vocab(m); t++)
            if (edgellm_token_is_eog(m, t)) {
                int listed = 0;
                for (int k = 0; k < 4 && fams[f].eog[k] >= 0; k++) listed |= fams[f].eog[k] == t;
                ok &= listed;
                n_eog++;
            }
        int n_want = 0;
        while (n_want < 4 && fams[f].eog[n_want] >= 0) n_want++;
        CHECKF(ok && n_eog == n_want, "%s: %d end-of-generation tokens, expected %d", fams[f].file, n_eog, n_want);
        struct edgellm_model_desc d = EDGELLM_MODEL_DESC_INIT;
        edgellm_model_describe(m, &d);
        CHECKF(d.add_bos == fams[f].add_bos, "%s: add_bos %d", fams[f].file, d.add_bos);
        /* the shared prompt tokenizes as the reference engine did */
        char js_path[2048];
        snprintf(js_path, sizeof js_path, "%s/zoo/refs/%s.json", shared, fams[f].file);
        char *js = tu_read_file(js_path, NULL);
        const char *p = js ? strstr(js, "\"prompt\": \"") : NULL, *q = js ? strstr(js, "\"prompt_tokens\": [") : NULL;
        CHECKF(p && q, "%s: no prompt in the reference", js_path);
        if (p && q) {
            char text[1024];
            size_t n = 0;
            for (p += 11; *p && *p != '"' && n + 1 < sizeof text; p++) /* plain ASCII, \n escapes at most */
                text[n++] = *p == '\\' && p[1] == 'n' ? (p++, '\n') : *p;
            edgellm_token toks[512], ref[512];
            int n_ref = 0;
            for (q += 18; *q && *q != ']' && n_ref < 512;) {
                char *end;
                long v = strtol(q, &end, 10);
                if (end == q) { q++; continue; }
                ref[n_ref++] = (edgellm_token)v;
                q = end;
            }
            int32_t nt = tok_n(m, text, n, -1, 0, toks, 512);
            int same = nt == n_ref;
            for (int i = 0; same && i < nt; i++) same = toks[i] == ref[i];
            CHECKF(same, "%s: the shared prompt tokenizes differently (%d tokens, reference %d)", fams[f].file, nt, n_ref);
        }
        free(js);
        edgellm_model_free(m);
    }
    /* qwen3: USER_DEFINED <think> / <tool_call> match in plain text and detokenize to their text */
    char path[2048], err[512];
    snprintf(path, sizeof path, "%s/zoo/qwen3-mini-q8_0.gguf", shared);
    struct edgellm_model *m = NULL;
    if (!edgellm_model_load(path, NULL, &m, err, sizeof err)) {
        edgellm_token t[16];
        int32_t n = tok_n(m, "<think>\n</think>", 16, 0, 0, t, 16);
        CHECK(n >= 3 && t[0] == 705 && t[n - 1] == 706);
        n = tok_n(m, "<tool_call>", 11, 0, 0, t, 16);
        CHECK(n == 1 && t[0] == 703);
        n = tok_n(m, "<|im_start|>", 12, 0, 0, t, 16);
        CHECK(n > 1); /* control: only with parse_special */
        n = tok_n(m, "<|im_start|>", 12, 0, 1, t, 16);
        CHECK(n == 1 && t[0] == 701);
        char piece[32];
        edgellm_token_to_piece(m, 705, 0, piece, sizeof piece);
        CHECK(!strcmp(piece, "<think>"));
        edgellm_model_free(m);
    } else {
        CHECKF(0, "load %s: %s", path, err);
    }
}

int main(int argc, char **argv) {
    const char *shared = tu_shared(argc, argv);
    gpt4o_cases();
    zoo_vocab(shared);
    return TEST_DONE();
}
