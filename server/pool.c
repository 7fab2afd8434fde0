/* edgellm serve --models-dir: every GGUF of a directory, loaded on first use within a memory
 * budget. Each loaded model is a whole `struct server` (model, context, engine thread) that the
 * HTTP layer hands a request to; the front server (the HTTP one) holds only this pool.
 * An entry is UNLOADED, LOADING (one request loads it, others for it wait on cv) or LOADED; a
 * loaded one with no request in flight is idle and is unloaded when its keep-alive runs out (the
 * reaper thread) or when a load needs its memory (least recently used first). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cjson/cJSON.h>
#include "server.h"

enum { PM_UNLOADED, PM_LOADING, PM_LOADED };

struct pool_model {
    char path[4096];
    struct srv_model_info info;
    int state;
    int in_use;                  /* requests on it now */
    int64_t last_used_ns;        /* LRU order */
    int64_t expires_ns;          /* idle until then (-1: never) */
    int64_t req_keep_ns;         /* the latest request's keep_alive (its expiry while in use) */
    uint64_t requests, loads, unloads;
    struct server *inst;         /* when LOADED */
};

struct srv_pool {
    struct server tmpl;          /* set-up copied into each instance */
    uint64_t budget;             /* 0: none */
    int64_t keep_ns;             /* --keep-alive */
    pthread_mutex_t mu;
    pthread_cond_t cv;           /* a load finished; the reaper's tick */
    struct pool_model *m;
    int n;
    int stopping;
    pthread_t reaper;
    int reaper_on;
};

int srv_parse_duration(const cJSON *v, int64_t *ns) {
    double sec;
    if (cJSON_IsNumber(v)) {
        sec = v->valuedouble;
    } else if (cJSON_IsString(v)) {
        char *end;
        errno = 0;
        sec = strtod(v->valuestring, &end);
        if (end == v->valuestring || errno) return -1;
        if (!strcmp(end, "ms")) sec /= 1000;
        else if (!strcmp(end, "m")) sec *= 60;
        else if (!strcmp(end, "h")) sec *= 3600;
        else if (*end && strcmp(end, "s")) return -1;
    } else {
        return -1;
    }
    if (sec != sec) return -1; /* "nan" */
    if (sec < 0) *ns = -1;
    else *ns = sec > 1e9 ? (int64_t)1e18 : (int64_t)(sec * 1e9);
    return 0;
}

static int ends_with(const char *s, const char *tail) {
    size_t n = strlen(s), k = strlen(tail);
    return n >= k && !strcmp(s + n - k, tail);
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const struct pool_model *)a)->info.name, ((const struct pool_model *)b)->info.name);
}

static void unload(struct srv_pool *p, struct pool_model *m) {
    srv_model_close(m->inst);
    free(m->inst);
    m->inst = NULL;
    m->state = PM_UNLOADED;
    m->unloads++;
    fprintf(stderr, "edgellm serve: unloaded %s\n", m->info.name);
    pthread_cond_broadcast(&p->cv);
}

