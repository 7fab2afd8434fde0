/* edgellm serve — what a running server is doing: GET /metrics (Prometheus text format 0.0.4)
 * and GET /slots. The engine and the HTTP threads count under server.mu. */
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "server.h"

/* Histogram bucket bounds (seconds) of time to first token and inter-token latency. */
static const double ttft_le[SRV_HIST_N] = {0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128};
static const double itl_le[SRV_HIST_N] = {0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.25, 0.5, 1, 2.5};

static void hist_add(uint64_t *bucket, const double *le, double v) {
    int i = 0;
    while (i < SRV_HIST_N && v > le[i]) i++;
    bucket[i]++;
}

void srv_metrics_request(struct server *s, const char *endpoint, int status) {
    pthread_mutex_lock(&s->mu);
    struct srv_metrics *m = &s->metrics;
    int i = 0;
    while (i < m->n_req && (m->req[i].status != status || strcmp(m->req[i].endpoint, endpoint))) i++;
    if (i == m->n_req && m->n_req < (int)(sizeof m->req / sizeof m->req[0])) {
        m->req[i].endpoint = endpoint;
        m->req[i].status = status;
        m->req[i].n = 0;
        m->n_req++;
    }
    if (i < m->n_req) m->req[i].n++;
    pthread_mutex_unlock(&s->mu);
}

void srv_metrics_job(struct server *s, const struct srv_job *job) {
    if (s->front) s = s->front;
    pthread_mutex_lock(&s->mu);
    struct srv_metrics *m = &s->metrics;
    m->tokens_prompt += (uint64_t)job->n_prompt;
    m->tokens_evaluated += (uint64_t)job->n_evaluated;
    m->tokens_cached += (uint64_t)job->n_cached;
    m->tokens_generated += (uint64_t)job->n_gen;
    if (job->n_gen > 0 && job->t_first_ns >= job->t_start_ns) {
        double v = (double)(job->t_first_ns - job->t_start_ns) * 1e-9;
        hist_add(m->ttft_bucket, ttft_le, v);
        m->ttft_count++;
        m->ttft_sum += v;
    }
    pthread_mutex_unlock(&s->mu);
}

void srv_metrics_itl(struct server *s, double v) {
    if (s->front) s = s->front;
    pthread_mutex_lock(&s->mu);
    hist_add(s->metrics.itl_bucket, itl_le, v);
    s->metrics.itl_count++;
    s->metrics.itl_sum += v;
    pthread_mutex_unlock(&s->mu);
}

static void addf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void addf(struct sbuf *b, const char *fmt, ...) {
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n > 0) sbuf_add(b, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static void hist_text(struct sbuf *b, const char *name, const char *help, const uint64_t *bucket, const double *le,
                      uint64_t count, double sum) {
    addf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (int i = 0; i < SRV_HIST_N; i++) {
        cum += bucket[i];
        addf(b, "%s_bucket{le=\"%g\"} %llu\n", name, le[i], (unsigned long long)cum);
    }
    addf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name, (unsigned long long)count, name, sum, name,
         (unsigned long long)count);
}

