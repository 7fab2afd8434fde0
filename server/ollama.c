/* edgellm serve — the Ollama API: /api/chat, /api/generate, /api/tags, /api/version.
 * Same jobs as the OpenAI side with Ollama's request shape (sampling in "options") and outputs:
 * NDJSON lines {"model","created_at","message"|"response",...,"done":false} then a final line with
 * done_reason and token counts / durations in nanoseconds; errors are {"error":"..."}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cjson/cJSON.h>
#include "server.h"

/* Ollama's errors are {"error": "text"}: rewrite the OpenAI-shaped error a helper produced. */
static void to_ollama_error(struct srv_reply *r) {
    if (r->status < 400 || !r->body.p) return;
    cJSON *o = cJSON_Parse(r->body.p);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "error", cJSON_IsString(m) ? m->valuestring : "error");
    char *json = cJSON_PrintUnformatted(out);
    if (json) srv_reply_json(r, r->status, json);
    free(json);
    cJSON_Delete(out);
    cJSON_Delete(o);
}

static int parse_options(const cJSON *root, struct srv_job *job, long long *num_predict, struct srv_reply *r) {
    const char *model;
    int rc;
    long long ll;
    if (srvj_str(root, "model", &model, r) < 0) return -1;
    job->stream = 1;
    if (srvj_bool(root, "stream", &job->stream, r) < 0) return -1;
    if (srvj_bool(root, "cache_prompt", &job->cache_prompt, r) < 0) return -1;
    /* Ollama's defaults */
    job->sp.temperature = 0.8f;
    job->sp.top_k = 40;
    job->sp.top_p = 0.9f;
    job->sp.min_p = 0;
    job->sp.repeat_penalty = 1.1f;
    job->sp.penalty_last_n = 64;
    job->sp.seed = (uint64_t)srv_now_ns();
    const cJSON *opt = cJSON_GetObjectItemCaseSensitive(root, "options");
    if (!opt || cJSON_IsNull(opt)) return 0;
    if (!cJSON_IsObject(opt)) {
        srv_reply_error(r, 400, "invalid_request_error", "'options' must be an object");
        return -1;
    }
    if ((rc = srvj_int(opt, "num_predict", -2, 1e9, num_predict, r)) < 0) return -1;
    if (rc && *num_predict <= 0) *num_predict = -1; /* -1 infinite, -2 fill the context */
    const struct srvj_opt opts[] = {
        {"temperature", 0, 100, &job->sp.temperature, NULL},
        {"top_p", 0, 1, &job->sp.top_p, NULL},
        {"top_k", 0, 1e9, NULL, &job->sp.top_k},
        {"min_p", 0, 1, &job->sp.min_p, NULL},
        {"repeat_penalty", 0, 100, &job->sp.repeat_penalty, NULL},
        {"repeat_last_n", -1, 1e9, NULL, &job->sp.penalty_last_n},
        {"presence_penalty", -100, 100, &job->sp.presence_penalty, NULL},
        {"frequency_penalty", -100, 100, &job->sp.frequency_penalty, NULL},
    };
    if (srvj_opts(opt, opts, (int)(sizeof opts / sizeof opts[0]), r) < 0) return -1;
    if ((rc = srvj_int(opt, "seed", -9.2e18, 9.2e18, &ll, r)) < 0) return -1;
    if (rc) job->sp.seed = (uint64_t)ll;
    if (srvj_stop(opt, "stop", job, r) < 0) return -1;
    if (srvj_logit_bias(opt, "logit_bias", job, r) < 0) return -1;
    return 0;
}

/* "think": true/false (newer Ollama also allows "high"/"low"...: any string means on). */
static int parse_think(const cJSON *root, int *think, struct srv_reply *r) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "think");
    if (!t || cJSON_IsNull(t)) return 0;
    if (cJSON_IsBool(t)) *think = cJSON_IsTrue(t);
    else if (cJSON_IsString(t)) *think = 1;
    else {
        srv_reply_error(r, 400, "invalid_request_error", "'think' must be a boolean");
        return -1;
    }
    return 0;
}

/* "format": "json" (any JSON object) or a JSON schema (unknown keywords ignored). *constrained
 * is set when present; *schema (malloc'd) holds the schema text, NULL for "json". */
