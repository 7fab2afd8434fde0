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

/* Tool calls whose function.arguments is a JSON string holding an object get that object. */
static void args_to_objects(const cJSON *calls) {
    const cJSON *call;
    cJSON_ArrayForEach(call, calls) {
        cJSON *fn = cJSON_GetObjectItemCaseSensitive(call, "function");
        cJSON *args = fn ? cJSON_GetObjectItemCaseSensitive(fn, "arguments") : NULL;
        if (!cJSON_IsString(args)) continue;
        cJSON *obj = cJSON_Parse(args->valuestring);
        if (cJSON_IsObject(obj)) cJSON_ReplaceItemInObjectCaseSensitive(fn, "arguments", obj);
        else cJSON_Delete(obj);
    }
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
        const cJSON *calls = cJSON_GetObjectItemCaseSensitive(m, "tool_calls");
        if (!strcmp(role, "assistant") && cJSON_IsArray(calls) && cJSON_GetArraySize(calls) > 0) {
            /* a tool-calling turn: content null or absent becomes "" (R1 templates raise on a
             * null; the others render both alike, as llama.cpp's requires_non_null_content), the
             * calls with string arguments parsed into objects (templates read them as mappings) */
            cJSON_AddStringToObject(o, "content", text.p ? text.p : "");
            cJSON *cl = cJSON_Duplicate(calls, 1);
            cJSON *call;
            cJSON_ArrayForEach(call, cl) /* Ollama's calls carry only "function": the type templates may test */
                if (cJSON_IsObject(call) && !cJSON_GetObjectItemCaseSensitive(call, "type")) cJSON_AddStringToObject(call, "type", "function");
            args_to_objects(cl);
            cJSON_AddItemToObject(o, "tool_calls", cl);
        } else {
            cJSON_AddStringToObject(o, "content", text.p ? text.p : "");
        }
        if (!strcmp(role, "tool")) {
            /* OpenAI's tool_call_id / name, Ollama's tool_name */
            const char *keys[] = {"tool_call_id", "name", "tool_name"};
            for (int k = 0; k < 3; k++) {
                const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, keys[k]);
                if (cJSON_IsString(v)) cJSON_AddStringToObject(o, keys[k], v->valuestring);
            }
            const cJSON *tn = cJSON_GetObjectItemCaseSensitive(m, "tool_name");
            if (cJSON_IsString(tn) && !cJSON_GetObjectItemCaseSensitive(m, "name")) cJSON_AddStringToObject(o, "name", tn->valuestring);
        }
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
    char *msgs = NULL, *kwargs = NULL, *schema = NULL;
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
    /* response_format: {"type": "text" | "json_object" | "json_schema", "json_schema": {name, strict, schema}} */
    const cJSON *rf = member(root, "response_format");
    int constrained = 0, strict = 0;
    if (rf) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(rf, "type");
        if (!cJSON_IsObject(rf) || !cJSON_IsString(t)) {
            srv_reply_error(r, 400, "invalid_request_error", "'response_format' must be an object with a 'type'");
            goto done;
        }
        if (!strcmp(t->valuestring, "json_object")) constrained = 1;
        else if (!strcmp(t->valuestring, "json_schema")) {
            const cJSON *js = cJSON_GetObjectItemCaseSensitive(rf, "json_schema");
            const cJSON *sc = js ? cJSON_GetObjectItemCaseSensitive(js, "schema") : NULL;
            const cJSON *st = js ? cJSON_GetObjectItemCaseSensitive(js, "strict") : NULL;
            if (!cJSON_IsObject(js) || (sc && !cJSON_IsObject(sc) && !cJSON_IsBool(sc))) {
                srv_reply_error(r, 400, "invalid_request_error", "'response_format.json_schema' must be an object with a 'schema' object");
                goto done;
            }
            strict = cJSON_IsTrue(st);
            constrained = 1;
            if (sc && !(schema = cJSON_PrintUnformatted(sc))) { srv_reply_error(r, 500, "server_error", "out of memory"); goto done; }
            if (!sc && !(schema = strdup("{}"))) { srv_reply_error(r, 500, "server_error", "out of memory"); goto done; }
        } else if (strcmp(t->valuestring, "text")) {
            srv_reply_error(r, 400, "invalid_request_error", "unknown response_format type '%s'", t->valuestring);
            goto done;
        }
    }
    struct srv_tools_req tr;
    if (srv_tools_parse(s, root, &tr, r)) goto done;
    if (constrained && tr.mode == SRV_TOOLS_AUTO) tr.mode = SRV_TOOLS_OFF; /* the schema wins over "auto" */
    if (tr.mode == SRV_TOOLS_REQUIRED) constrained = 0;
    if (constrained || tr.mode == SRV_TOOLS_REQUIRED) enable_thinking = 0; /* no reasoning for constrained requests */
    if (tr.tools) {
        char *k2 = srv_tools_kwargs(tr.tools, kwargs);
        free(kwargs);
        if (!(kwargs = k2)) { srv_reply_error(r, 500, "server_error", "out of memory"); goto done; }
    }
    job->strict_template = tr.tools != NULL || strstr(msgs, "\"tool_calls\"") || strstr(msgs, "\"role\":\"tool\"");
    if (srv_job_prepare_chat(s, job, msgs, enable_thinking, kwargs, (int32_t)max_tokens, r)) goto done;
    if (constrained && srv_job_set_schema(job, schema, strict, r)) goto done;
    if (srv_tools_apply(job, &tr, r)) goto done;
    srv_submit(s, job, r);