static void *reaper_main(void *arg) {
    struct srv_pool *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->stopping) {
        int64_t now = srv_now_ns();
        for (int i = 0; i < p->n; i++) {
            struct pool_model *m = &p->m[i];
            if (m->state == PM_LOADED && !m->in_use && m->expires_ns >= 0 && m->expires_ns <= now) unload(p, m);
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 200 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000) { ts.tv_sec++; ts.tv_nsec -= 1000000000; }
        pthread_cond_timedwait(&p->cv, &p->mu, &ts);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

struct srv_pool *srv_pool_new(const struct server *tmpl, const char *dir, uint64_t budget, int64_t keep_ns,
                              char *err, size_t err_size) {
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, err_size, "--models-dir %s: %s", dir, strerror(errno));
        return NULL;
    }
    struct srv_pool *p = calloc(1, sizeof *p);
    if (!p) {
        closedir(d);
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    p->tmpl = *tmpl;
    p->tmpl.front = (struct server *)tmpl;
    p->budget = budget;
    p->keep_ns = keep_ns;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !ends_with(e->d_name, ".gguf")) continue;
        struct pool_model *grown = realloc(p->m, (size_t)(p->n + 1) * sizeof *grown);
        if (!grown) break;
        p->m = grown;
        struct pool_model *m = &p->m[p->n];
        memset(m, 0, sizeof *m);
        snprintf(m->path, sizeof m->path, "%s/%s", dir, e->d_name);
        /* described once (mapped, then freed) so that the lists need no loaded model */
        struct edgellm_model_params mp = edgellm_model_default_params();
        mp.n_threads = 1;
        struct edgellm_model *model = NULL;
        char why[512];
        if (edgellm_model_load(m->path, &mp, &model, why, sizeof why) != EDGELLM_OK) {
            fprintf(stderr, "edgellm serve: skipping %s: %s\n", m->path, why);
            continue;
        }
        struct edgellm_model_desc desc = EDGELLM_MODEL_DESC_INIT;
        edgellm_model_describe(model, &desc);
        if (!desc.supported) {
            fprintf(stderr, "edgellm serve: skipping %s: %s\n", m->path, desc.unsupported_why);
            edgellm_model_free(model);
            continue;
        }
        struct edgellm_context_params cp = srv_context_params(tmpl, &desc);
        uint64_t ctx_bytes = 0;
        edgellm_context_memory_needed(model, &cp, &ctx_bytes);
        srv_model_info_fill(&m->info, m->path, model, &desc, cp.n_ctx, ctx_bytes);
        edgellm_model_free(model);
        p->n++;
    }
    closedir(d);
    if (!p->n) {
        snprintf(err, err_size, "--models-dir %s: no usable .gguf file", dir);
        free(p->m);
        free(p);
        return NULL;
    }
    qsort(p->m, (size_t)p->n, sizeof *p->m, by_name);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (pthread_create(&p->reaper, NULL, reaper_main, p)) {
        snprintf(err, err_size, "cannot start a thread");
        srv_pool_free(p);
        return NULL;
    }
    p->reaper_on = 1;
    return p;
}

void srv_pool_stop(struct srv_pool *p) {
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->n; i++)
        if (p->m[i].state == PM_LOADED) srv_engine_stop(p->m[i].inst);
    pthread_mutex_unlock(&p->mu);
}

void srv_pool_free(struct srv_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (p->reaper_on) pthread_join(p->reaper, NULL);
    for (int i = 0; i < p->n; i++)
        if (p->m[i].state == PM_LOADED) unload(p, &p->m[i]);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->m);
    free(p);
}

/* The entry named name ("x" or "x:latest"), or NULL. */
static struct pool_model *find(struct srv_pool *p, const char *name) {
    char want[160];
    snprintf(want, sizeof want, "%s", name);
    if (ends_with(want, ":latest")) want[strlen(want) - 7] = 0;
    for (int i = 0; i < p->n; i++)
        if (!strcmp(p->m[i].info.name, want)) return &p->m[i];
    return NULL;
}

int srv_pool_info(struct srv_pool *p, const char *name, struct srv_model_info *out) {
    pthread_mutex_lock(&p->mu);
    const struct pool_model *m = find(p, name);
    if (m) *out = m->info;
    pthread_mutex_unlock(&p->mu);
    return m ? 0 : -1;
}

void srv_reply_cjson(struct srv_reply *r, int status, cJSON *o) {
    char *json = cJSON_PrintUnformatted(o);
    srv_reply_json(r, status, json ? json : "{}");
    free(json);
    cJSON_Delete(o);
}

static void reply_err(struct srv_reply *r, int ollama, int status, const char *code, const char *msg) {
    cJSON *o = cJSON_CreateObject();
    if (ollama) {
        cJSON_AddStringToObject(o, "error", msg);
    } else {
        cJSON *e = cJSON_AddObjectToObject(o, "error");
        cJSON_AddStringToObject(e, "message", msg);
        cJSON_AddStringToObject(e, "type", status == 404 ? "invalid_request_error" : "server_error");
        cJSON_AddNullToObject(e, "param");
        cJSON_AddStringToObject(e, "code", code);
    }
    srv_reply_cjson(r, status, o);
}