static int parse_format(const cJSON *root, int *constrained, char **schema, struct srv_reply *r) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(root, "format");
    *constrained = 0;
    *schema = NULL;
    if (!f || cJSON_IsNull(f) || (cJSON_IsString(f) && !f->valuestring[0])) return 0;
    if (cJSON_IsString(f) && !strcmp(f->valuestring, "json")) { *constrained = 1; return 0; }
    if (cJSON_IsObject(f)) {
        *constrained = 1;
        if (!(*schema = cJSON_PrintUnformatted(f))) { srv_reply_error(r, 500, "server_error", "out of memory"); return -1; }
        return 0;
    }
    srv_reply_error(r, 400, "invalid_request_error", "'format' must be \"json\" or a JSON schema object");
    return -1;
}

void ollama_chat(struct server *s, const char *body, size_t len, struct srv_reply *r) {
    cJSON *root = srvj_body(body, len, r);
    struct srv_job *job = NULL;
    char *msgs = NULL, *schema = NULL, *kwargs = NULL;
    long long num_predict = -1;
    int think = 1, constrained = 0;
    if (!root) goto done;
    if (!(job = srv_job_new())) { srv_reply_error(r, 500, "server_error", "out of memory"); goto done; }
    job->api = SRV_OLLAMA_CHAT;
    if (parse_options(root, job, &num_predict, r) || parse_think(root, &think, r)) goto done;
    if (parse_format(root, &constrained, &schema, r)) goto done;
    struct srv_tools_req tr;
    if (srv_tools_parse(s, root, &tr, r)) goto done;
    if (constrained && tr.mode == SRV_TOOLS_AUTO) tr.mode = SRV_TOOLS_OFF; /* the schema wins over "auto" */
    if (tr.mode == SRV_TOOLS_REQUIRED) constrained = 0;
    if (constrained || tr.mode == SRV_TOOLS_REQUIRED) think = 0; /* no reasoning for constrained requests */
    if (!(msgs = srvj_messages(cJSON_GetObjectItemCaseSensitive(root, "messages"), r))) goto done;
    if (tr.tools && !(kwargs = srv_tools_kwargs(tr.tools, NULL))) { srv_reply_error(r, 500, "server_error", "out of memory"); goto done; }
    job->strict_template = tr.tools != NULL || strstr(msgs, "\"tool_calls\"") || strstr(msgs, "\"role\":\"tool\"");
    if (srv_job_prepare_chat(s, job, msgs, think, kwargs, (int32_t)num_predict, r)) goto done;
    if (constrained && srv_job_set_schema(job, schema, 0, r)) goto done;
    if (srv_tools_apply(job, &tr, r)) goto done;
    srv_submit(s, job, r);
done:
    if (job && !r->job) srv_job_unref(job);
    free(msgs);
    free(schema);
    free(kwargs);
    cJSON_Delete(root);
    to_ollama_error(r);
}

void ollama_generate(struct server *s, const char *body, size_t len, struct srv_reply *r) {
    cJSON *root = srvj_body(body, len, r);
    struct srv_job *job = NULL;
    char *msgs = NULL;
    long long num_predict = -1;
    int think = 1, raw = 0;
    const char *text = NULL, *system = NULL;
    if (!root) goto done;
    if (!(job = srv_job_new())) { srv_reply_error(r, 500, "server_error", "out of memory"); goto done; }
    job->api = SRV_OLLAMA_GENERATE;
    if (parse_options(root, job, &num_predict, r) || parse_think(root, &think, r)) goto done;
    if (srvj_bool(root, "raw", &raw, r) < 0 || srvj_str(root, "system", &system, r) < 0) goto done;
    if (srvj_str(root, "prompt", &text, r) <= 0) {
        if (!r->status) srv_reply_error(r, 400, "invalid_request_error", "'prompt' must be a string");
        goto done;
    }
    if (raw) {
        job->raw_text = 1;
        if (srv_job_prepare(s, job, text, (int32_t)num_predict, r)) goto done;
    } else {
        /* the prompt becomes a user turn of the model's template, as Ollama does */
        cJSON *list = cJSON_CreateArray();
        if (system) {
            cJSON *m = cJSON_CreateObject();
            cJSON_AddStringToObject(m, "role", "system");
            cJSON_AddStringToObject(m, "content", system);
            cJSON_AddItemToArray(list, m);
        }
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", "user");
        cJSON_AddStringToObject(m, "content", text);
        cJSON_AddItemToArray(list, m);
        msgs = cJSON_PrintUnformatted(list);
        cJSON_Delete(list);
        if (!msgs || srv_job_prepare_chat(s, job, msgs, think, NULL, (int32_t)num_predict, r)) goto done;
    }
    srv_submit(s, job, r);
done:
    if (job && !r->job) srv_job_unref(job);
    free(msgs);
    cJSON_Delete(root);
    to_ollama_error(r);
}

