/* Text stream tests: stop strings split across pieces (never emitted, text before them kept),
 * the reasoning / content split at <think> tags, and the invariant that all chunks together are
 * the raw text up to the stop — for every way of cutting the input into two or three pieces. */
#include <stdint.h>

#include "edgellm.h"
#include "testutil.h"

struct sink {
    char part[3][512]; /* by edgellm_text_kind */
    char raw[1024];
    int calls;
};

static void append(char *dst, size_t cap, const char *s, size_t n) {
    size_t l = strlen(dst);
    if (l + n >= cap) n = cap - 1 - l;
    memcpy(dst + l, s, n);
    dst[l + n] = 0;
}

static int n_empty_chunks;

static void on_text(void *user, edgellm_text_kind kind, const char *text, size_t len) {
    struct sink *k = user;
    k->calls++;
    n_empty_chunks += len == 0;
    append(k->part[kind], sizeof k->part[kind], text, len);
    append(k->raw, sizeof k->raw, text, len);
}

/* edgellm_textstream_new, NULL when it fails. */
static struct edgellm_textstream *new_ts(const char *const *stops, int n_stops, int in_think) {
    struct edgellm_textstream *ts = NULL;
    return edgellm_textstream_new(stops, n_stops, in_think, &ts) == EDGELLM_OK ? ts : NULL;
}

/* Feeds text cut at the given positions (cuts ascending, within the text), then flushes.
 * Returns the push result of the last piece fed (1 if a stop matched). */
static int run_pieces(struct edgellm_textstream *ts, struct sink *k, const char *text, const size_t *cuts, int n_cuts) {
    memset(k, 0, sizeof *k);
    size_t prev = 0, len = strlen(text);
    int rc = 0;
    for (int i = 0; i <= n_cuts; i++) {
        size_t end = i < n_cuts ? cuts[i] : len;
        rc = edgellm_textstream_push(ts, text + prev, end - prev, on_text, k);
        prev = end;
    }
    edgellm_textstream_flush(ts, on_text, k);
    return rc;
}

/* Every split of text into 2 and 3 pieces gives the same parts. */
static void check_all_splits(const char *name, const char *const *stops, int n_stops, int in_think, const char *text,
                             const char *content, const char *reasoning, int want_stop) {
    struct edgellm_textstream *ts = new_ts(stops, n_stops, in_think);
    CHECK(ts != NULL);
    if (!ts) return;
    size_t len = strlen(text);
    int bad = 0;
    struct sink k;
    for (size_t a = 0; a <= len; a++)
        for (size_t b = a; b <= len; b++) {
            edgellm_textstream_reset(ts, in_think);
            size_t cuts[2] = {a, b};
            int rc = run_pieces(ts, &k, text, cuts, 2);
            int ok = !strcmp(k.part[EDGELLM_TEXT_CONTENT], content) && !strcmp(k.part[EDGELLM_TEXT_REASONING], reasoning) &&
                     rc == want_stop && (edgellm_textstream_stop_index(ts) >= 0) == want_stop;
            /* raw = all chunks = text up to the stop */
            size_t rl = strlen(k.raw);
            ok = ok && !strncmp(k.raw, text, rl) && (want_stop || rl == len);
            if (!ok && bad++ < 3)
                fprintf(stderr, "%s: cuts %zu,%zu: content '%s' reasoning '%s' tag '%s' rc %d\n", name, a, b,
                        k.part[0], k.part[1], k.part[2], rc);
        }
    CHECKF(bad == 0, "%s: %d splits wrong", name, bad);
    edgellm_textstream_free(ts);
}

