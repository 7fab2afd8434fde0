/* edgellm serve — the engine thread: continuous batching over --parallel slots.
 * One context holds n_seq = --parallel sequences; slot i is sequence i. Each step is one batch of
 * the last sampled token of every generating slot, then one batch per admitted job with prompt
 * left (a chunk of up to n_batch tokens). Jobs wait in a FIFO (server.mu) until a slot frees; a cancelled job frees its
 * slot at the next step. Generated text goes through a text stream (stop strings, </think>) and
 * reaches the client through the API module's formatter (oai_emit_* / ollama_emit_*). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"
#include "server.h"

int64_t srv_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- small buffers ------------------------------------------------------ */

void sbuf_add(struct sbuf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return; /* out of memory: drop the text rather than crash */
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

void sbuf_adds(struct sbuf *b, const char *s) { sbuf_add(b, s, strlen(s)); }

void sbuf_free(struct sbuf *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* ---- jobs ---------------------------------------------------------------- */

struct srv_job *srv_job_new(void) {
    struct srv_job *job = calloc(1, sizeof(*job));
    if (!job) return NULL;
    pthread_mutex_init(&job->mu, NULL);
    pthread_cond_init(&job->cv, NULL);
    job->refs = 1;
    job->max_tokens = -1;
    job->cache_prompt = 1;
    job->sp = edgellm_sampler_default_params();
    return job;
}

void srv_job_unref(struct srv_job *job) {
    if (!job) return;
    pthread_mutex_lock(&job->mu);
    int left = --job->refs;
    pthread_mutex_unlock(&job->mu);
    if (left > 0) return;
    for (struct srv_chunk *c = job->head, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    for (int i = 0; i < job->n_stop; i++) free(job->stop[i]);
    free(job->bias);
    edgellm_free(job->prompt);
    edgellm_grammar_free(job->grammar);
    sbuf_free(&job->content);
    sbuf_free(&job->reasoning);
    pthread_mutex_destroy(&job->mu);
    pthread_cond_destroy(&job->cv);
    free(job);
}

void srv_job_push(struct srv_job *job, const char *data, size_t len) {
    struct srv_chunk *c = malloc(sizeof(*c) + len);
    if (!c) return;
    c->next = NULL;
    c->len = len;
    c->off = 0;
    memcpy(c->data, data, len);
    pthread_mutex_lock(&job->mu);
    if (job->tail) job->tail->next = c;
    else job->head = c;
    job->tail = c;
    pthread_cond_broadcast(&job->cv);
    pthread_mutex_unlock(&job->mu);
}

void srv_job_cancel(struct srv_job *job) {
    pthread_mutex_lock(&job->mu);
    job->cancelled = 1;
    pthread_mutex_unlock(&job->mu);
}

static int job_cancelled(struct srv_job *job) {
    pthread_mutex_lock(&job->mu);
    int c = job->cancelled;
    pthread_mutex_unlock(&job->mu);
    return c;
}

static void job_mark_done(struct srv_job *job) {
    pthread_mutex_lock(&job->mu);
    job->done = 1;
    pthread_cond_broadcast(&job->cv);
    pthread_mutex_unlock(&job->mu);
}

static void emit_delta(struct srv_job *job, int reasoning, const char *text, size_t len) {
    if (!len) return;
    if (job->api == SRV_OAI_CHAT || job->api == SRV_OAI_COMPLETION) oai_emit_delta(job, reasoning, text, len);
    else ollama_emit_delta(job, reasoning, text, len);
}

/* The job's last bytes and its metrics; the reader ends the response once the job is marked done. */
static void emit_end_payload(struct srv_job *job, const char *finish_reason) {
    job->t_end_ns = srv_now_ns();
    if (job->server) srv_metrics_job(job->server, job);
    if (!job->t_first_ns) job->t_first_ns = job->t_end_ns;
    if (job->api == SRV_OAI_CHAT || job->api == SRV_OAI_COMPLETION) oai_emit_end(job, finish_reason);
    else ollama_emit_end(job, finish_reason);
}

static void emit_end(struct srv_job *job, const char *finish_reason) {
    emit_end_payload(job, finish_reason);
    job_mark_done(job);
}

/* ---- replies and request preparation ------------------------------------ */

void srv_reply_json(struct srv_reply *r, int status, const char *json) {
    r->status = status;
    r->content_type = "application/json";
    r->body.len = 0;
    sbuf_adds(&r->body, json);
}

void srv_reply_error(struct srv_reply *r, int status, const char *type, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* the message is ours or a library's one-line error: escape it by hand for JSON */
    struct sbuf b = {0};
    sbuf_adds(&b, "{\"error\":{\"message\":\"");
    for (const char *p = msg; *p; p++) {
        unsigned char c = (unsigned char)*p;
        char esc[8];
        if (c == '"' || c == '\\') { esc[0] = '\\'; esc[1] = (char)c; sbuf_add(&b, esc, 2); }
        else if (c < 0x20) { snprintf(esc, sizeof(esc), "\\u%04x", c); sbuf_adds(&b, esc); }
        else sbuf_add(&b, p, 1);
    }
    char tail[128];
    snprintf(tail, sizeof(tail), "\",\"type\":\"%s\",\"param\":null,\"code\":%d}}", type, status);
    sbuf_adds(&b, tail);
    srv_reply_json(r, status, b.p ? b.p : "{}");
    sbuf_free(&b);
}

int srv_job_set_schema(struct srv_job *job, const char *schema_json, int strict, struct srv_reply *r) {
    char err[256] = "", *gbnf = NULL;
    edgellm_status st = edgellm_json_schema_to_gbnf(schema_json ? schema_json : "{\"type\": \"object\"}", strict, &gbnf, err, sizeof err);
    if (st == EDGELLM_OK) {
        /* the schema's rules, then a start rule that closes an open think block first */
        size_t n = strlen(gbnf);
        char *all = malloc(n + 96);
        if (!all) st = EDGELLM_ERR_NOMEM;
        else {
            snprintf(all, n + 96, "%sconstrained ::= %sroot\n", gbnf, job->think_open ? "\"</think>\" \"\\n\"{0,2} " : "");
            st = edgellm_grammar_from_gbnf(all, "constrained", &job->grammar, err, sizeof err);
            free(all);
        }
        edgellm_free(gbnf);
    }
    if (st != EDGELLM_OK) {
        srv_reply_error(r, st == EDGELLM_ERR_NOMEM ? 500 : 400, st == EDGELLM_ERR_NOMEM ? "server_error" : "invalid_request_error",
                        "%s", err[0] ? err : edgellm_status_str(st));
        return -1;
    }
    return 0;
}

/* Prepares a job from a chat prompt: edgellm_chat_tokenize renders messages_json (or, with
 * prompt set, takes that text as already rendered) and tokenizes it by the library's one rule. */
static int job_prepare(struct server *s, struct srv_job *job, const char *messages_json, const char *prompt,
                       int enable_thinking, const char *kwargs_json, int32_t max_tokens, struct srv_reply *r) {
    struct edgellm_chat_params cp = edgellm_chat_default_params();
    cp.enable_thinking = enable_thinking;
    cp.kwargs_json = kwargs_json;
    cp.prompt = prompt;
    struct edgellm_chat_prompt cprompt = EDGELLM_CHAT_PROMPT_INIT;
    char err[256] = "";
    edgellm_status st = edgellm_chat_tokenize(s->model, messages_json, &cp, &cprompt, err, sizeof(err));
    if (st == EDGELLM_OK && err[0] && job->strict_template && s->desc.chat_template) {
        /* the model's own template raised on a tool conversation: say so, never render another one */
        edgellm_chat_prompt_free(&cprompt);
        srv_reply_error(r, 400, "invalid_request_error", "the chat template failed: %s", err);
        return -1;
    }
    if (st != EDGELLM_OK) {
        srv_reply_error(r, st == EDGELLM_ERR_NOMEM ? 500 : 400, st == EDGELLM_ERR_NOMEM ? "server_error" : "invalid_request_error",
                        "cannot %s: %s", prompt ? "tokenize the prompt" : "render the chat template",
                        err[0] ? err : edgellm_status_str(st));
        return -1;
    }
    /* the answer starts inside an open <think> block (R1 templates open it themselves) */
    if (!prompt) job->think_open = cprompt.opens_think;
    int32_t n = cprompt.n_tokens;
    job->prompt = cprompt.tokens; /* the job owns the tokens now */
    cprompt.tokens = NULL;
    edgellm_chat_prompt_free(&cprompt);
    if (n == 0) { srv_reply_error(r, 400, "invalid_request_error", "the prompt is empty"); return -1; }
    job->keep = s->keep >= 0 ? (uint32_t)s->keep : cli_chat_keep(s->model, messages_json, enable_thinking, job->prompt, n);
    job->max_tokens_given = max_tokens >= 0;
    /* with context shift, a prompt too long is cut at admission (keep + the newest whole halves) */
    int can_shift = !s->no_shift && cli_shift_block(s->n_ctx, job->keep) > 0;
    if ((uint32_t)n >= s->n_ctx && !can_shift) {
        srv_reply_error(r, 400, "invalid_request_error",
                        "the prompt is %d tokens, but the context holds %u tokens per request (-c); shorten it",
                        (int)n, (unsigned)s->n_ctx);
        return -1;
    }
    job->n_prompt = n;
    job->max_tokens = max_tokens; /* < 0: until the context is first full; the room is known at admission */
    job->server = s;
    pthread_mutex_lock(&s->mu);
    uint64_t id = ++s->next_id;
    pthread_mutex_unlock(&s->mu);
    snprintf(job->id, sizeof(job->id), "%s-%llu", job->api == SRV_OAI_COMPLETION ? "cmpl" : "chatcmpl",
             (unsigned long long)id);
    snprintf(job->model, sizeof(job->model), "%s", s->model_id);
    job->created = (int64_t)time(NULL);
    job->t_start_ns = srv_now_ns();
    return 0;
}

int srv_job_prepare(struct server *s, struct srv_job *job, const char *prompt, int32_t max_tokens,
                    struct srv_reply *r) {
    return job_prepare(s, job, NULL, prompt, 1, NULL, max_tokens, r);
}

int srv_job_prepare_chat(struct server *s, struct srv_job *job, const char *messages_json, int enable_thinking,
                         const char *kwargs_json, int32_t max_tokens, struct srv_reply *r) {
    return job_prepare(s, job, messages_json, NULL, enable_thinking, kwargs_json, max_tokens, r);
}

int srv_enqueue(struct server *s, struct srv_job *job) {
    pthread_mutex_lock(&s->mu);
    if (s->n_waiting >= SRV_QUEUE_MAX || s->stopping) {
        pthread_mutex_unlock(&s->mu);
        return -1;
    }
    pthread_mutex_lock(&job->mu);
    job->refs++;
    pthread_mutex_unlock(&job->mu);
    job->next_waiting = NULL;
    if (s->wait_tail) s->wait_tail->next_waiting = job;
    else s->wait_head = job;
    s->wait_tail = job;
    s->n_waiting++;
    pthread_cond_broadcast(&s->cv); /* the engine, or an HTTP thread waiting for a slot request */
    pthread_mutex_unlock(&s->mu);
    return 0;
}

/* ---- the engine ------------------------------------------------------- */

/* A slot is sequence `seq` of the context. Its prefix cache outlives the job: `cache` lists the
 * tokens the sequence holds (prompt and decoded answer), `shift` how many tokens of that
 * conversation a context shift dropped after its keep, so that the conversation's next prompt
 * (sent whole again) can be cut at the same place and match. */
struct slot {
    struct srv_job *job;          /* NULL: idle */
    int32_t seq;
    int32_t n_prompt;             /* prompt tokens to hold (after a cut) */
    int32_t i_prompt;             /* prompt tokens already in the cache */
    int32_t n_past;
    edgellm_token last;           /* sampled, not yet decoded */
    int32_t logit_idx;            /* index of its logits in the current batch, or -1 */
    int tag_side;                 /* 1: whitespace around a tag belongs to reasoning, 0: to content */
    int shift_gen;                /* the job may shift the context while generating */
    struct edgellm_sampler *smp;
    struct edgellm_detok *dt;
    struct edgellm_textstream *ts;
    edgellm_token *cache;         /* [n_ctx] the tokens the sequence holds */
    int32_t n_cache;
    struct cli_shift shift;
    uint64_t lru;                 /* admission counter of its last use (0: never used) */
};

/* Text stream callback. content stays verbatim: the </think> tag is dropped, but the whitespace
 * the stream files with a tag goes to the side it touches, so reasoning + "</think>" + content
 * is the generated text. */
static void on_text(void *user, edgellm_text_kind kind, const char *text, size_t len) {
    struct slot *sl = user;
    if (sl->job->raw_text) {
        emit_delta(sl->job, 0, text, len);
        return;
    }
    if (kind == EDGELLM_TEXT_TAG) {
        if (memmem(text, len, "</think>", 8)) sl->tag_side = 0;
        else if (memmem(text, len, "<think>", 7)) sl->tag_side = 1;
        else emit_delta(sl->job, sl->tag_side, text, len);
        return;
    }
    emit_delta(sl->job, kind == EDGELLM_TEXT_REASONING, text, len);
}

/* The slot as GET /slots shows it (caller holds s->mu). */
static void slot_publish_locked(struct server *s, const struct slot *sl) {
    struct srv_slot_info *in = &s->slot_info[sl->seq];
    in->busy = sl->job != NULL;
    in->n_cached = sl->n_cache;
}

/* Ends the job; the cache stays for the conversation's next turn. The slot shows idle (in /slots
 * and /metrics) before the job is marked done, so a client that has read its whole answer finds
 * the slot free. */
static void slot_release(struct server *s, struct slot *sl) {
    struct srv_job *job = sl->job;
    edgellm_sampler_free(sl->smp);
    edgellm_detok_free(sl->dt);
    sl->smp = NULL;
    sl->dt = NULL;
    edgellm_textstream_free(sl->ts);
    sl->ts = NULL;
    sl->job = NULL;
    pthread_mutex_lock(&s->mu);
    slot_publish_locked(s, sl);
    if (s->n_busy > 0) s->n_busy--;
    pthread_mutex_unlock(&s->mu);
    job_mark_done(job);
    srv_job_unref(job);
}

/* Forgets the slot's cache. */
static void slot_clear(struct server *s, struct slot *sl) {
    edgellm_context_seq_truncate(s->ctx, sl->seq, 0);
    sl->n_cache = 0;
    sl->shift.n_discarded = 0;
}

static void slot_finish(struct server *s, struct slot *sl, const char *reason) {
    int stopped = cli_emit_token(sl->dt, sl->ts, -1, on_text, sl) == 1;
    edgellm_textstream_flush(sl->ts, on_text, sl);
    emit_end_payload(sl->job, stopped ? "stop" : reason);
    slot_release(s, sl);
}

/* How many tokens of cache (nc) equal the prompt (n tokens) as a slot that dropped d tokens after
 * keep holds it. */
static int32_t prefix_len(const edgellm_token *p, int32_t n, uint32_t keep, uint32_t d, const edgellm_token *c, int32_t nc) {
    int32_t i = 0;
    for (; i < nc; i++) {
        int64_t j = (uint32_t)i < keep ? i : (int64_t)i + d;
        if (j >= n || p[j] != c[i]) break;
    }
    return i;
}

/* Whether a cached conversation of nc tokens sharing p with the job's prompt is the same
 * conversation: more than what every conversation shares (keep), and at least half of it. */
static int useful(const struct srv_job *job, int32_t p, int32_t nc) { return (uint32_t)p > job->keep && 2 * (int64_t)p >= nc; }

/* The best idle slot for a job: the longest cached prefix of the same conversation (useful),
 * else the least recently used. *d: the drop to apply (the slot's, when it matches better). */
static struct slot *slot_pick(struct slot *slots, int np, const struct srv_job *job, uint32_t *d, int32_t *best_p) {
    struct slot *best = NULL, *lru = NULL;
    int32_t bp = 0;
    uint32_t bd = 0;
    for (int i = 0; i < np; i++) {
        struct slot *sl = &slots[i];
        if (sl->job) continue;
        if (!lru || sl->lru < lru->lru) lru = sl;
        if (!job->cache_prompt) continue;
        int32_t p0 = prefix_len(job->prompt, job->n_prompt, job->keep, 0, sl->cache, sl->n_cache), p = p0;
        uint32_t dd = 0;
        if (sl->shift.n_discarded && sl->shift.keep == job->keep) {
            int32_t p1 = prefix_len(job->prompt, job->n_prompt, job->keep, sl->shift.n_discarded, sl->cache, sl->n_cache);
            if (p1 > p0) p = p1, dd = sl->shift.n_discarded;
        }
        if (p > bp && useful(job, p, sl->n_cache)) best = sl, bp = p, bd = dd;
    }
    if (!best) {
        *d = 0;
        *best_p = 0;
        return lru;
    }
    *d = bd;
    *best_p = bp;
    return best;
}

/* Takes a job into an idle slot (caller holds s->mu): cuts its prompt to the context (a
 * remembered drop d first), keeps the cached prefix it shares, sets the generation limit. */
static int slot_admit(struct server *s, struct slot *sl, struct srv_job *job, uint32_t d, uint64_t lru) {
    sl->job = job;
    sl->lru = lru;
    sl->tag_side = job->think_open;
    int ok = edgellm_sampler_new(&job->sp, s->desc.n_vocab, &sl->smp) == EDGELLM_OK &&
             edgellm_detok_new(s->model, 0, &sl->dt) == EDGELLM_OK &&
             edgellm_textstream_new((const char *const *)job->stop, job->n_stop, job->think_open, &sl->ts) == EDGELLM_OK;
    if (ok && job->grammar) ok = edgellm_sampler_set_grammar(sl->smp, s->model, job->grammar) == EDGELLM_OK;
    if (!ok) {
        emit_end(job, "stop");
        sl->job = NULL;
        srv_job_unref(job);
        edgellm_sampler_free(sl->smp);
        edgellm_detok_free(sl->dt);
        sl->smp = NULL;
        sl->dt = NULL;
        return -1;
    }
    int32_t n = job->n_prompt;
    if (sl->shift.keep != job->keep || !d) sl->shift.n_discarded = 0;
    sl->shift.keep = job->keep;
    sl->shift.n_discarded = d;
    if (!s->no_shift) {
        int32_t m = cli_shift_prompt(&sl->shift, s->n_ctx, job->prompt, n, job->prompt);
        if (m > 0) n = m;
    }
    job->n_discarded = sl->shift.n_discarded;
    int32_t p = job->cache_prompt ? prefix_len(job->prompt, n, job->keep, 0, sl->cache, sl->n_cache) : 0;
    if (p >= n) p = n - 1; /* the last prompt token is evaluated again for its logits */
    edgellm_context_seq_truncate(s->ctx, sl->seq, (uint32_t)p);
    p = (int32_t)edgellm_context_seq_len(s->ctx, sl->seq); /* sliding-window rings may not reach back to p */
    sl->n_cache = p;
    sl->n_prompt = n;
    sl->i_prompt = p;
    sl->n_past = p;
    job->n_cached = p;
    job->n_evaluated = n - p;
    int32_t room = (int32_t)s->n_ctx - n;
    sl->shift_gen = !s->no_shift && job->max_tokens_given && cli_shift_block(s->n_ctx, job->keep) > 0;
    if (job->max_tokens < 0 || (!sl->shift_gen && job->max_tokens > room)) job->max_tokens = room;
    if (job->grammar) edgellm_sampler_set_budget(sl->smp, job->max_tokens);
    struct srv_slot_info *in = &s->slot_info[sl->seq];
    in->conversation_hits += p > 0;
    in->cached_tokens_total += (uint64_t)p;
    in->evaluated_tokens_total += (uint64_t)(n - p);
    slot_publish_locked(s, sl);
    return 0;
}

/* ---- slot files: save / restore (POST /slots/{id}) and spill -------------
 * A slot file: "EDGLSLOT", u32 version 1, u32 keep, u32 tokens dropped after keep, u32 0, then
 * the sequence state (edgellm_context_seq_state_get: its tokens, KV and the model identity). */
#define SLOT_MAGIC "EDGLSLOT"
struct slot_file_head {
    char magic[8];
    uint32_t version, keep, n_discarded, zero;
};

/* Writes the slot's cache to path (temporary name + rename). 0, or -1 with msg. */
static int slot_save_file(struct server *s, struct slot *sl, const char *path, char *msg, size_t msg_size, size_t *bytes) {
    size_t need = edgellm_context_seq_state_size(s->ctx, sl->seq), wr = 0;
    uint8_t *buf = malloc(need ? need : 1);
    if (!buf) return snprintf(msg, msg_size, "out of memory"), -1;
    if (edgellm_context_seq_state_get(s->ctx, sl->seq, buf, need, &wr) != EDGELLM_OK) {
        snprintf(msg, msg_size, "%s", edgellm_context_errmsg(s->ctx));
        free(buf);
        return -1;
    }
    struct slot_file_head h = {SLOT_MAGIC, 1, sl->shift.keep, sl->shift.n_discarded, 0};
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    int ok = f && fwrite(&h, sizeof h, 1, f) == 1 && fwrite(buf, 1, wr, f) == wr;
    if (f && fclose(f)) ok = 0;
    free(buf);
    if (!ok || rename(tmp, path)) {
        snprintf(msg, msg_size, "cannot write %s", path);
        remove(tmp);
        return -1;
    }
    if (bytes) *bytes = wr + sizeof h;
    return 0;
}

/* Replaces the slot's cache with a file's state. 0; 404 (no such file) or 400 with msg. */
static int slot_restore_file(struct server *s, struct slot *sl, const char *path, char *msg, size_t msg_size) {
    FILE *f = fopen(path, "rb");
    if (!f) return snprintf(msg, msg_size, "no such slot file"), 404;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = n > 0 ? malloc((size_t)n) : NULL;
    int ok = buf && fread(buf, 1, (size_t)n, f) == (size_t)n;
    fclose(f);
    struct slot_file_head h;
    if (!ok || (size_t)n < sizeof h || (memcpy(&h, buf, sizeof h), memcmp(h.magic, SLOT_MAGIC, 8)) || h.version != 1) {
        free(buf);
        slot_clear(s, sl);
        return snprintf(msg, msg_size, "not an edgellm slot file"), 400;
    }
    edgellm_status st = edgellm_context_seq_state_set(s->ctx, sl->seq, buf + sizeof h, (size_t)n - sizeof h);
    free(buf);
    if (st != EDGELLM_OK) {
        snprintf(msg, msg_size, "%s", edgellm_context_errmsg(s->ctx));
        slot_clear(s, sl);
        return 400;
    }
    int32_t nt = 0;
    edgellm_context_seq_tokens(s->ctx, sl->seq, sl->cache, (int32_t)s->n_ctx, &nt);
    sl->n_cache = nt;
    sl->shift.keep = h.keep;
    sl->shift.n_discarded = h.n_discarded;
    return 0;
}

/* A spilled conversation: its tokens stay in memory, its state in a file of the save path. */
struct spill {
    struct spill *next;           /* oldest first */
    char path[4200];
    struct cli_shift shift;
    int32_t n;
    edgellm_token tok[];
};
static struct spill *g_spills;
static uint64_t g_spill_seq;

static void spill_drop(struct spill **pp) {
    struct spill *sp = *pp;
    *pp = sp->next;
    remove(sp->path);
    free(sp);
}

/* Before an idle slot holding a conversation is reused for another one: its state goes to a
 * spill file (the oldest beyond --slot-spill-max deleted). */
static void slot_spill(struct server *s, struct slot *sl) {
    if (!s->slot_save_path || sl->n_cache <= 0 || s->slot_spill_max <= 0) return;
    struct spill *sp = malloc(sizeof *sp + sizeof(edgellm_token) * (size_t)sl->n_cache);
    if (!sp) return;
    snprintf(sp->path, sizeof sp->path, "%s/spill-%d-%llu.slot", s->slot_save_path, (int)getpid(),
             (unsigned long long)++g_spill_seq);
    char msg[256];
    if (slot_save_file(s, sl, sp->path, msg, sizeof msg, NULL)) {
        fprintf(stderr, "edgellm serve: spill: %s\n", msg);
        free(sp);
        return;
    }
    sp->shift = sl->shift;
    sp->n = sl->n_cache;
    memcpy(sp->tok, sl->cache, sizeof(edgellm_token) * (size_t)sl->n_cache);
    sp->next = NULL;
    struct spill **pp = &g_spills;
    int count = 1;
    while (*pp) pp = &(*pp)->next, count++;
    *pp = sp;
    while (count-- > s->slot_spill_max) spill_drop(&g_spills);
    s->slot_info[sl->seq].spilled++;
}

/* The spilled conversation sharing the longest prefix (beyond keep) with the job's prompt, if it
 * beats min_p. */
static struct spill **spill_find(const struct srv_job *job, int32_t min_p, uint32_t *d) {
    struct spill **best = NULL;
    for (struct spill **pp = &g_spills; *pp; pp = &(*pp)->next) {
        struct spill *sp = *pp;
        int32_t p = prefix_len(job->prompt, job->n_prompt, job->keep, 0, sp->tok, sp->n);
        uint32_t dd = 0;
        if (sp->shift.n_discarded && sp->shift.keep == job->keep) {
            int32_t p1 = prefix_len(job->prompt, job->n_prompt, job->keep, sp->shift.n_discarded, sp->tok, sp->n);
            if (p1 > p) p = p1, dd = sp->shift.n_discarded;
        }
        if (p > min_p && useful(job, p, sp->n)) best = pp, min_p = p, *d = dd;
    }
    return best;
}

/* POST /slots/{id}?action=save|restore, run on the engine thread (caller holds s->mu). */
static void slot_request(struct server *s, struct slot *slots, int np) {
    struct srv_slot_req *rq = s->slot_req;
    if (rq->slot < 0 || rq->slot >= np) {
        rq->status = 404;
        snprintf(rq->msg, sizeof rq->msg, "no slot %d (the server has %d)", rq->slot, np);
    } else if (slots[rq->slot].job) {
        rq->status = 409;
        snprintf(rq->msg, sizeof rq->msg, "slot %d is busy", rq->slot);
    } else if (!rq->restore) {
        rq->status = slot_save_file(s, &slots[rq->slot], rq->path, rq->msg, sizeof rq->msg, &rq->bytes) ? 500 : 200;
        rq->bytes = rq->status == 200 ? rq->bytes : 0;
    } else {
        int st = slot_restore_file(s, &slots[rq->slot], rq->path, rq->msg, sizeof rq->msg);
        rq->status = st ? st : 200;
        slot_publish_locked(s, &slots[rq->slot]);
    }
    rq->bytes = rq->status == 200 ? (rq->restore ? (size_t)slots[rq->slot].n_cache : rq->bytes) : 0;
    pthread_cond_broadcast(&s->cv);
}

/* Handles a sampled token: text out, stop conditions. Returns 1 if the slot finished. */
static int slot_take_token(struct server *s, struct slot *sl, edgellm_token tok) {
    struct srv_job *job = sl->job;
    int64_t now = srv_now_ns();
    job->n_gen++;
    if (job->n_gen == 1) job->t_first_ns = now;
    else srv_metrics_itl(s, (double)(now - job->t_last_tok_ns) * 1e-9);
    job->t_last_tok_ns = now;
    if (!job->ignore_eos && edgellm_token_is_eog(s->model, tok)) {
        job->n_gen--; /* the end-of-turn token is not part of the answer */
        slot_finish(s, sl, "stop");
        return 1;
    }
    if (cli_emit_token(sl->dt, sl->ts, tok, on_text, sl) == 1) {
        edgellm_textstream_flush(sl->ts, on_text, sl);
        emit_end_payload(job, "stop");
        slot_release(s, sl);
        return 1;
    }
    if (job->n_gen >= job->max_tokens) {
        slot_finish(s, sl, "length");
        return 1;
    }
    sl->last = tok;
    return 0;
}

struct engine_slots {
    struct slot *slots;
    int n;
};

/* Abort callback: stop a long decode (a big prompt chunk) when every job in it has been cancelled;
 * then all of them are released, so the half-filled cache does not matter. */
static int engine_should_abort(void *user) {
    struct engine_slots *es = user;
    int any = 0;
    for (int i = 0; i < es->n; i++) {
        if (!es->slots[i].job) continue;
        if (!job_cancelled(es->slots[i].job)) return 0;
        any = 1;
    }
    return any;
}

struct engine_buf {
    edgellm_token *tok;
    int32_t *pos, *seq;
    int8_t *logits;
};

/* One forward pass over the batch in b (n tokens); the decoded tokens join their slots' caches;
 * then a sampled token for every slot whose logit_idx it computed. Returns nonzero if the pass
 * was aborted (every job was cancelled). */
static int engine_pass(struct server *s, struct engine_buf *b, int32_t n, struct slot *slots, int np) {
    struct edgellm_batch batch = {n, b->tok, b->pos, b->seq, b->logits};
    edgellm_status st = edgellm_context_decode(s->ctx, &batch);
    if (st != EDGELLM_OK) {
        /* nothing of the batch is in the cache */
        for (int i = 0; i < np; i++) {
            int32_t len = (int32_t)edgellm_context_seq_len(s->ctx, slots[i].seq);
            if (slots[i].n_cache > len) slots[i].n_cache = len;
        }
        if (st == EDGELLM_ERR_ABORTED) return 1; /* all cancelled: released at the top of the loop */
        fprintf(stderr, "edgellm serve: decode failed: %s\n", edgellm_context_errmsg(s->ctx));
        for (int i = 0; i < np; i++) {
            if (slots[i].job) slot_finish(s, &slots[i], "stop");
            slot_clear(s, &slots[i]);
        }
        return 0;
    }
    for (int32_t k = 0; k < n; k++) {
        struct slot *sl = &slots[b->seq[k]];
        sl->cache[b->pos[k]] = b->tok[k];
        sl->n_cache = b->pos[k] + 1;
    }
    for (int i = 0; i < np; i++) {
        struct slot *sl = &slots[i];
        const int idx = sl->logit_idx;
        sl->logit_idx = -1;
        if (!sl->job || idx < 0) continue;
        const float *lg = edgellm_context_logits(s->ctx, idx);
        if (!lg) {
            slot_finish(s, sl, "stop");
            continue;
        }
        edgellm_token tok = edgellm_sampler_sample(sl->smp, lg);
        edgellm_sampler_accept(sl->smp, tok);
        slot_take_token(s, sl, tok);
    }
    return 0;
}

static void engine_loop(struct server *s) {
    int np = s->n_parallel;
    uint32_t n_batch = edgellm_context_n_batch(s->ctx);
    if (n_batch < (uint32_t)np) n_batch = (uint32_t)np;
    struct slot *slots = calloc((size_t)np, sizeof(*slots));
    struct engine_buf b = {
        malloc(sizeof(edgellm_token) * n_batch), malloc(sizeof(int32_t) * n_batch),
        malloc(sizeof(int32_t) * n_batch), malloc(n_batch),
    };
    int ok = slots && b.tok && b.pos && b.seq && b.logits;
    for (int i = 0; ok && i < np; i++) {
        slots[i].seq = i;
        ok = (slots[i].cache = malloc(sizeof(edgellm_token) * s->n_ctx)) != NULL;
    }
    if (!ok) {
        fprintf(stderr, "edgellm serve: out of memory in the engine\n");
        goto out;
    }
    struct engine_slots es = {slots, np};
    edgellm_context_set_abort(s->ctx, engine_should_abort, &es);
    uint64_t n_admitted = 0;

    for (;;) {
        /* drop cancelled jobs, then admit waiting ones into idle slots */
        int n_active = 0;
        for (int i = 0; i < np; i++) {
            if (slots[i].job && job_cancelled(slots[i].job)) {
                job_mark_done(slots[i].job);
                slot_release(s, &slots[i]);
            }
            if (slots[i].job) n_active++;
        }
        pthread_mutex_lock(&s->mu);
        s->n_busy = n_active;
        while (!s->stopping && n_active == 0 && !s->wait_head && !(s->slot_req && !s->slot_req->status))
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->stopping) {
            pthread_mutex_unlock(&s->mu);
            break;
        }
        if (s->slot_req && !s->slot_req->status) slot_request(s, slots, np);
        while (s->wait_head && n_active < np) {
            struct srv_job *job = s->wait_head;
            s->wait_head = job->next_waiting;
            if (!s->wait_head) s->wait_tail = NULL;
            s->n_waiting--;
            if (job_cancelled(job)) {
                job_mark_done(job);
                srv_job_unref(job);
                continue;
            }
            uint32_t d = 0, ds = 0;
            int32_t p = 0;
            struct slot *sl = slot_pick(slots, np, job, &d, &p);
            struct spill **spp = s->slot_save_path && job->cache_prompt ? spill_find(job, p, &ds) : NULL;
            if (spp || (!p && sl->n_cache > 0)) {
                /* another conversation: the least recently used idle slot goes to a spill file */
                struct slot *lru = NULL;
                for (int i = 0; i < np; i++)
                    if (!slots[i].job && (!lru || slots[i].lru < lru->lru)) lru = &slots[i];
                sl = lru;
                slot_spill(s, sl);
                if (spp) { /* and a spilled conversation this prompt extends comes back */
                    char msg[256];
                    if (slot_restore_file(s, sl, (*spp)->path, msg, sizeof msg) == 0) d = ds;
                    else fprintf(stderr, "edgellm serve: restoring a spilled slot: %s\n", msg);
                    spill_drop(spp);
                }
            }
            if (slot_admit(s, sl, job, d, ++n_admitted) == 0) n_active++;
        }
        s->n_busy = n_active;
        pthread_mutex_unlock(&s->mu);
        if (!n_active) continue;

        /* one pass with a token per generating slot, then one pass per prompt chunk: a request's
         * prompt is never evaluated in the same batch as other requests' tokens, so the kernels
         * (which pick their method by batch size) treat it as they would if it were alone */
        int32_t n = 0;
        for (int i = 0; i < np; i++) {
            struct slot *sl = &slots[i];
            sl->logit_idx = -1;
            if (!sl->job || sl->i_prompt < sl->n_prompt) continue;
            if ((uint32_t)sl->n_past >= s->n_ctx) {
                /* the context is full: shift it (an explicit max_tokens), or the answer ends */
                uint32_t dd = sl->shift_gen ? cli_shift_now(s->ctx, sl->seq, &sl->shift, sl->cache, &sl->n_cache) : 0;
                if (!dd) {
                    slot_finish(s, sl, "length");
                    continue;
                }
                sl->n_past -= (int32_t)dd;
                sl->job->n_discarded = sl->shift.n_discarded;
            }
            b.tok[n] = sl->last;
            b.pos[n] = sl->n_past;
            b.seq[n] = sl->seq;
            b.logits[n] = 1;
            sl->logit_idx = n;
            sl->n_past++;
            n++;
        }
        if (n && engine_pass(s, &b, n, slots, np)) continue;
        for (int i = 0; i < np; i++) {
            struct slot *sl = &slots[i];
            if (!sl->job || sl->i_prompt >= sl->n_prompt) continue;
            int32_t take = sl->n_prompt - sl->i_prompt;
            if ((uint32_t)take > n_batch) take = (int32_t)n_batch;
            for (int32_t k = 0; k < take; k++) {
                b.tok[k] = sl->job->prompt[sl->i_prompt + k];
                b.pos[k] = sl->n_past + k;
                b.seq[k] = sl->seq;
                b.logits[k] = 0;
            }
            sl->i_prompt += take;
            sl->n_past += take;
            if (sl->i_prompt == sl->n_prompt) {
                b.logits[take - 1] = 1;
                sl->logit_idx = 0;
            }
            if (engine_pass(s, &b, take, slots, np)) break;
        }
    }
out:
    edgellm_context_set_abort(s->ctx, NULL, NULL);
    while (g_spills) spill_drop(&g_spills); /* their token lists die with the server */
    if (slots)
        for (int i = 0; i < np; i++) {
            if (slots[i].job) {
                emit_end_payload(slots[i].job, "stop");
                slot_release(s, &slots[i]);
            }
            free(slots[i].cache);
        }
    free(slots);
    free(b.tok);
    free(b.pos);
    free(b.seq);
    free(b.logits);
}

static void *engine_main(void *arg) {
    engine_loop(arg);
    return NULL;
}

int srv_engine_start(struct server *s) {
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (pthread_create(&s->engine, NULL, engine_main, s)) return -1;
    s->engine_on = 1;
    return 0;
}

void srv_engine_stop(struct server *s) {
    if (!s->engine_on) return;
    s->engine_on = 0;
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->engine, NULL);
    /* jobs still waiting get an end so their readers return */
    for (struct srv_job *j = s->wait_head, *n; j; j = n) {
        n = j->next_waiting;
        emit_end(j, "stop");
        srv_job_unref(j);
    }
    s->wait_head = s->wait_tail = NULL;
}