/* Memory the loaded and loading models take. */
static uint64_t used_bytes(const struct srv_pool *p) {
    uint64_t u = 0;
    for (int i = 0; i < p->n; i++)
        if (p->m[i].state != PM_UNLOADED) u += p->m[i].info.need;
    return u;
}

struct server *srv_pool_acquire(struct srv_pool *p, const char *body, size_t len, int ollama, int64_t *keep_ns,
                                struct srv_reply *r) {
    cJSON *root = cJSON_ParseWithLength(body, len);
    const cJSON *mv = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsString(mv)) mv = cJSON_GetObjectItemCaseSensitive(root, "name");
    char name[160] = "";
    if (cJSON_IsString(mv)) snprintf(name, sizeof name, "%s", mv->valuestring);
    *keep_ns = p->keep_ns;
    const cJSON *ka = cJSON_GetObjectItemCaseSensitive(root, "keep_alive");
    int bad_keep = ka && !cJSON_IsNull(ka) && srv_parse_duration(ka, keep_ns);
    cJSON_Delete(root);
    char msg[600];
    if (bad_keep) {
        reply_err(r, ollama, 400, "invalid_keep_alive", "'keep_alive' must be seconds or a duration like \"5m\"");
        return NULL;
    }
    pthread_mutex_lock(&p->mu);
    struct pool_model *m = find(p, name);
    if (!m) {
        pthread_mutex_unlock(&p->mu);
        if (ollama) snprintf(msg, sizeof msg, "model '%.150s' not found", name);
        else snprintf(msg, sizeof msg, "The model '%.150s' does not exist (see /v1/models)", name);
        reply_err(r, ollama, 404, "model_not_found", msg);
        return NULL;
    }
    for (;;) {
        if (p->stopping) break;
        if (m->state == PM_LOADED) {
            m->in_use++;
            m->requests++;
            m->req_keep_ns = *keep_ns;
            m->last_used_ns = srv_now_ns();
            struct server *inst = m->inst;
            pthread_mutex_unlock(&p->mu);
            return inst;
        }
        if (m->state == PM_LOADING) {
            pthread_cond_wait(&p->cv, &p->mu);
            continue;
        }
        if (p->budget && m->info.need > p->budget) {
            snprintf(msg, sizeof msg, "model '%s' needs %llu bytes (file and context), more than the memory budget "
                     "(--mem-budget %llu)", m->info.name, (unsigned long long)m->info.need, (unsigned long long)p->budget);
            break;
        }
        /* unload the least recently used idle models until it fits */
        while (p->budget && used_bytes(p) + m->info.need > p->budget) {
            struct pool_model *lru = NULL;
            for (int i = 0; i < p->n; i++) {
                struct pool_model *o = &p->m[i];
                if (o->state == PM_LOADED && !o->in_use && (!lru || o->last_used_ns < lru->last_used_ns)) lru = o;
            }
            if (!lru) break;
            unload(p, lru);
        }
        if (p->budget && used_bytes(p) + m->info.need > p->budget) {
            snprintf(msg, sizeof msg, "model '%s' (%llu bytes with its context) does not fit the memory budget "
                     "(--mem-budget %llu): %llu bytes are taken by models in use; retry later", m->info.name,
                     (unsigned long long)m->info.need, (unsigned long long)p->budget,
                     (unsigned long long)used_bytes(p));
            break;
        }
        m->state = PM_LOADING;
        pthread_mutex_unlock(&p->mu);
        struct server *inst = malloc(sizeof *inst);
        char err[512] = "out of memory";
        int ok = 0;
        if (inst) {
            *inst = p->tmpl;
            inst->pool = NULL;
            ok = !srv_model_open(inst, m->path, err, sizeof err);
        }
        pthread_mutex_lock(&p->mu);
        if (!ok) {
            free(inst);
            m->state = PM_UNLOADED;
            pthread_cond_broadcast(&p->cv);
            snprintf(msg, sizeof msg, "cannot load model '%s': %.400s", m->info.name, err);
            pthread_mutex_unlock(&p->mu);
            reply_err(r, ollama, 500, "model_load_failed", msg);
            return NULL;
        }
        fprintf(stderr, "edgellm serve: loaded %s\n", m->info.name);
        inst->info = m->info; /* the scan's need (the budget's unit) */
        m->inst = inst;
        m->state = PM_LOADED;
        m->loads++;
        pthread_cond_broadcast(&p->cv);
    }
    if (p->stopping) snprintf(msg, sizeof msg, "the server is stopping");
    pthread_mutex_unlock(&p->mu);
    reply_err(r, ollama, 503, "model_over_budget", msg);
    return NULL;
}