void srv_metrics_text(struct server *s, struct srv_reply *r) {
    struct sbuf *b = &r->body;
    pthread_mutex_lock(&s->mu);
    const struct srv_metrics *m = &s->metrics;
    addf(b, "# HELP edgellm_requests_total HTTP requests answered, by endpoint and status.\n"
            "# TYPE edgellm_requests_total counter\n");
    for (int i = 0; i < m->n_req; i++)
        addf(b, "edgellm_requests_total{endpoint=\"%s\",status=\"%d\"} %llu\n", m->req[i].endpoint, m->req[i].status,
             (unsigned long long)m->req[i].n);
    addf(b, "# HELP edgellm_tokens_total Tokens of finished requests: prompt (as sent), evaluated, taken from a slot's cache, generated.\n"
            "# TYPE edgellm_tokens_total counter\n");
    addf(b, "edgellm_tokens_total{kind=\"prompt\"} %llu\n", (unsigned long long)m->tokens_prompt);
    addf(b, "edgellm_tokens_total{kind=\"evaluated\"} %llu\n", (unsigned long long)m->tokens_evaluated);
    addf(b, "edgellm_tokens_total{kind=\"cached\"} %llu\n", (unsigned long long)m->tokens_cached);
    addf(b, "edgellm_tokens_total{kind=\"generated\"} %llu\n", (unsigned long long)m->tokens_generated);
    hist_text(b, "edgellm_time_to_first_token_seconds", "From accepting a request to its first generated token.",
              m->ttft_bucket, ttft_le, m->ttft_count, m->ttft_sum);
    hist_text(b, "edgellm_inter_token_latency_seconds", "Between consecutive generated tokens of a request.", m->itl_bucket,
              itl_le, m->itl_count, m->itl_sum);
    if (s->pool) {
        pthread_mutex_unlock(&s->mu);
        srv_pool_metrics(s->pool, r);
        r->status = 200;
        r->content_type = "text/plain; version=0.0.4; charset=utf-8";
        return;
    }
    uint64_t used = 0;
    for (int i = 0; i < s->n_parallel; i++) used += (uint64_t)s->slot_info[i].n_cached;
    addf(b, "# HELP edgellm_queue_depth Requests waiting for a slot.\n# TYPE edgellm_queue_depth gauge\nedgellm_queue_depth %d\n",
         s->n_waiting);
    addf(b, "# HELP edgellm_slots_busy Slots generating.\n# TYPE edgellm_slots_busy gauge\nedgellm_slots_busy %d\n", s->n_busy);
    addf(b, "# HELP edgellm_kv_cache_used_ratio Cached positions over all slots' positions.\n"
            "# TYPE edgellm_kv_cache_used_ratio gauge\nedgellm_kv_cache_used_ratio %.6f\n",
         (double)used / ((double)s->n_ctx * s->n_parallel));
    pthread_mutex_unlock(&s->mu);
    addf(b, "# HELP edgellm_model_loaded_bytes Size of the loaded model file.\n# TYPE edgellm_model_loaded_bytes gauge\n"
            "edgellm_model_loaded_bytes{model=\"%s\"} %llu\n", s->model_id, (unsigned long long)s->desc.file_size);
    r->status = 200;
    r->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

void srv_slots_json(struct server *s, struct srv_reply *r) {
    struct sbuf *b = &r->body;
    sbuf_adds(b, "[");
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->n_parallel; i++) {
        const struct srv_slot_info *in = &s->slot_info[i];
        addf(b, "%s{\"id\":%d,\"n_ctx\":%u,\"n_cached\":%d,\"state\":\"%s\",\"conversation_hits\":%llu,"
                "\"cached_tokens_total\":%llu,\"evaluated_tokens_total\":%llu,\"spilled\":%d}",
             i ? "," : "", i, (unsigned)s->n_ctx, (int)in->n_cached, in->busy ? "busy" : "idle",
             (unsigned long long)in->conversation_hits, (unsigned long long)in->cached_tokens_total,
             (unsigned long long)in->evaluated_tokens_total, in->spilled);
    }
    pthread_mutex_unlock(&s->mu);
    sbuf_adds(b, "]");
    r->status = 200;
    r->content_type = "application/json";
}

/* A slot file name: [A-Za-z0-9._-]{1,128} without "..". */
static int slot_name_ok(const char *n) {
    size_t len = strlen(n);
    if (len < 1 || len > 128 || strstr(n, "..")) return 0;
    for (const char *p = n; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' ||
              *p == '-'))
            return 0;
    return 1;
}

void srv_slot_action(struct server *s, int slot_id, const char *action, const char *body, size_t len, struct srv_reply *r) {
    if (!s->slot_save_path) {
        srv_reply_error(r, 400, "invalid_request_error", "saving and restoring slots needs the server started with --slot-save-path DIR");
        return;
    }
    int restore = action && !strcmp(action, "restore");
    if (!action || (!restore && strcmp(action, "save"))) {
        srv_reply_error(r, 400, "invalid_request_error", "action must be save or restore (POST /slots/{id}?action=save)");
        return;
    }
    struct cJSON *root = srvj_body(body, len, r);
    if (!root) return;
    const char *name = NULL;
    int rc = srvj_str(root, "filename", &name, r);
    if (rc < 0) goto done;
    if (!rc || !slot_name_ok(name)) {
        srv_reply_error(r, 400, "invalid_request_error",
                        "filename must be 1 to 128 of the characters A-Z a-z 0-9 . _ - without \"..\"");
        goto done;
    }
    struct srv_slot_req rq;
    memset(&rq, 0, sizeof rq);
    rq.slot = slot_id;
    rq.restore = restore;
    snprintf(rq.path, sizeof rq.path, "%s/%s", s->slot_save_path, name);
    pthread_mutex_lock(&s->mu);
    while (s->slot_req && !s->stopping) pthread_cond_wait(&s->cv, &s->mu);
    s->slot_req = &rq;
    pthread_cond_broadcast(&s->cv);
    while (!rq.status && !s->stopping) pthread_cond_wait(&s->cv, &s->mu);
    s->slot_req = NULL;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (rq.status != 200) {
        srv_reply_error(r, rq.status ? rq.status : 503, rq.status == 404 ? "not_found_error" : "invalid_request_error", "%s",
                        rq.status ? rq.msg : "the server is stopping");
        goto done;
    }
    char json[400];
    if (restore)
        snprintf(json, sizeof json, "{\"id_slot\":%d,\"filename\":\"%s\",\"n_restored\":%zu}", slot_id, name, rq.bytes);
    else
        snprintf(json, sizeof json, "{\"id_slot\":%d,\"filename\":\"%s\",\"n_written\":%zu}", slot_id, name, rq.bytes);
    srv_reply_json(r, 200, json);
done:
    cJSON_Delete(root);
}
