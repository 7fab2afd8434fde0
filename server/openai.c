/* edgellm serve — the OpenAI API: /v1/chat/completions, /v1/completions, /v1/models.
 * Requests are validated member by member (400 names the member); outputs are built with cJSON:
 * streaming as Server-Sent Events of chat.completion.chunk / text_completion objects ending with
 * `data: [DONE]`, otherwise one object once generation ends. Also the typed JSON helpers (srvj_*)
 * that ollama.c shares. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "server.h"

/* ---- typed members -------------------------------------------------------- */

static const cJSON *member(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return (v && !cJSON_IsNull(v)) ? v : NULL;
}

int srvj_bool(const cJSON *o, const char *key, int *out, struct srv_reply *r) {
    const cJSON *v = member(o, key);
    if (!v) return 0;
    if (!cJSON_IsBool(v)) {
        srv_reply_error(r, 400, "invalid_request_error", "'%s' must be a boolean", key);
        return -1;
    }
    *out = cJSON_IsTrue(v);
    return 1;
}

int srvj_num(const cJSON *o, const char *key, double lo, double hi, double *out, struct srv_reply *r) {
    const cJSON *v = member(o, key);
    if (!v) return 0;
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi)) {
        srv_reply_error(r, 400, "invalid_request_error", "'%s' must be a number in [%g, %g]", key, lo, hi);
        return -1;
    }
    *out = v->valuedouble;
    return 1;
}

int srvj_int(const cJSON *o, const char *key, double lo, double hi, long long *out, struct srv_reply *r) {
    const cJSON *v = member(o, key);
    if (!v) return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || !(v->valuedouble >= lo && v->valuedouble <= hi)) {
        srv_reply_error(r, 400, "invalid_request_error", "'%s' must be an integer in [%.0f, %.0f]", key, lo, hi);
        return -1;
    }
    *out = (long long)v->valuedouble;
    return 1;
}

int srvj_opts(const cJSON *o, const struct srvj_opt *opts, int n, struct srv_reply *r) {
    for (int k = 0; k < n; k++) {
        double d;
        long long ll;
        int rc = opts[k].i ? srvj_int(o, opts[k].key, opts[k].lo, opts[k].hi, &ll, r)
                           : srvj_num(o, opts[k].key, opts[k].lo, opts[k].hi, &d, r);
        if (rc < 0) return -1;
        if (rc && opts[k].i) *opts[k].i = (int32_t)ll;
        else if (rc) *opts[k].f = (float)d;
    }
    return 0;
}

int srvj_str(const cJSON *o, const char *key, const char **out, struct srv_reply *r) {
    const cJSON *v = member(o, key);
    if (!v) return 0;
    if (!cJSON_IsString(v)) {
        srv_reply_error(r, 400, "invalid_request_error", "'%s' must be a string", key);
        return -1;
    }
    *out = v->valuestring;
    return 1;
}

static int add_stop(struct srv_job *job, const char *s, struct srv_reply *r) {
    if (!*s) return 0; /* an empty stop string would end every answer at once: ignore it */
    if (job->n_stop >= SRV_MAX_STOP) {
        srv_reply_error(r, 400, "invalid_request_error", "at most %d stop strings are supported", SRV_MAX_STOP);
        return -1;
    }
    job->stop[job->n_stop] = strdup(s);
    if (job->stop[job->n_stop]) job->n_stop++;
    return 0;
}

int srvj_stop(const cJSON *o, const char *key, struct srv_job *job, struct srv_reply *r) {
    const cJSON *v = member(o, key);
    if (!v) return 0;
    if (cJSON_IsString(v)) return add_stop(job, v->valuestring, r) ? -1 : 1;
    if (cJSON_IsArray(v)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, v) {
            if (!cJSON_IsString(e)) break;
            if (add_stop(job, e->valuestring, r)) return -1;
        }
        if (!e) return 1;
    }
    srv_reply_error(r, 400, "invalid_request_error", "'%s' must be a string or a list of strings", key);
    return -1;
}