static void utc_now(char *buf, size_t size) {
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, size - n, ".%09ldZ", (long)ts.tv_nsec);
}

void ollama_tags(struct server *s, struct srv_reply *r) {
    int n = 0;
    struct srv_model_info *in = srv_model_infos(s, &n);
    cJSON *root = cJSON_CreateObject();
    cJSON *models = cJSON_AddArrayToObject(root, "models");
    for (int i = 0; i < n; i++) {
        cJSON *m = cJSON_CreateObject();
        srv_model_details(m, &in[i]);
        cJSON_AddItemToArray(models, m);
    }
    free(in);
    srv_reply_cjson(r, 200, root);
}

/* POST /api/show {"model"} (s: the model's instance): details, model_info, the chat template. */
void ollama_show(struct server *s, const char *body, size_t len, struct srv_reply *r) {
    struct srv_model_info info = s->info;
    if (s->pool) { /* from the scan: showing a model does not load it */
        cJSON *req = srvj_body(body, len, r);
        if (!req) {
            to_ollama_error(r);
            return;
        }
        const cJSON *mv = cJSON_GetObjectItemCaseSensitive(req, "model");
        if (!cJSON_IsString(mv)) mv = cJSON_GetObjectItemCaseSensitive(req, "name");
        char msg[256];
        snprintf(msg, sizeof msg, "model '%.200s' not found", cJSON_IsString(mv) ? mv->valuestring : "");
        int missing = !cJSON_IsString(mv) || srv_pool_info(s->pool, mv->valuestring, &info);
        cJSON_Delete(req);
        if (missing) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "error", msg);
            srv_reply_cjson(r, 404, e);
            return;
        }
    }
    cJSON *root = cJSON_CreateObject();
    srv_model_details(root, &info);
    cJSON_AddStringToObject(root, "license", "");
    cJSON_AddStringToObject(root, "modelfile", "");
    cJSON_AddStringToObject(root, "parameters", "");
    cJSON_AddStringToObject(root, "template", !s->pool && s->desc.chat_template ? s->desc.chat_template : "");
    cJSON *mi = cJSON_AddObjectToObject(root, "model_info");
    char key[96];
    cJSON_AddStringToObject(mi, "general.architecture", info.family);
    cJSON_AddNumberToObject(mi, "general.parameter_count", (double)info.n_params);
    snprintf(key, sizeof key, "%s.context_length", info.family);
    cJSON_AddNumberToObject(mi, key, info.n_ctx);
    cJSON *caps = cJSON_AddArrayToObject(root, "capabilities");
    cJSON_AddItemToArray(caps, cJSON_CreateString("completion"));
    srv_reply_cjson(r, 200, root);
}

void ollama_version(struct server *s, struct srv_reply *r) {
    srv_reply_json(r, 200, "{\"version\":\"" EDGELLM_VERSION "\"}");
}

/* ---- outputs (engine thread) ------------------------------------------ */

static cJSON *line_head(struct srv_job *job) {
    char when[64];
    utc_now(when, sizeof(when));
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", job->model);
    cJSON_AddStringToObject(o, "created_at", when);
    return o;
}

static void put_text(struct srv_job *job, cJSON *o, const char *content, const char *thinking) {
    if (job->api == SRV_OLLAMA_CHAT) {
        cJSON *m = cJSON_AddObjectToObject(o, "message");
        cJSON_AddStringToObject(m, "role", "assistant");
        cJSON_AddStringToObject(m, "content", content);
        if (thinking && *thinking) cJSON_AddStringToObject(m, "thinking", thinking);
    } else {
        cJSON_AddStringToObject(o, "response", content);
        if (thinking && *thinking) cJSON_AddStringToObject(o, "thinking", thinking);
    }
}