static void test_stops(void) {
    const char *stops[] = {"###", "<|end|>"};
    check_all_splits("stop ###", stops, 2, 0, "Hello ### world", "Hello ", "", 1);
    check_all_splits("stop <|end|>", stops, 2, 0, "foo<|end|>bar", "foo", "", 1);
    check_all_splits("near miss", stops, 2, 0, "a##b<|en|>c#", "a##b<|en|>c#", "", 0);
    check_all_splits("stop at start", stops, 2, 0, "###rest", "", "", 1);
    check_all_splits("utf-8", stops, 2, 0, "h\xc3\xa9\xe2\x82\xac###x", "h\xc3\xa9\xe2\x82\xac", "", 1);

    /* the earliest match wins, whichever stop it is */
    const char *two[] = {"bar", "ob"};
    struct edgellm_textstream *ts = new_ts(two, 2, 0);
    struct sink k;
    CHECK(run_pieces(ts, &k, "foobar", NULL, 0) == 1);
    CHECK(!strcmp(k.part[0], "fo"));
    CHECK(edgellm_textstream_stop_index(ts) == 1);
    /* after a stop, more text is ignored */
    CHECK(edgellm_textstream_push(ts, "more", 4, on_text, &k) == 1);
    CHECK(!strcmp(k.part[0], "fo"));
    edgellm_textstream_free(ts);

    /* held text is released only once it cannot start a stop */
    const char *hash[] = {"###"};
    ts = new_ts(hash, 1, 0);
    memset(&k, 0, sizeof k);
    CHECK(edgellm_textstream_push(ts, "ab#", 3, on_text, &k) == 0);
    CHECK(!strcmp(k.part[0], "ab"));
    CHECK(edgellm_textstream_push(ts, "#", 1, on_text, &k) == 0);
    CHECK(!strcmp(k.part[0], "ab"));
    CHECK(edgellm_textstream_push(ts, "c", 1, on_text, &k) == 0);
    CHECK(!strcmp(k.part[0], "ab##c"));
    CHECK(edgellm_textstream_push(ts, "##", 2, on_text, &k) == 0);
    edgellm_textstream_flush(ts, on_text, &k); /* end of generation: "##" was text after all */
    CHECK(!strcmp(k.part[0], "ab##c##"));
    CHECK(edgellm_textstream_stop_index(ts) == -1);
    edgellm_textstream_free(ts);

    /* empty stop strings are ignored; no stops at all is plain pass-through */
    const char *empty[] = {""};
    check_all_splits("empty stop", empty, 1, 0, "abc", "abc", "", 0);
    check_all_splits("no stops", NULL, 0, 0, "abc def", "abc def", "", 0);
}

static void test_reasoning(void) {
    /* prompt ended inside <think>: reasoning up to </think>, tag takes the whitespace around */
    check_all_splits("in think", NULL, 0, 1, "\nLet me think.\n</think>\n\nAnswer.", "Answer.", "Let me think.\n", 0);
    struct edgellm_textstream *ts = new_ts(NULL, 0, 1);
    struct sink k;
    run_pieces(ts, &k, "\nLet me think.\n</think>\n\nAnswer.", NULL, 0);
    CHECK(!strcmp(k.part[EDGELLM_TEXT_TAG], "\n</think>\n\n"));
    /* unfinished reasoning: a partial tag at the end is reasoning text */
    edgellm_textstream_reset(ts, 1);
    run_pieces(ts, &k, "hmm </thi", NULL, 0);
    CHECK(!strcmp(k.part[EDGELLM_TEXT_REASONING], "hmm </thi"));
    CHECK(!strcmp(k.part[EDGELLM_TEXT_CONTENT], ""));
    edgellm_textstream_free(ts);

    /* <think> generated at the start opens reasoning */
    check_all_splits("gen think", NULL, 0, 0, "<think>\nhm</think>\n\nyes", "yes", "hm", 0);
    check_all_splits("gen think ws", NULL, 0, 0, " \n<think>a</think>b", "b", "a", 0);
    /* ... but not later, nor a near miss */
    check_all_splits("late think", NULL, 0, 0, "hi <think>a</think>b", "hi <think>a</think>b", "", 0);
    check_all_splits("near think", NULL, 0, 0, "<thinking>x", "<thinking>x", "", 0);
    check_all_splits("second think", NULL, 0, 1, "a</think>b<think>c</think>", "b<think>c</think>", "a", 0);
    /* empty input and whitespace only */
    check_all_splits("ws only", NULL, 0, 0, "  ", "  ", "", 0);

    /* stops apply to the raw text, reasoning included */
    const char *stops[] = {"<|im_end|>"};
    check_all_splits("stop in reasoning", stops, 1, 1, "abc<|im_end|></think>x", "", "abc", 1);
    check_all_splits("stop in content", stops, 1, 1, "abc</think>\nxy<|im_end|>z", "xy", "abc", 1);
}