done:
    if (job && !r->job) srv_job_unref(job);
    free(msgs);
    free(kwargs);
    free(schema);
    cJSON_Delete(root);
}

void srv_apply_template(struct server *s, const char *body, size_t len, struct srv_reply *r) {
    cJSON *root = srvj_body(body, len, r);
    if (!root) return;
    char *msgs = NULL, *kwargs = NULL, *out = NULL;
    cJSON *kw = NULL;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "messages");
    const cJSON *tools = member(root, "tools"), *ckw = member(root, "chat_template_kwargs");
    int agp = 1;
    if (!cJSON_IsArray(m)) { srv_reply_error(r, 400, "invalid_request_error", "'messages' must be a list"); goto done; }
    if (tools && !cJSON_IsArray(tools)) { srv_reply_error(r, 400, "invalid_request_error", "'tools' must be a list"); goto done; }
    if (ckw && !cJSON_IsObject(ckw)) { srv_reply_error(r, 400, "invalid_request_error", "'chat_template_kwargs' must be an object"); goto done; }
    if (srvj_bool(root, "add_generation_prompt", &agp, r) < 0) goto done;
    /* tool-call arguments sent as JSON strings become objects (templates read them as mappings) */
    const cJSON *msg;
    cJSON_ArrayForEach(msg, m) args_to_objects(cJSON_GetObjectItemCaseSensitive(msg, "tool_calls"));
    if (!(msgs = cJSON_PrintUnformatted(m))) { srv_reply_error(r, 500, "server_error", "out of memory"); goto done; }
    kw = ckw ? cJSON_Duplicate(ckw, 1) : cJSON_CreateObject();
    if (kw && tools) cJSON_AddItemToObject(kw, "tools", cJSON_Duplicate(tools, 1));
    if (!kw || !(kwargs = cJSON_PrintUnformatted(kw))) { srv_reply_error(r, 500, "server_error", "out of memory"); goto done; }
    struct edgellm_chat_params cp = edgellm_chat_default_params();
    cp.add_generation_prompt = agp;
    cp.kwargs_json = kwargs;
    int en = 1;
    if (ckw && srvj_bool(ckw, "enable_thinking", &en, r) < 0) goto done;
    cp.enable_thinking = en;
    char err[512] = "";
    int fallback = 0;
    edgellm_status st = edgellm_chat_render(s->model, msgs, &cp, &out, &fallback, err, sizeof err);
    if (st == EDGELLM_OK && fallback && s->desc.chat_template) {
        /* the model's own template raised: say so, never render another one */
        srv_reply_error(r, 400, "invalid_request_error", "the chat template failed: %s", err);
        goto done;
    }
    if (st != EDGELLM_OK) {
        srv_reply_error(r, st == EDGELLM_ERR_NOMEM ? 500 : 400, st == EDGELLM_ERR_NOMEM ? "server_error" : "invalid_request_error",
                        "%s", err[0] ? err : edgellm_status_str(st));
        goto done;
    }
    cJSON *res = cJSON_CreateObject();
    cJSON_AddStringToObject(res, "prompt", out);
    srv_reply_cjson(r, 200, res);