static void push_line(struct srv_job *job, cJSON *o) {
    char *json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!json) return;
    size_t n = strlen(json);
    json[n] = '\n'; /* replaces the NUL: pushed by length */
    srv_job_push(job, json, n + 1);
    free(json);
}

void ollama_emit_delta(struct srv_job *job, int reasoning, const char *text, size_t len) {
    if (!job->stream) {
        sbuf_add(reasoning ? &job->reasoning : &job->content, text, len);
        return;
    }
    if (!reasoning && job->tool_mode != SRV_TOOLS_OFF) {
        /* content up to a possible call opener goes out; the rest waits for the end */
        sbuf_add(&job->content, text, len);
        size_t safe = srv_tools_safe_len(job);
        if (safe > job->content_sent) {
            char *t = strndup(job->content.p + job->content_sent, safe - job->content_sent);
            if (t) {
                cJSON *o = line_head(job);
                put_text(job, o, t, NULL);
                cJSON_AddFalseToObject(o, "done");
                push_line(job, o);
            }
            free(t);
            job->content_sent = safe;
        }
        return;
    }
    char *t = strndup(text, len);
    if (!t) return;
    cJSON *o = line_head(job);
    put_text(job, o, reasoning ? "" : t, reasoning ? t : NULL);
    cJSON_AddFalseToObject(o, "done");
    push_line(job, o);
    free(t);
}

void ollama_emit_end(struct srv_job *job, const char *finish_reason) {
    char *content = NULL;
    cJSON *calls = job->api == SRV_OLLAMA_CHAT ? srv_tools_result(job, &content, 1) : NULL;
    if (job->stream && job->tool_mode != SRV_TOOLS_OFF) {
        /* the held-back content (none when it held calls), then the calls in one message */
        size_t end = job->content.len;
        if (calls) {
            const char *op = srv_tools_opener(job), *f = *op && job->content.p ? strstr(job->content.p, op) : NULL;
            end = f ? (size_t)(f - job->content.p) : job->content_sent;
            if (end < job->content_sent) end = job->content_sent;
        }
        char *t = end > job->content_sent && job->content.p ? strndup(job->content.p + job->content_sent, end - job->content_sent) : NULL;
        if (t || calls) {
            cJSON *o = line_head(job);
            put_text(job, o, t ? t : "", NULL);
            if (calls) cJSON_AddItemToObject(cJSON_GetObjectItemCaseSensitive(o, "message"), "tool_calls", calls);
            calls = NULL;
            cJSON_AddFalseToObject(o, "done");
            push_line(job, o);
        }
        free(t);
    }
    cJSON *o = line_head(job);
    if (job->stream) put_text(job, o, "", NULL);
    else put_text(job, o, calls ? (content ? content : "") : job->content.p ? job->content.p : "", job->reasoning.p);
    if (calls) cJSON_AddItemToObject(cJSON_GetObjectItemCaseSensitive(o, "message"), "tool_calls", calls);
    free(content);
    cJSON_AddTrueToObject(o, "done");
    cJSON_AddStringToObject(o, "done_reason", finish_reason);
    cJSON_AddNumberToObject(o, "total_duration", (double)(job->t_end_ns - job->t_start_ns));
    cJSON_AddNumberToObject(o, "load_duration", 0);
    cJSON_AddNumberToObject(o, "prompt_eval_count", job->n_evaluated); /* tokens evaluated, not those from the cache */
    if (job->n_discarded) {
        cJSON_AddTrueToObject(o, "context_shifted");
        cJSON_AddNumberToObject(o, "n_discarded", job->n_discarded);
    }
    cJSON_AddNumberToObject(o, "prompt_eval_duration", (double)(job->t_first_ns - job->t_start_ns));
    cJSON_AddNumberToObject(o, "eval_count", job->n_gen);
    cJSON_AddNumberToObject(o, "eval_duration", (double)(job->t_end_ns - job->t_first_ns));
    push_line(job, o);
}