int srvj_logit_bias(const cJSON *o, const char *key, struct srv_job *job, struct srv_reply *r) {
    const cJSON *v = member(o, key), *e;
    if (!v) return 0;
    if (!cJSON_IsObject(v)) {
        srv_reply_error(r, 400, "invalid_request_error", "'%s' must be an object of token id -> bias", key);
        return -1;
    }
    int n = cJSON_GetArraySize(v), i = 0;
    free(job->bias);
    job->bias = NULL;
    job->sp.logit_bias = NULL;
    job->sp.n_logit_bias = 0;
    if (n == 0) return 1;
    if (n > 1000000 || !(job->bias = calloc((size_t)n, sizeof *job->bias))) {
        srv_reply_error(r, 400, "invalid_request_error", "'%s' has too many entries", key);
        return -1;
    }
    cJSON_ArrayForEach(e, v) {
        char *end = NULL;
        long id = e->string ? strtol(e->string, &end, 10) : -1;
        if (!e->string || end == e->string || *end || id < 0 || id > INT32_MAX || !cJSON_IsNumber(e) || !isfinite(e->valuedouble)) {
            srv_reply_error(r, 400, "invalid_request_error", "'%s' must map token ids (\"123\") to numbers; bad entry '%.40s'", key,
                            e->string ? e->string : "");
            return -1;
        }
        job->bias[i].token = (edgellm_token)id;
        job->bias[i].bias = (float)e->valuedouble;
        i++;
    }
    job->sp.logit_bias = job->bias;
    job->sp.n_logit_bias = i;
    return 1;
}

char *srvj_messages(const cJSON *msgs, struct srv_reply *r) {
    static const char *const roles[] = {"system", "user", "assistant", "tool", "developer"};
    if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0) {
        srv_reply_error(r, 400, "invalid_request_error", "'messages' must be a non-empty list");
        return NULL;
    }
    cJSON *out = cJSON_CreateArray();
    int i = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs) {
        const char *role = NULL;
        const cJSON *jr = cJSON_IsObject(m) ? cJSON_GetObjectItemCaseSensitive(m, "role") : NULL;
        if (!cJSON_IsString(jr)) {
            srv_reply_error(r, 400, "invalid_request_error", "messages[%d] must be an object with a string 'role'", i);
            goto fail;
        }
        for (size_t k = 0; k < sizeof(roles) / sizeof(roles[0]); k++)
            if (!strcmp(jr->valuestring, roles[k])) role = roles[k];
        if (!role) {
            srv_reply_error(r, 400, "invalid_request_error",
                            "messages[%d].role '%.40s' is not one of system, user, assistant, tool, developer", i,
                            jr->valuestring);
            goto fail;
        }
        if (!strcmp(role, "developer")) role = "system";
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(m, "content");
        struct sbuf text = {0};
        sbuf_adds(&text, "");
        if (cJSON_IsString(c)) {
            sbuf_adds(&text, c->valuestring);
        } else if (cJSON_IsArray(c)) {
            const cJSON *part;
            cJSON_ArrayForEach(part, c) {
                const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
                const cJSON *ty = cJSON_GetObjectItemCaseSensitive(part, "type");
                if (!cJSON_IsString(t) || (ty && (!cJSON_IsString(ty) || strcmp(ty->valuestring, "text")))) {
                    sbuf_free(&text);
                    srv_reply_error(r, 400, "invalid_request_error",
                                    "messages[%d].content: only parts of type 'text' are supported", i);
                    goto fail;
                }
                sbuf_adds(&text, t->valuestring);
            }
        } else if (!(c == NULL || cJSON_IsNull(c)) || strcmp(role, "assistant")) {
            sbuf_free(&text);
            srv_reply_error(r, 400, "invalid_request_error", "messages[%d].content must be a string or a list of text parts", i);
            goto fail;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "role", role);
        cJSON_AddStringToObject(o, "content", text.p ? text.p : "");
        cJSON_AddItemToArray(out, o);
        sbuf_free(&text);
        i++;
    }
    char *json = cJSON_PrintUnformatted(out);
    cJSON_Delete(out);
    if (!json) srv_reply_error(r, 500, "server_error", "out of memory");
    return json;
