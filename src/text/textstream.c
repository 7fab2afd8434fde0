/* Text stream: turns the generated text, arriving piece by piece, into chunks that are safe to
 * show. Two stages, each with a small hold-back buffer: stage 1 (held) cuts at the first stop
 * string and holds back a tail that could still start one; stage 2 (tbuf) splits reasoning from
 * content at the <think> / </think> tags and holds back a tail that could still start a tag.
 * Buffers only grow (amortized, no allocation per piece once warmed up). */
#include <stdlib.h>
#include <string.h>

#include "edgellm.h"

static const char THINK_OPEN[] = "<think>";
static const char THINK_CLOSE[] = "</think>";
#define OPEN_LEN (sizeof THINK_OPEN - 1)
#define CLOSE_LEN (sizeof THINK_CLOSE - 1)

enum ts_state {
    TS_START,   /* nothing but whitespace seen yet: a <think> may still open reasoning */
    TS_REASON,  /* inside <think> */
    TS_CONTENT, /* the answer */
};

struct edgellm_textstream {
    char **stops;
    size_t *stop_len;
    int n_stops;
    int stop_index;     /* which stop matched, -1 while none */
    char *held;         /* stage 1: text not yet proven free of a stop string */
    size_t n_held, cap_held;
    char *tbuf;         /* stage 2: text not yet proven free of a partial tag */
    size_t n_tbuf, cap_tbuf;
    enum ts_state state;
    int at_start;       /* right after a tag: leading whitespace belongs to the tag */
};

static int ts_reserve(char **buf, size_t *cap, size_t need) {
    if (need <= *cap) return 1;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    char *nb = realloc(*buf, c);
    if (!nb) return 0;
    *buf = nb;
    *cap = c;
    return 1;
}

static int ts_is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

/* Length of the longest proper suffix of s[0..n) that is a prefix of pat[0..m). */
static size_t ts_partial_suffix(const char *s, size_t n, const char *pat, size_t m) {
    size_t k = n < m - 1 ? n : m - 1;
    for (; k > 0; k--)
        if (!memcmp(s + n - k, pat, k)) return k;
    return 0;
}

edgellm_status edgellm_textstream_new(const char *const *stops, int n_stops, int in_think,
                                      struct edgellm_textstream **out) {
    if (!out) return EDGELLM_ERR_ARG;
    *out = NULL;
    if (n_stops < 0 || (n_stops > 0 && !stops)) return EDGELLM_ERR_ARG;
    struct edgellm_textstream *ts = calloc(1, sizeof *ts);
    if (!ts) return EDGELLM_ERR_NOMEM;
    if (n_stops > 0) {
        ts->stops = calloc((size_t)n_stops, sizeof *ts->stops);
        ts->stop_len = calloc((size_t)n_stops, sizeof *ts->stop_len);
        if (!ts->stops || !ts->stop_len) { edgellm_textstream_free(ts); return EDGELLM_ERR_NOMEM; }
        for (int i = 0; i < n_stops; i++) {
            if (!stops[i] || !stops[i][0]) continue;
            size_t n = strlen(stops[i]);
            if (!(ts->stops[ts->n_stops] = malloc(n + 1))) { edgellm_textstream_free(ts); return EDGELLM_ERR_NOMEM; }
            memcpy(ts->stops[ts->n_stops], stops[i], n + 1);
            ts->stop_len[ts->n_stops++] = n;
        }
    }
    edgellm_textstream_reset(ts, in_think);
    *out = ts;
    return EDGELLM_OK;
}

void edgellm_textstream_reset(struct edgellm_textstream *ts, int in_think) {
    if (!ts) return;
    ts->stop_index = -1;
    ts->n_held = ts->n_tbuf = 0;
    ts->state = in_think ? TS_REASON : TS_START;
    ts->at_start = in_think ? 1 : 0;
}

void edgellm_textstream_free(struct edgellm_textstream *ts) {
    if (!ts) return;
    if (ts->stops)
        for (int i = 0; i < ts->n_stops; i++) free(ts->stops[i]);
    free(ts->stops);
    free(ts->stop_len);
    free(ts->held);
    free(ts->tbuf);
    free(ts);
}

int edgellm_textstream_stop_index(const struct edgellm_textstream *ts) { return ts ? ts->stop_index : -1; }

/* Emits s[0..n) as `kind`, giving leading whitespace to the tag just before it if at_start. */
static void ts_emit(struct edgellm_textstream *ts, edgellm_text_kind kind, const char *s, size_t n,
                    edgellm_text_fn fn, void *user) {
    if (ts->at_start) {
        size_t w = 0;
        while (w < n && ts_is_space(s[w])) w++;
        if (w) fn(user, EDGELLM_TEXT_TAG, s, w);
        if (w == n) return;
        ts->at_start = 0;
        s += w;
        n -= w;
    }
    if (n) fn(user, kind, s, n);
}

