/* edgellm serve — shared types of the server's modules.
 * http.c (libmicrohttpd threads) parses a request with openai.c / ollama.c into a srv_job, which
 * slots.c's single engine thread decodes together with the other active jobs; the engine formats
 * output through the same API module into the job's chunk queue, which the HTTP thread drains. */
#ifndef EDGELLM_SERVER_H
#define EDGELLM_SERVER_H
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include "edgellm.h"

#define SRV_MAX_BODY (4u << 20)  /* request bodies above this get 413 */
#define SRV_QUEUE_MAX 64         /* requests waiting for a slot; beyond: 503 */
#define SRV_MAX_STOP 8

/* A growable byte string (always NUL-terminated when p != NULL). */
struct sbuf {
    char *p;
    size_t len, cap;
};
void sbuf_add(struct sbuf *b, const char *s, size_t n);
void sbuf_adds(struct sbuf *b, const char *s);
void sbuf_free(struct sbuf *b);

enum srv_api { SRV_OAI_CHAT, SRV_OAI_COMPLETION, SRV_OLLAMA_CHAT, SRV_OLLAMA_GENERATE };

struct srv_chunk {
    struct srv_chunk *next;
    size_t len, off;
    char data[];
};

/* One generation request. Fields above `mu` are set by the HTTP thread before enqueueing and then
 * read-only; the rest is shared under mu. Freed when refs reaches 0 (request, response, engine). */
struct srv_job {
    enum srv_api api;
    int stream, include_usage, ignore_eos;
    int think_open;              /* the prompt ends inside <think>: text up to </think> is reasoning */
    int sent_head;               /* streaming: the first chunk (role) went out */
    int raw_text;                /* plain completion: no reasoning split, tags stay in the text */
    edgellm_token *prompt;
    int32_t n_prompt;
    int32_t max_tokens;          /* < 0: until the context is full; set to the limit at admission */
    struct edgellm_sampler_params sp;
    struct edgellm_grammar *grammar; /* response_format / format / tools: the output's constraint, or NULL */
    int tool_mode;               /* SRV_TOOLS_*: OFF = no call parsing */
    char tool_family[16];        /* edgellm_parse_tool_calls family of the model's template */
    int strict_template;         /* a template that raises is a 400 (tools, tool messages), no fallback */
    char *stop[SRV_MAX_STOP];
    int n_stop;
    struct edgellm_logit_bias *bias; /* [n_bias] owned; sp.logit_bias points here */
    char id[48];
    char model[128];
    int64_t created;             /* unix seconds */
    int64_t t_start_ns;          /* when the request was accepted */
    int cache_prompt;            /* reuse a slot's cached prefix (request "cache_prompt", default 1) */
    int max_tokens_given;        /* the request set max_tokens: generation may shift the context */
    uint32_t keep;               /* tokens a context shift keeps (--keep, or through the system message) */
    struct server *server;       /* set by srv_job_prepare (the engine counts the job in /metrics) */

    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    int cancelled;               /* client gone: the engine frees the slot at its next step */
    int done;                    /* all output is in the queue */
    struct srv_chunk *head, *tail;
    struct srv_job *next_waiting; /* server wait queue link (under the server's lock) */

    /* engine-side results (only the engine thread touches these until done) */
    struct sbuf content, reasoning;
    size_t content_sent;         /* streaming with tools: content bytes already sent */
    int32_t n_gen;
    int64_t t_first_ns, t_end_ns; /* prompt evaluated / finished */
    int64_t t_last_tok_ns;       /* the previous token (inter-token latency) */
    int32_t n_cached;            /* prompt tokens the slot's cache already held */
    int32_t n_evaluated;         /* prompt tokens evaluated */
    uint32_t n_discarded;        /* tokens of the conversation dropped by context shifts (0: none) */
};

struct srv_job *srv_job_new(void);
void srv_job_unref(struct srv_job *job);
/* Appends bytes to the job's output queue and wakes its reader. */
void srv_job_push(struct srv_job *job, const char *data, size_t len);
void srv_job_cancel(struct srv_job *job);

/* What GET /slots shows of a slot (engine writes, HTTP reads, under server.mu). */
struct srv_slot_info {
    int busy;
    int32_t n_cached;                 /* tokens its cache holds */
    uint64_t conversation_hits;       /* requests that reused part of its cache */
    uint64_t cached_tokens_total, evaluated_tokens_total;
    int spilled;                      /* its cache was written to the save path and the slot reused */
};