void srv_pool_release(struct srv_pool *p, struct server *inst, int64_t keep_ns) {
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->n; i++) {
        struct pool_model *m = &p->m[i];
        if (m->inst != inst) continue;
        m->in_use--;
        int64_t now = srv_now_ns();
        m->last_used_ns = now;
        m->expires_ns = keep_ns < 0 ? -1 : now + keep_ns;
        if (!m->in_use && keep_ns == 0 && !p->stopping) unload(p, m);
        break;
    }
    pthread_mutex_unlock(&p->mu);
}

struct srv_model_info *srv_model_infos(struct server *s, int *n) {
    struct srv_pool *p = s->pool;
    if (!p) {
        struct srv_model_info *one = malloc(sizeof *one);
        if (one) *one = s->info;
        *n = one ? 1 : 0;
        return one;
    }
    pthread_mutex_lock(&p->mu);
    struct srv_model_info *all = malloc((size_t)p->n * sizeof *all);
    *n = all ? p->n : 0;
    for (int i = 0; all && i < p->n; i++) all[i] = p->m[i].info;
    pthread_mutex_unlock(&p->mu);
    return all;
}

/* One running model of /api/ps. */
struct ps_entry {
    struct srv_model_info info;
    int64_t expires_ns;          /* CLOCK_MONOTONIC ns, -1 never */
};