fail:
    cJSON_Delete(out);
    return NULL;
}

void srv_submit(struct server *s, struct srv_job *job, struct srv_reply *r) {
    if (srv_enqueue(s, job)) {
        srv_reply_error(r, 503, "server_overloaded", "the server is busy: %d requests are already waiting", SRV_QUEUE_MAX);
        return;
    }
    r->status = 200;
    r->content_type = job->stream ? (job->api == SRV_OLLAMA_CHAT || job->api == SRV_OLLAMA_GENERATE
                                     ? "application/x-ndjson; charset=utf-8" : "text/event-stream; charset=utf-8")
                                  : "application/json";
    r->job = job;
}

/* ---- requests ---------------------------------------------------------- */

/* The sampling members both OpenAI endpoints share. */
static int parse_common(const cJSON *root, struct srv_job *job, long long *max_tokens, struct srv_reply *r) {
    long long ll;
    int b, rc;
    const char *model;
    if (srvj_str(root, "model", &model, r) < 0) return -1;
    if (srvj_bool(root, "stream", &job->stream, r) < 0) return -1;
    if ((rc = srvj_int(root, "max_tokens", 1, 1e9, max_tokens, r)) < 0) return -1;
    if (!rc && srvj_int(root, "max_completion_tokens", 1, 1e9, max_tokens, r) < 0) return -1;
    job->sp.temperature = 1.0f;
    job->sp.top_p = 1.0f;
    job->sp.top_k = 0;
    job->sp.min_p = 0;
    job->sp.repeat_penalty = 1.0f;
    const struct srvj_opt opts[] = {
        {"temperature", 0, 2, &job->sp.temperature, NULL},
        {"top_p", 0, 1, &job->sp.top_p, NULL},
        {"top_k", 0, 1e9, NULL, &job->sp.top_k},
        {"min_p", 0, 1, &job->sp.min_p, NULL},
        {"presence_penalty", -2, 2, &job->sp.presence_penalty, NULL},
        {"frequency_penalty", -2, 2, &job->sp.frequency_penalty, NULL},
    };
    if (srvj_opts(root, opts, (int)(sizeof opts / sizeof opts[0]), r) < 0) return -1;
    if ((rc = srvj_int(root, "seed", -9.2e18, 9.2e18, &ll, r)) < 0) return -1;
    job->sp.seed = rc ? (uint64_t)ll : (uint64_t)srv_now_ns();
    if (srvj_stop(root, "stop", job, r) < 0) return -1;
    if (srvj_logit_bias(root, "logit_bias", job, r) < 0) return -1;
    if (srvj_bool(root, "ignore_eos", &job->ignore_eos, r) < 0) return -1;
    if (srvj_bool(root, "cache_prompt", &job->cache_prompt, r) < 0) return -1;
    if ((rc = srvj_int(root, "n", 1, 1, &ll, r)) < 0) return -1;
    const cJSON *so = member(root, "stream_options");
    if (so) {
        if (!cJSON_IsObject(so)) {
            srv_reply_error(r, 400, "invalid_request_error", "'stream_options' must be an object");
            return -1;
        }
        if ((rc = srvj_bool(so, "include_usage", &b, r)) < 0) return -1;
        if (rc) job->include_usage = b;
    }
    return 0;
}