/* Counters of GET /metrics (under server.mu). */
#define SRV_HIST_N 12
struct srv_metrics {
    uint64_t tokens_prompt, tokens_evaluated, tokens_cached, tokens_generated;
    uint64_t ttft_bucket[SRV_HIST_N + 1], itl_bucket[SRV_HIST_N + 1]; /* last: +Inf */
    uint64_t ttft_count, itl_count;
    double ttft_sum, itl_sum;
    struct srv_req_count { const char *endpoint; int status; uint64_t n; } req[64];
    int n_req;
};
struct srv_reply;
/* Counts a finished HTTP request (http.c) and a finished generation (slots.c). */
void srv_metrics_request(struct server *s, const char *endpoint, int status);
void srv_metrics_job(struct server *s, const struct srv_job *job);
void srv_metrics_itl(struct server *s, double seconds);
/* GET /metrics, GET /slots, POST /slots/{id}?action=save|restore (slots.c). */
void srv_metrics_text(struct server *s, struct srv_reply *r);
void srv_slots_json(struct server *s, struct srv_reply *r);
void srv_slot_action(struct server *s, int slot_id, const char *action, const char *body, size_t len, struct srv_reply *r);

/* What the model lists (/v1/models, /api/tags, /api/show, /api/ps) say of a model file. */
struct srv_model_info {
    char name[128];              /* file name without .gguf */
    char family[32];             /* general.architecture */
    char quant[32];              /* the most common tensor type, upper case (Q4_0, ...) */
    uint64_t size;               /* file bytes */
    uint64_t n_params;
    uint64_t need;               /* size + edgellm_context_memory_needed of its context */
    uint32_t n_ctx;              /* positions per slot */
    int64_t mtime;               /* file modification, unix seconds */
};
struct srv_pool;
struct cJSON;

struct server {
    struct edgellm_model *model;
    struct edgellm_context *ctx;
    struct edgellm_model_desc desc;
    const char *model_path;
    char model_id[128];
    const char *api_key;
    int n_parallel;
    uint32_t n_ctx;              /* positions per slot */

    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct srv_job *wait_head, *wait_tail;
    int n_waiting;
    int n_busy;                  /* slots holding a job (for /health) */
    int stopping;
    pthread_t engine;
    int engine_on;               /* the engine thread runs (srv_engine_stop joins it once) */
    uint64_t next_id;

    long keep;                   /* --keep, -1: through the first system message, else only BOS */
    int no_shift;                /* --no-context-shift */
    const char *slot_save_path;  /* --slot-save-path DIR, or NULL */
    int slot_spill_max;          /* --slot-spill-max N */
    struct srv_slot_info *slot_info; /* [n_parallel] */
    struct srv_metrics metrics;
    /* a save / restore request for the engine thread (under mu; the engine answers through cv) */
    struct srv_slot_req *slot_req;

    /* set-up of srv_model_open (also the template of --models-dir's instances) */
    uint32_t n_ctx_req;          /* -c, 0: 4096 or the model's if smaller */
    int n_threads;
    edgellm_kv_type kv_type;
    struct srv_model_info info;  /* of the loaded model */
    struct srv_pool *pool;       /* --models-dir: the models (this server then holds none) */
    struct server *front;        /* a --models-dir model's: the HTTP server, which counts its tokens */
};

/* serve.c: loads path into s (model, context, slot table, engine thread) with s's set-up fields;
 * 0, or -1 with err set. srv_model_close stops the engine and frees them. */
int srv_model_open(struct server *s, const char *path, char *err, size_t err_size);
void srv_model_close(struct server *s);
/* The context parameters s's set-up asks of a model described by d. */
struct edgellm_context_params srv_context_params(const struct server *s, const struct edgellm_model_desc *d);
void srv_model_info_fill(struct srv_model_info *info, const char *path, const struct edgellm_model *m,
                         const struct edgellm_model_desc *d, uint32_t n_ctx, uint64_t ctx_bytes);

/* pool.c: --models-dir. srv_pool_new scans dir (each model is loaded once to describe it); NULL
 * with err set when it holds no usable GGUF. */
struct srv_pool *srv_pool_new(const struct server *tmpl, const char *dir, uint64_t budget, int64_t keep_ns,
                              char *err, size_t err_size);
void srv_pool_free(struct srv_pool *p);
/* The loaded instance serving the request body's "model" (loading it, waiting for a load under
 * way, evicting idle models for the budget); NULL with a 404 / 503 reply in the API's shape. The
 * body's keep_alive goes to *keep_ns (-1: keep loaded). */
struct server *srv_pool_acquire(struct srv_pool *p, const char *body, size_t len, int ollama, int64_t *keep_ns,
                                struct srv_reply *r);