/* Stage 2: consumes as much of tbuf as can be decided; final = end of text (decide everything). */
static void ts_split(struct edgellm_textstream *ts, int final, edgellm_text_fn fn, void *user) {
    size_t pos = 0;
    while (pos < ts->n_tbuf) {
        const char *s = ts->tbuf + pos;
        size_t n = ts->n_tbuf - pos;
        if (ts->state == TS_START) {
            size_t w = 0;
            while (w < n && ts_is_space(s[w])) w++;
            size_t r = n - w;
            if (r >= OPEN_LEN && !memcmp(s + w, THINK_OPEN, OPEN_LEN)) {
                fn(user, EDGELLM_TEXT_TAG, s, w + OPEN_LEN);
                pos += w + OPEN_LEN;
                ts->state = TS_REASON;
                ts->at_start = 1;
                continue;
            }
            if (!final && (r == 0 || (r < OPEN_LEN && !memcmp(s + w, THINK_OPEN, r)))) break; /* undecided */
            ts->state = TS_CONTENT;
            continue;
        }
        if (ts->state == TS_REASON) {
            const char *end = memmem(s, n, THINK_CLOSE, CLOSE_LEN);
            if (end) {
                size_t k = (size_t)(end - s);
                ts_emit(ts, EDGELLM_TEXT_REASONING, s, k, fn, user);
                fn(user, EDGELLM_TEXT_TAG, end, CLOSE_LEN);
                pos += k + CLOSE_LEN;
                ts->state = TS_CONTENT;
                ts->at_start = 1;
                continue;
            }
            size_t hold = final ? 0 : ts_partial_suffix(s, n, THINK_CLOSE, CLOSE_LEN);
            ts_emit(ts, EDGELLM_TEXT_REASONING, s, n - hold, fn, user);
            pos += n - hold;
            break;
        }
        ts_emit(ts, EDGELLM_TEXT_CONTENT, s, n, fn, user);
        pos += n;
    }
    if (pos) {
        memmove(ts->tbuf, ts->tbuf + pos, ts->n_tbuf - pos);
        ts->n_tbuf -= pos;
    }
}

static int ts_feed_split(struct edgellm_textstream *ts, const char *s, size_t n, edgellm_text_fn fn, void *user) {
    if (!n) return 0;
    if (!ts_reserve(&ts->tbuf, &ts->cap_tbuf, ts->n_tbuf + n)) return -EDGELLM_ERR_NOMEM;
    memcpy(ts->tbuf + ts->n_tbuf, s, n);
    ts->n_tbuf += n;
    ts_split(ts, 0, fn, user);
    return 0;
}

int edgellm_textstream_push(struct edgellm_textstream *ts, const char *text, size_t len,
                            edgellm_text_fn fn, void *user) {
    if (!ts || (len && !text)) return -EDGELLM_ERR_ARG;
    if (ts->stop_index >= 0) return 1;
    if (!len) return 0;
    if (!ts->n_stops) return ts_feed_split(ts, text, len, fn, user);
    if (!ts_reserve(&ts->held, &ts->cap_held, ts->n_held + len)) return -EDGELLM_ERR_NOMEM;
    memcpy(ts->held + ts->n_held, text, len);
    ts->n_held += len;
    /* The earliest match wins; the held tail guarantees a match spanning pieces is seen whole. */
    size_t best = (size_t)-1;
    for (int i = 0; i < ts->n_stops; i++) {
        const char *m = memmem(ts->held, ts->n_held, ts->stops[i], ts->stop_len[i]);
        if (m && (size_t)(m - ts->held) < best) {
            best = (size_t)(m - ts->held);
            ts->stop_index = i;
        }
    }
    if (ts->stop_index >= 0) {
        int rc = ts_feed_split(ts, ts->held, best, fn, user);
        ts->n_held = 0;
        return rc < 0 ? rc : 1;
    }
    size_t hold = 0;
    for (int i = 0; i < ts->n_stops; i++) {
        size_t h = ts_partial_suffix(ts->held, ts->n_held, ts->stops[i], ts->stop_len[i]);
        if (h > hold) hold = h;
    }
    size_t out = ts->n_held - hold;
    int rc = ts_feed_split(ts, ts->held, out, fn, user);
    memmove(ts->held, ts->held + out, hold);
    ts->n_held = hold;
    return rc;
}

void edgellm_textstream_flush(struct edgellm_textstream *ts, edgellm_text_fn fn, void *user) {
    if (!ts) return;
    /* No stop can match any more: the held tail is plain text. */
    int oom = ts->stop_index < 0 && ts->n_held && ts_feed_split(ts, ts->held, ts->n_held, fn, user) < 0;
    ts_split(ts, 1, fn, user);
    if (oom) /* out of memory growing tbuf: the tail is still better shown than lost */
        ts_emit(ts, ts->state == TS_REASON ? EDGELLM_TEXT_REASONING : EDGELLM_TEXT_CONTENT, ts->held,
                ts->n_held, fn, user);
    ts->n_held = 0;
}

int edgellm_prompt_opens_think(const char *prompt) {
    if (!prompt) return 0;
    const char *last = NULL;
    for (const char *p = strstr(prompt, THINK_OPEN); p; p = strstr(p + 1, THINK_OPEN)) last = p;
    return last && !strstr(last + OPEN_LEN, THINK_CLOSE);
}