cJSON *srvj_body(const char *body, size_t len, struct srv_reply *r) {
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!root || !cJSON_IsObject(root)) {
        srv_reply_error(r, 400, "invalid_request_error", root ? "the body must be a JSON object" : "malformed JSON in the request body");
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

void oai_chat(struct server *s, const char *body, size_t len, struct srv_reply *r) {
    cJSON *root = srvj_body(body, len, r);
    if (!root) return;
    struct srv_job *job = srv_job_new();
    char *msgs = NULL, *kwargs = NULL;
    long long max_tokens = -1;
    int enable_thinking = 1;
    if (!job) { srv_reply_error(r, 500, "server_error", "out of memory"); goto done; }
    job->api = SRV_OAI_CHAT;
    if (parse_common(root, job, &max_tokens, r)) goto done;
    if (!(msgs = srvj_messages(cJSON_GetObjectItemCaseSensitive(root, "messages"), r))) goto done;
    const cJSON *kw = member(root, "chat_template_kwargs");
    if (kw) {
        if (!cJSON_IsObject(kw)) {
            srv_reply_error(r, 400, "invalid_request_error", "'chat_template_kwargs' must be an object");
            goto done;
        }
        if (srvj_bool(kw, "enable_thinking", &enable_thinking, r) < 0) goto done;
        kwargs = cJSON_PrintUnformatted(kw);
    }
    if (srv_job_prepare_chat(s, job, msgs, enable_thinking, kwargs, (int32_t)max_tokens, r)) goto done;
    srv_submit(s, job, r);
done:
    if (job && !r->job) srv_job_unref(job);
    free(msgs);
    free(kwargs);
    cJSON_Delete(root);
}

void oai_completion(struct server *s, const char *body, size_t len, struct srv_reply *r) {
    cJSON *root = srvj_body(body, len, r);
    if (!root) return;
    struct srv_job *job = srv_job_new();
    long long max_tokens = 16; /* OpenAI's default for this endpoint */
    if (!job) { srv_reply_error(r, 500, "server_error", "out of memory"); goto done; }
    job->api = SRV_OAI_COMPLETION;
    job->raw_text = 1;
    if (parse_common(root, job, &max_tokens, r)) goto done;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "prompt");
    if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1 && cJSON_IsString(cJSON_GetArrayItem(p, 0)))
        p = cJSON_GetArrayItem(p, 0);
    if (!cJSON_IsString(p)) {
        srv_reply_error(r, 400, "invalid_request_error", "'prompt' must be a string");
        goto done;
    }
    if (srv_job_prepare(s, job, p->valuestring, (int32_t)max_tokens, r)) goto done;
    srv_submit(s, job, r);
done:
    if (job && !r->job) srv_job_unref(job);
    cJSON_Delete(root);
}

void oai_models(struct server *s, struct srv_reply *r) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(root, "data");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", s->model_id);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", 0);
    cJSON_AddStringToObject(m, "owned_by", "edgellm");
    cJSON_AddItemToArray(data, m);
    char *json = cJSON_PrintUnformatted(root);
    srv_reply_json(r, 200, json ? json : "{}");
    free(json);
    cJSON_Delete(root);
}

/* ---- outputs (engine thread) ------------------------------------------ */

static cJSON *chunk_head(struct srv_job *job) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", job->id);
    cJSON_AddStringToObject(o, "object", job->api == SRV_OAI_CHAT ? (job->stream ? "chat.completion.chunk" : "chat.completion")
                                                                 : "text_completion");
    cJSON_AddNumberToObject(o, "created", (double)job->created);
    cJSON_AddStringToObject(o, "model", job->model);
    cJSON_AddStringToObject(o, "system_fingerprint", "edgellm-" EDGELLM_VERSION);
    return o;
}

static void push_sse(struct srv_job *job, cJSON *o) {
    char *json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!json) return;
    struct sbuf b = {0};
    sbuf_adds(&b, "data: ");
    sbuf_adds(&b, json);
    sbuf_adds(&b, "\n\n");
    srv_job_push(job, b.p, b.len);
    sbuf_free(&b);
    free(json);
}

static cJSON *timings(struct srv_job *job);

/* One streaming chunk: a delta (text != NULL) or the end (finish != NULL, with the timings). */
static void stream_chunk(struct srv_job *job, const char *key, const char *text, const char *finish) {
    cJSON *o = chunk_head(job);
    cJSON *choices = cJSON_AddArrayToObject(o, "choices");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "index", 0);
    if (job->api == SRV_OAI_CHAT) {
        cJSON *d = cJSON_AddObjectToObject(c, "delta");
        if (!job->sent_head) {
            cJSON_AddStringToObject(d, "role", "assistant");
            if (!text) cJSON_AddStringToObject(d, "content", "");
        }
        if (text) cJSON_AddStringToObject(d, key, text);
    } else {
        cJSON_AddStringToObject(c, "text", text ? text : "");
    }
    job->sent_head = 1;
    cJSON_AddNullToObject(c, "logprobs");
    if (finish) cJSON_AddStringToObject(c, "finish_reason", finish);
    else cJSON_AddNullToObject(c, "finish_reason");
    cJSON_AddItemToArray(choices, c);
    if (finish) cJSON_AddItemToObject(o, "timings", timings(job));
    push_sse(job, o);
}