static void iso_time(int64_t unix_s, char *buf, size_t size) {
    struct tm tm;
    time_t t = (time_t)unix_s;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void srv_model_details(cJSON *m, const struct srv_model_info *in) {
    char when[64], psize[32];
    double np = (double)in->n_params;
    if (np >= 1e9) snprintf(psize, sizeof(psize), "%.1fB", np / 1e9);
    else if (np >= 1e6) snprintf(psize, sizeof(psize), "%.1fM", np / 1e6);
    else snprintf(psize, sizeof(psize), "%.0fK", np / 1e3);
    iso_time(in->mtime, when, sizeof when);
    cJSON_AddStringToObject(m, "name", in->name);
    cJSON_AddStringToObject(m, "model", in->name);
    cJSON_AddStringToObject(m, "modified_at", when);
    cJSON_AddNumberToObject(m, "size", (double)in->size);
    cJSON_AddStringToObject(m, "digest", "");
    cJSON *d = cJSON_AddObjectToObject(m, "details");
    cJSON_AddStringToObject(d, "parent_model", "");
    cJSON_AddStringToObject(d, "format", "gguf");
    cJSON_AddStringToObject(d, "family", in->family);
    cJSON *fam = cJSON_AddArrayToObject(d, "families");
    cJSON_AddItemToArray(fam, cJSON_CreateString(in->family));
    cJSON_AddStringToObject(d, "parameter_size", psize);
    cJSON_AddStringToObject(d, "quantization_level", in->quant);
    cJSON_AddNumberToObject(m, "parameter_count", (double)in->n_params);
    cJSON_AddNumberToObject(m, "context_length", in->n_ctx);
}

void ollama_ps(struct server *s, struct srv_reply *r) {
    struct ps_entry *e = NULL;
    int n = 0;
    struct srv_pool *p = s->pool;
    if (!p) {
        if ((e = malloc(sizeof *e))) {
            e->info = s->info;
            e->expires_ns = -1;
            n = 1;
        }
    } else {
        pthread_mutex_lock(&p->mu);
        e = malloc((size_t)p->n * sizeof *e);
        for (int i = 0; e && i < p->n; i++)
            if (p->m[i].state == PM_LOADED) {
                e[n].info = p->m[i].info;
                e[n].expires_ns = p->m[i].expires_ns;
                if (p->m[i].in_use) e[n].expires_ns = p->m[i].req_keep_ns < 0 ? -1 : srv_now_ns() + p->m[i].req_keep_ns;
                n++;
            }
        pthread_mutex_unlock(&p->mu);
    }
    cJSON *root = cJSON_CreateObject();
    cJSON *models = cJSON_AddArrayToObject(root, "models");
    int64_t now = srv_now_ns();
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    for (int i = 0; i < n; i++) {
        cJSON *m = cJSON_CreateObject();
        srv_model_details(m, &e[i].info);
        cJSON_ReplaceItemInObject(m, "size", cJSON_CreateNumber((double)e[i].info.need));
        /* never: as Ollama shows it, far in the future */
        int64_t left = e[i].expires_ns < 0 ? 100LL * 365 * 86400 : (e[i].expires_ns - now) / 1000000000LL;
        char when[64];
        iso_time((int64_t)rt.tv_sec + (left > 0 ? left : 0), when, sizeof when);
        cJSON_AddStringToObject(m, "expires_at", when);
        cJSON_AddNumberToObject(m, "size_vram", 0);
        cJSON_AddItemToArray(models, m);
    }
    free(e);
    srv_reply_cjson(r, 200, root);
}

void srv_pool_metrics(struct srv_pool *p, struct srv_reply *r) {
    struct sbuf *b = &r->body;
    char line[2048];
    sbuf_adds(b, "# HELP edgellm_model_loaded 1 when the model is loaded.\n# TYPE edgellm_model_loaded gauge\n"
                 "# HELP edgellm_model_loaded_bytes Its file and context memory while loaded.\n"
                 "# TYPE edgellm_model_loaded_bytes gauge\n"
                 "# HELP edgellm_model_requests_in_flight Requests on the model now.\n"
                 "# TYPE edgellm_model_requests_in_flight gauge\n"
                 "# HELP edgellm_model_requests_total Generation requests routed to the model.\n"
                 "# TYPE edgellm_model_requests_total counter\n"
                 "# HELP edgellm_model_loads_total Loads of the model.\n# TYPE edgellm_model_loads_total counter\n"
                 "# HELP edgellm_model_unloads_total Unloads (idle, evicted or keep_alive 0).\n"
                 "# TYPE edgellm_model_unloads_total counter\n");
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->n; i++) {
        const struct pool_model *m = &p->m[i];
        int loaded = m->state == PM_LOADED;
        snprintf(line, sizeof line,
                 "edgellm_model_loaded{model=\"%s\"} %d\nedgellm_model_loaded_bytes{model=\"%s\"} %llu\n"
                 "edgellm_model_requests_in_flight{model=\"%s\"} %d\nedgellm_model_requests_total{model=\"%s\"} %llu\n"
                 "edgellm_model_loads_total{model=\"%s\"} %llu\nedgellm_model_unloads_total{model=\"%s\"} %llu\n",
                 m->info.name, loaded, m->info.name, loaded ? (unsigned long long)m->info.need : 0ULL, m->info.name,
                 m->in_use, m->info.name, (unsigned long long)m->requests, m->info.name,
                 (unsigned long long)m->loads, m->info.name, (unsigned long long)m->unloads);
        sbuf_adds(b, line);
    }
    snprintf(line, sizeof line, "# HELP edgellm_mem_budget_bytes --mem-budget (0: none).\n"
                                "# TYPE edgellm_mem_budget_bytes gauge\nedgellm_mem_budget_bytes %llu\n"
                                "# HELP edgellm_mem_used_bytes Loaded models' bytes against the budget.\n"
                                "# TYPE edgellm_mem_used_bytes gauge\nedgellm_mem_used_bytes %llu\n",
             (unsigned long long)p->budget, (unsigned long long)used_bytes(p));
    sbuf_adds(b, line);
    pthread_mutex_unlock(&p->mu);
}