/* The request on inst is over: its model stays loaded keep_ns more (-1 forever, 0 unloads now). */
void srv_pool_release(struct srv_pool *p, struct server *inst, int64_t keep_ns);
/* Infos of all models (malloc'd array, *n entries) of s: its pool's or its single model. */
struct srv_model_info *srv_model_infos(struct server *s, int *n);
/* /api/ps and the pool's /metrics gauges. */
void ollama_ps(struct server *s, struct srv_reply *r);
/* The info of the pool's model called name ("x" or "x:latest"): 0, or -1 when there is none. */
int srv_pool_info(struct srv_pool *p, const char *name, struct srv_model_info *out);
/* Adds a model's name, model, modified_at, size, digest, details, parameter_count, context_length to m. */
void srv_model_details(struct cJSON *m, const struct srv_model_info *in);
void srv_pool_metrics(struct srv_pool *p, struct srv_reply *r);
/* "keep_alive": seconds (number) or a duration string ("5m", "30s", "1h", "-1"); -1 for a negative
 * one (keep loaded). 0, or -1 when malformed. */
int srv_parse_duration(const struct cJSON *v, int64_t *ns);

struct srv_slot_req {
    int slot, restore;
    char path[4200];
    int status;                  /* 0 while pending, then the HTTP status */
    char msg[512];
    size_t bytes;
};

/* slots.c: the engine thread. */
int srv_engine_start(struct server *s);
/* Stops the engine thread (again: nothing); with a pool, every loaded model's. */
void srv_engine_stop(struct server *s);
void srv_pool_stop(struct srv_pool *p);
/* Queues a job (takes one reference for the engine). Returns 0, or -1 when the queue is full. */
int srv_enqueue(struct server *s, struct srv_job *job);