/* Random texts over an alphabet rich in stop and tag fragments, cut into random small pieces:
 * the streamed result must equal the one-shot result, and the raw text must end exactly where
 * the first stop string (found here with strstr) begins. */
static void test_random_streams(void) {
    static const char *const frags[] = {"a", "#", "##", "<", "</", "think>", "<think>", "</think>", "\n", " ", "x"};
    const char *stops[] = {"###", "</x>", "a a"};
    uint32_t r = 12345;
    int bad = 0;
    struct sink one, many;
    for (int iter = 0; iter < 3000; iter++) {
        char text[256] = "";
        int n_frag = 1 + (int)((r = r * 1103515245u + 12345u) >> 16) % 24;
        for (int f = 0; f < n_frag; f++) {
            r = r * 1103515245u + 12345u;
            strcat(text, frags[(r >> 16) % (sizeof frags / sizeof frags[0])]);
        }
        int in_think = (int)(r >> 20) & 1;
        int n_stops = (int)(r >> 21) % 4;
        struct edgellm_textstream *ts = new_ts(stops, n_stops, in_think);
        run_pieces(ts, &one, text, NULL, 0);
        edgellm_textstream_reset(ts, in_think);
        size_t cuts[64], len = strlen(text);
        int n_cuts = 0;
        for (size_t pos = 0; n_cuts < 64;) {
            r = r * 1103515245u + 12345u;
            pos += 1 + (r >> 16) % 4;
            if (pos >= len) break;
            cuts[n_cuts++] = pos;
        }
        run_pieces(ts, &many, text, cuts, n_cuts);
        size_t first = len;
        for (int i = 0; i < n_stops; i++) {
            const char *m = strstr(text, stops[i]);
            if (m && (size_t)(m - text) < first) first = (size_t)(m - text);
        }
        int ok = !strcmp(one.part[0], many.part[0]) && !strcmp(one.part[1], many.part[1]) &&
                 !strcmp(one.part[2], many.part[2]) && strlen(many.raw) == first && !strncmp(many.raw, text, first);
        if (!ok && bad++ < 3)
            fprintf(stderr, "random stream '%s' (in_think %d, %d stops): one-shot c='%s' r='%s', streamed c='%s' r='%s'\n",
                    text, in_think, n_stops, one.part[0], one.part[1], many.part[0], many.part[1]);
        edgellm_textstream_free(ts);
    }
    CHECKF(bad == 0, "%d random streams differ", bad);
}

static void test_prompt_opens_think(void) {
    CHECK(edgellm_prompt_opens_think("<｜User｜>hi<｜Assistant｜><think>\n") == 1);
    CHECK(edgellm_prompt_opens_think("<think>a</think> b <think>") == 1);
    CHECK(edgellm_prompt_opens_think("<think>a</think> b") == 0);
    CHECK(edgellm_prompt_opens_think("plain prompt") == 0);
    CHECK(edgellm_prompt_opens_think("") == 0);
    CHECK(edgellm_prompt_opens_think(NULL) == 0);
}

int main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    test_stops();
    test_reasoning();
    test_random_streams();
    test_prompt_opens_think();
    CHECKF(n_empty_chunks == 0, "%d empty chunks emitted", n_empty_chunks);
    return TEST_DONE();
}