static void stream_chunk_end(struct srv_job *job, const char *finish) { stream_chunk(job, "content", NULL, finish); }

static cJSON *usage(struct srv_job *job) {
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", job->n_prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", job->n_gen);
    cJSON_AddNumberToObject(u, "total_tokens", job->n_prompt + job->n_gen);
    cJSON *d = cJSON_AddObjectToObject(u, "prompt_tokens_details");
    cJSON_AddNumberToObject(d, "cached_tokens", job->n_cached);
    return u;
}

/* llama.cpp-style timings, and whether a context shift dropped part of the conversation. */
static cJSON *timings(struct srv_job *job) {
    cJSON *t = cJSON_CreateObject();
    double prompt_ms = (double)(job->t_first_ns - job->t_start_ns) * 1e-6, gen_ms = (double)(job->t_end_ns - job->t_first_ns) * 1e-6;
    cJSON_AddNumberToObject(t, "cache_n", job->n_cached);
    cJSON_AddNumberToObject(t, "prompt_n", job->n_evaluated);
    cJSON_AddNumberToObject(t, "prompt_ms", prompt_ms);
    cJSON_AddNumberToObject(t, "predicted_n", job->n_gen);
    cJSON_AddNumberToObject(t, "predicted_ms", gen_ms);
    if (job->n_discarded) {
        cJSON_AddTrueToObject(t, "context_shifted");
        cJSON_AddNumberToObject(t, "n_discarded", job->n_discarded);
    }
    return t;
}

void oai_emit_delta(struct srv_job *job, int reasoning, const char *text, size_t len) {
    if (!job->stream) {
        sbuf_add(reasoning ? &job->reasoning : &job->content, text, len);
        return;
    }
    char *t = strndup(text, len);
    if (!t) return;
    stream_chunk(job, reasoning ? "reasoning_content" : "content", t, NULL);
    free(t);
}

void oai_emit_end(struct srv_job *job, const char *finish_reason) {
    if (job->stream) {
        if (job->api == SRV_OAI_CHAT && !job->sent_head) stream_chunk(job, "content", NULL, NULL);
        stream_chunk_end(job, finish_reason);
        if (job->include_usage) {
            cJSON *o = chunk_head(job);
            cJSON_AddArrayToObject(o, "choices");
            cJSON_AddItemToObject(o, "usage", usage(job));
            push_sse(job, o);
        }
        srv_job_push(job, "data: [DONE]\n\n", 14);
        return;
    }
    cJSON *o = chunk_head(job);
    cJSON *choices = cJSON_AddArrayToObject(o, "choices");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "index", 0);
    if (job->api == SRV_OAI_CHAT) {
        cJSON *m = cJSON_AddObjectToObject(c, "message");
        cJSON_AddStringToObject(m, "role", "assistant");
        cJSON_AddStringToObject(m, "content", job->content.p ? job->content.p : "");
        if (job->reasoning.len) cJSON_AddStringToObject(m, "reasoning_content", job->reasoning.p);
    } else {
        cJSON_AddStringToObject(c, "text", job->content.p ? job->content.p : "");
    }
    cJSON_AddNullToObject(c, "logprobs");
    cJSON_AddStringToObject(c, "finish_reason", finish_reason);
    cJSON_AddItemToArray(choices, c);
    cJSON_AddItemToObject(o, "usage", usage(job));
    cJSON_AddItemToObject(o, "timings", timings(job));
    char *json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (json) srv_job_push(job, json, strlen(json));
    free(json);
}