done:
    edgellm_free(out);
    free(msgs);
    free(kwargs);
    cJSON_Delete(kw);
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
    int n = 0;
    struct srv_model_info *in = srv_model_infos(s, &n);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(root, "data");
    for (int i = 0; i < n; i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "id", in[i].name);
        cJSON_AddStringToObject(m, "object", "model");
        cJSON_AddNumberToObject(m, "created", (double)in[i].mtime);
        cJSON_AddStringToObject(m, "owned_by", "edgellm");
        cJSON *meta = cJSON_AddObjectToObject(m, "meta");
        cJSON_AddNumberToObject(meta, "size", (double)in[i].size);
        cJSON_AddStringToObject(meta, "family", in[i].family);
        cJSON_AddStringToObject(meta, "quantization", in[i].quant);
        cJSON_AddNumberToObject(meta, "n_params", (double)in[i].n_params);
        cJSON_AddNumberToObject(meta, "n_ctx", in[i].n_ctx);
        cJSON_AddNumberToObject(meta, "memory_needed", (double)in[i].need); /* what --mem-budget counts */
        cJSON_AddItemToArray(data, m);
    }
    free(in);
    srv_reply_cjson(r, 200, root);
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
    if (!reasoning && job->tool_mode != SRV_TOOLS_OFF) {
        /* content up to a possible call opener goes out; the rest waits for the end */
        sbuf_add(&job->content, text, len);
        size_t safe = srv_tools_safe_len(job);
        if (safe > job->content_sent) {
            char *t = strndup(job->content.p + job->content_sent, safe - job->content_sent);
            if (t) stream_chunk(job, "content", t, NULL);
            free(t);
            job->content_sent = safe;
        }
        return;
    }
    char *t = strndup(text, len);
    if (!t) return;
    stream_chunk(job, reasoning ? "reasoning_content" : "content", t, NULL);
    free(t);
}

/* Streaming with tools: the held-back content, then the calls as OpenAI sends them (per call a
 * chunk with index, id, type and the name with empty arguments, then the arguments). */
static void stream_tool_end(struct srv_job *job, const char **finish_reason) {
    char *content = NULL;
    cJSON *calls = srv_tools_result(job, &content, 0);
    size_t end = job->content.len;
    if (calls) {
        const char *op = srv_tools_opener(job), *f = *op && job->content.p ? strstr(job->content.p, op) : NULL;
        end = f ? (size_t)(f - job->content.p) : job->content_sent;
        if (end < job->content_sent) end = job->content_sent;
    }
    if (end > job->content_sent && job->content.p) {
        char *t = strndup(job->content.p + job->content_sent, end - job->content_sent);
        if (t && (!calls || strspn(t, " \t\r\n") < strlen(t))) stream_chunk(job, "content", t, NULL);
        free(t);
        job->content_sent = end;
    }
    free(content);
    if (!calls) return;
    cJSON *call;
    cJSON_ArrayForEach(call, calls) {
        cJSON *fn = cJSON_GetObjectItemCaseSensitive(call, "function");
        cJSON *args = cJSON_DetachItemFromObjectCaseSensitive(fn, "arguments");
        cJSON_AddStringToObject(fn, "arguments", "");
        for (int part = 0; part < 2; part++) {
            cJSON *o = chunk_head(job);
            cJSON *c = cJSON_CreateObject();
            cJSON_AddNumberToObject(c, "index", 0);
            cJSON *d = cJSON_AddObjectToObject(c, "delta");
            if (!job->sent_head) {
                cJSON_AddStringToObject(d, "role", "assistant");
                cJSON_AddNullToObject(d, "content");
            }
            job->sent_head = 1;
            cJSON *tc = cJSON_AddArrayToObject(d, "tool_calls");
            if (part == 0) {
                cJSON_AddItemToArray(tc, cJSON_Duplicate(call, 1));
            } else {
                cJSON *x = cJSON_CreateObject();
                cJSON_AddNumberToObject(x, "index", cJSON_GetObjectItemCaseSensitive(call, "index")->valuedouble);
                cJSON *xf = cJSON_AddObjectToObject(x, "function");
                cJSON_AddStringToObject(xf, "arguments", cJSON_IsString(args) ? args->valuestring : "{}");
                cJSON_AddItemToArray(tc, x);
            }
            cJSON_AddNullToObject(c, "logprobs");
            cJSON_AddNullToObject(c, "finish_reason");
            cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "choices"), c);
            push_sse(job, o);
        }
        cJSON_Delete(args);
    }
    cJSON_Delete(calls);
    *finish_reason = "tool_calls";
}

void oai_emit_end(struct srv_job *job, const char *finish_reason) {
    if (job->stream) {
        if (job->api == SRV_OAI_CHAT && job->tool_mode != SRV_TOOLS_OFF) stream_tool_end(job, &finish_reason);
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
        char *content = NULL;
        cJSON *calls = srv_tools_result(job, &content, 0);
        if (calls) {
            if (content) cJSON_AddStringToObject(m, "content", content);
            else cJSON_AddNullToObject(m, "content");
            cJSON_AddItemToObject(m, "tool_calls", calls);
            finish_reason = "tool_calls";
        } else {
            cJSON_AddStringToObject(m, "content", job->content.p ? job->content.p : "");
        }
        free(content);
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