/* An HTTP reply decided before generation: status + body + content type. */
struct srv_reply {
    int status;
    struct sbuf body;
    const char *content_type;
    struct srv_job *job;         /* non-NULL: stream the job's output instead of body */
};
void srv_reply_json(struct srv_reply *r, int status, const char *json);
/* srv_reply_json of o printed; deletes o. */
void srv_reply_cjson(struct srv_reply *r, int status, struct cJSON *o);
/* OpenAI error JSON (also used for the server's own errors). */
void srv_reply_error(struct srv_reply *r, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Common request preparation (slots.c): tokenizes a raw `prompt` (control-token texts parsed) by
 * the library's chat-prompt rule (edgellm_chat_tokenize), checks it fits, clamps max_tokens
 * (<0: all the room left), fills id/model/times. Returns 0 or fills an error reply. */
int srv_job_prepare(struct server *s, struct srv_job *job, const char *prompt, int32_t max_tokens,
                    struct srv_reply *r);
/* srv_job_prepare for a chat: renders a normalized messages JSON list with the model's template
 * and tokenizes it (edgellm_chat_tokenize, setting think_open). Returns 0 or fills an error reply. */
int srv_job_prepare_chat(struct server *s, struct srv_job *job, const char *messages_json, int enable_thinking,
                         const char *kwargs_json, int32_t max_tokens, struct srv_reply *r);
/* After srv_job_prepare_chat: constrains the answer to JSON valid against schema_json (NULL: any
 * JSON object), starting at the first generated token — after a "</think>" when the prompt opens
 * a think block. strict: unsupported keywords are a 400 naming them. Returns 0 or -1 (replied). */
int srv_job_set_schema(struct srv_job *job, const char *schema_json, int strict, struct srv_reply *r);

/* tools.c: tools, tool_choice and parallel_tool_calls of a chat request (both APIs). */
enum { SRV_TOOLS_OFF, SRV_TOOLS_AUTO, SRV_TOOLS_REQUIRED };
struct cJSON;
struct srv_tools_req {
    int mode;                    /* SRV_TOOLS_*: tool_choice "none" or no tools: OFF */
    int parallel;                /* parallel_tool_calls (default 1) */
    const struct cJSON *tools;   /* the request's list (rendered whatever the mode), or NULL */
    const struct cJSON *named;   /* tool_choice naming a function: that tool */
    char family[16];
};
/* Reads tools / tool_choice / parallel_tool_calls of root. 0, or -1 with a 400 reply (an unknown
 * named function, a malformed tool). */
int srv_tools_parse(struct server *s, const struct cJSON *root, struct srv_tools_req *t, struct srv_reply *r);
/* kwargs_json (or {}) with "tools" added (malloc'd JSON text), NULL when out of memory. */
char *srv_tools_kwargs(const struct cJSON *tools, const char *kwargs_json);
/* After srv_job_prepare_chat: the job's tool mode and, for auto / required, its grammar. */
int srv_tools_apply(struct srv_job *job, const struct srv_tools_req *t, struct srv_reply *r);
/* Streaming: how much of job->content can go out now (the rest may be the start of a call). */
size_t srv_tools_safe_len(const struct srv_job *job);
/* At the end: the parsed calls as a tool_calls list (OpenAI: index, id, type, function with
 * string arguments; ollama: function with object arguments), or NULL when the output holds no
 * valid call; *content (malloc'd or NULL) the text outside the calls. */
struct cJSON *srv_tools_result(struct srv_job *job, char **content, int ollama);
/* The family's call opener ("" for Llama 3.x). */
const char *srv_tools_opener(const struct srv_job *job);

/* openai.c / ollama.c: request handlers and the output formatters the engine calls. */
void oai_chat(struct server *s, const char *body, size_t len, struct srv_reply *r);
/* POST /apply-template {"messages", "tools", "chat_template_kwargs", "add_generation_prompt"} ->
 * {"prompt"}: the model's template rendered as a chat request would be (string tool-call
 * arguments parsed into objects first); a template that raises is a 400 with its message. */
void srv_apply_template(struct server *s, const char *body, size_t len, struct srv_reply *r);
void oai_completion(struct server *s, const char *body, size_t len, struct srv_reply *r);
void oai_models(struct server *s, struct srv_reply *r);
void oai_emit_delta(struct srv_job *job, int reasoning, const char *text, size_t len);
void oai_emit_end(struct srv_job *job, const char *finish_reason);

void ollama_chat(struct server *s, const char *body, size_t len, struct srv_reply *r);
void ollama_generate(struct server *s, const char *body, size_t len, struct srv_reply *r);
void ollama_tags(struct server *s, struct srv_reply *r);
void ollama_version(struct server *s, struct srv_reply *r);
void ollama_show(struct server *s, const char *body, size_t len, struct srv_reply *r);
void ollama_emit_delta(struct srv_job *job, int reasoning, const char *text, size_t len);
void ollama_emit_end(struct srv_job *job, const char *finish_reason);

/* http.c */
int srv_http_run(struct server *s, const char *host, int port);

/* The chat page, generated at build time from server/page.html. */
extern const unsigned char srv_page_html[];
extern const size_t srv_page_html_len;

int64_t srv_now_ns(void);

/* Typed JSON members (openai.c). Each returns 0 when absent or null, 1 when read, and -1 with a 400
 * reply naming the member when it has the wrong type or range. */
int srvj_bool(const struct cJSON *o, const char *key, int *out, struct srv_reply *r);
int srvj_num(const struct cJSON *o, const char *key, double lo, double hi, double *out, struct srv_reply *r);
int srvj_int(const struct cJSON *o, const char *key, double lo, double hi, long long *out, struct srv_reply *r);
int srvj_str(const struct cJSON *o, const char *key, const char **out, struct srv_reply *r);
/* A request body that must be a JSON object: the parsed object, or NULL with a 400 reply. */
struct cJSON *srvj_body(const char *body, size_t len, struct srv_reply *r);
/* A numeric sampling option of a request: its JSON name, accepted range and the field it sets
 * (exactly one of f / i). The two APIs differ only in names and ranges. */
struct srvj_opt {
    const char *key;
    double lo, hi;
    float *f;
    int32_t *i;
};
/* Applies every option present in o; -1 (with the 400 reply set) on the first invalid one. */
int srvj_opts(const struct cJSON *o, const struct srvj_opt *opts, int n, struct srv_reply *r);
/* "stop": a string or a list of strings, copied into job->stop. */
int srvj_stop(const struct cJSON *o, const char *key, struct srv_job *job, struct srv_reply *r);
/* o[key]: {"<token id>": bias, ...} (OpenAI logit_bias, Ollama options.logit_bias) into job->bias
 * and job->sp. 0 absent, 1 set, -1 error replied. */
int srvj_logit_bias(const struct cJSON *o, const char *key, struct srv_job *job, struct srv_reply *r);
/* Normalizes a chat message list into [{"role","content"}] JSON text (malloc'd), or NULL + 400. */
char *srvj_messages(const struct cJSON *msgs, struct srv_reply *r);
/* Queues a prepared job and points the reply at it (503 when the queue is full). */
void srv_submit(struct server *s, struct srv_job *job, struct srv_reply *r);
#endif
