/* edgellm serve — the HTTP layer on libmicrohttpd (one thread per connection).
 * Each request gets a `struct conn`: its body (bounded by SRV_MAX_BODY) and, once routed to a
 * generation, the job whose chunk queue the response callback drains. The callback waits on the
 * job's condvar in 100 ms steps and peeks at the socket in between, so a client that hangs up is
 * noticed even while its request waits or generates; its job is cancelled and its slot freed. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <microhttpd.h>
#include "server.h"

struct conn {
    struct sbuf body;
    int too_large;
    struct srv_job *job;         /* one reference, dropped when the request completes */
    struct server *inst;         /* --models-dir: the model the request holds until it completes */
    int64_t keep_ns;             /* its keep_alive */
};

struct stream_ctx {
    struct srv_job *job;         /* one reference, dropped when the response is freed */
    int fd;
    struct srv_pool *pool;       /* --models-dir: the request's hold on inst, given back when the job is */
    struct server *inst;         /* done, before the response's last bytes (or when the response is freed) */
    int64_t keep_ns;
};

/* Gives the request's model back to the pool (its keep_alive starts, 0 unloads it). */
static void stream_release(struct stream_ctx *st) {
    if (!st->inst) return;
    srv_pool_release(st->pool, st->inst, st->keep_ns);
    st->inst = NULL;
}

/* Gives the request's model back to the pool, if it still holds one. */
static void conn_release(struct srv_pool *pool, struct conn *cn) {
    if (!cn->inst) return;
    srv_pool_release(pool, cn->inst, cn->keep_ns);
    cn->inst = NULL;
}

/* Has the peer closed the connection? (poll: RDHUP/HUP, or readable with nothing to read) */
static int client_gone(int fd) {
    if (fd < 0) return 0;
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
    if (poll(&p, 1, 0) <= 0) return 0;
    if (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) return 1;
    if (p.revents & POLLIN) {
        char c;
        ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
        return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
    }
    return 0;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    struct stream_ctx *st = cls;
    struct srv_job *job = st->job;
    pthread_mutex_lock(&job->mu);
    for (;;) {
        if (job->head) {
            size_t n = 0;
            while (job->head && n < max) {
                struct srv_chunk *c = job->head;
                size_t k = c->len - c->off;
                if (k > max - n) k = max - n;
                memcpy(buf + n, c->data + c->off, k);
                n += k;
                c->off += k;
                if (c->off == c->len) {
                    job->head = c->next;
                    if (!job->head) job->tail = NULL;
                    free(c);
                }
            }
            pthread_mutex_unlock(&job->mu);
            return (ssize_t)n;
        }
        if (job->done) {
            pthread_mutex_unlock(&job->mu);
            /* before the end of the body goes out, so a client that sees its answer complete also sees
               the model's new expiry (or, with keep_alive 0, the model gone) in /api/ps */
            stream_release(st);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000) { ts.tv_sec++; ts.tv_nsec -= 1000000000; }
        if (pthread_cond_timedwait(&job->cv, &job->mu, &ts) == ETIMEDOUT && !job->head && !job->done &&
            client_gone(st->fd)) {
            job->cancelled = 1;
            pthread_mutex_unlock(&job->mu);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
}

static void stream_free(void *cls) {
    struct stream_ctx *st = cls;
    srv_job_cancel(st->job); /* no-op when it finished; frees the slot when the client left early */
    srv_job_unref(st->job);
    stream_release(st);
    free(st);
}

static void add_common_headers(struct MHD_Response *resp, const char *content_type) {
    MHD_add_response_header(resp, "Content-Type", content_type);
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
}

static enum MHD_Result send_reply(struct MHD_Connection *c, struct conn *cn, struct srv_pool *pool,
                                  struct srv_reply *r) {
    struct MHD_Response *resp;
    if (r->job) {
        struct stream_ctx *st = malloc(sizeof(*st));
        if (!st) return MHD_NO;
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        st->fd = ci ? ci->connect_fd : -1;
        st->job = r->job; /* the reply's reference moves to the response */
        r->job = NULL;
        st->inst = NULL;
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, st, stream_free);
        if (!resp) {
            stream_free(st);
            return MHD_NO;
        }
        /* the model hold moves to the response too */
        st->pool = pool;
        st->inst = cn->inst;
        st->keep_ns = cn->keep_ns;
        cn->inst = NULL;
        /* the request keeps its own reference so that its completion can cancel the job */
        pthread_mutex_lock(&st->job->mu);
        st->job->refs++;
        pthread_mutex_unlock(&st->job->mu);
        cn->job = st->job;
        if (st->job->stream) MHD_add_response_header(resp, "Cache-Control", "no-cache");
    } else {
        resp = MHD_create_response_from_buffer(r->body.len, r->body.p ? r->body.p : (void *)"",
                                               MHD_RESPMEM_MUST_COPY);
        if (!resp) return MHD_NO;
    }
    add_common_headers(resp, r->content_type ? r->content_type : "application/json");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static int is_api_path(const char *url) {
    return !strncmp(url, "/v1/", 4) || !strncmp(url, "/api/", 5) || !strcmp(url, "/apply-template");
}

static int authorized(struct server *s, struct MHD_Connection *c) {
    if (!s->api_key) return 1;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    return h && !strncmp(h, "Bearer ", 7) && !strcmp(h + 7, s->api_key);
}

static void route(struct server *s, struct MHD_Connection *c, struct conn *cn, const char *url, const char *method,
                  struct srv_reply *r) {
    int get = !strcmp(method, "GET") || !strcmp(method, "HEAD"), post = !strcmp(method, "POST");
    const char *body = cn->body.p ? cn->body.p : "";
    size_t len = cn->body.len;
    if (!strcmp(url, "/") || !strcmp(url, "/index.html")) {
        if (!get) goto bad_method;
        r->status = 200;
        r->content_type = "text/html; charset=utf-8";
        sbuf_add(&r->body, (const char *)srv_page_html, srv_page_html_len);
        return;
    }
    if (!strcmp(url, "/health")) {
        if (!get) goto bad_method;
        char json[160];
        pthread_mutex_lock(&s->mu);
        snprintf(json, sizeof(json), "{\"status\":\"ok\",\"slots_idle\":%d,\"slots_processing\":%d,\"requests_waiting\":%d}",
                 s->n_parallel - s->n_busy, s->n_busy, s->n_waiting);
        pthread_mutex_unlock(&s->mu);
        srv_reply_json(r, 200, json);
        return;
    }
    if (!strcmp(url, "/metrics")) { /* always open: no key */
        if (!get) goto bad_method;
        srv_metrics_text(s, r);
        return;
    }
    if (s->pool && !strncmp(url, "/slots", 6)) {
        srv_reply_error(r, 404, "not_found_error", "/slots is not available with --models-dir");
        return;
    }
    if (!strcmp(url, "/slots")) {
        if (!get) goto bad_method;
        srv_slots_json(s, r);
        return;
    }
    if (!strncmp(url, "/slots/", 7)) {
        if (!post) goto bad_method;
        if (!authorized(s, c)) {
            srv_reply_error(r, 401, "authentication_error", "missing or wrong API key (send 'Authorization: Bearer KEY')");
            return;
        }
        char *end;
        long id = strtol(url + 7, &end, 10);
        if (end == url + 7 || *end || id < 0 || id >= s->n_parallel) {
            srv_reply_error(r, 404, "not_found_error", "no slot %.40s (the server has %d)", url + 7, s->n_parallel);
            return;
        }
        srv_slot_action(s, (int)id, MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "action"), body, len, r);
        return;
    }
    if (is_api_path(url) && !authorized(s, c)) {
        srv_reply_error(r, 401, "authentication_error", "missing or wrong API key (send 'Authorization: Bearer KEY')");
        return;
    }
    if (cn->too_large) {
        srv_reply_error(r, 413, "invalid_request_error", "the request body is larger than %u bytes", SRV_MAX_BODY);
        return;
    }
    static const struct {
        const char *path;
        int post;
        void (*post_fn)(struct server *, const char *, size_t, struct srv_reply *);
        void (*get_fn)(struct server *, struct srv_reply *);
    } routes[] = {
        {"/v1/chat/completions", 1, oai_chat, NULL},
        {"/v1/completions", 1, oai_completion, NULL},
        {"/v1/models", 0, NULL, oai_models},
        {"/api/chat", 1, ollama_chat, NULL},
        {"/api/generate", 1, ollama_generate, NULL},
        {"/api/tags", 0, NULL, ollama_tags},
        {"/api/ps", 0, NULL, ollama_ps},
        {"/api/show", 1, ollama_show, NULL},
        {"/api/version", 0, NULL, ollama_version},
        {"/apply-template", 1, srv_apply_template, NULL},
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (strcmp(url, routes[i].path)) continue;
        if (routes[i].post ? !post : !get) goto bad_method;
        struct server *inst = s;
        if (s->pool && routes[i].post && routes[i].post_fn != ollama_show) {
            /* the request's model, loaded, held until the request completes */
            if (!(inst = srv_pool_acquire(s->pool, body, len, !strncmp(url, "/api/", 5), &cn->keep_ns, r))) return;
            cn->inst = inst;
        }
        if (routes[i].post) routes[i].post_fn(inst, body, len, r);
        else routes[i].get_fn(s, r);
        return;
    }
    srv_reply_error(r, 404, "not_found_error", "no such endpoint: %s %.200s", method, url);
    return;
bad_method:
    srv_reply_error(r, 405, "invalid_request_error", "method %s is not allowed on %.200s", method, url);
}

/* The endpoint label of /metrics: a known path, "/slots/{id}", or "other" (a bounded set). */
static const char *metrics_endpoint(const char *url) {
    static const char *const known[] = {"/", "/index.html", "/health", "/metrics", "/slots", "/v1/chat/completions",
                                        "/v1/completions", "/v1/models", "/api/chat", "/api/generate", "/api/tags",
                                        "/api/version", "/api/ps", "/api/show"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (!strcmp(url, known[i])) return known[i];
    return !strncmp(url, "/slots/", 7) ? "/slots/{id}" : "other";
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_size, void **con_cls) {
    struct server *s = cls;
    struct conn *cn = *con_cls;
    if (!cn) {
        cn = calloc(1, sizeof(*cn));
        if (!cn) return MHD_NO;
        *con_cls = cn;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > SRV_MAX_BODY) cn->too_large = 1;
        return MHD_YES;
    }
    if (*upload_size) {
        /* an oversized body is read and dropped, so the client gets its 413 instead of a reset */
        if (!cn->too_large && cn->body.len + *upload_size > SRV_MAX_BODY) {
            cn->too_large = 1;
            sbuf_free(&cn->body);
        }
        if (!cn->too_large) sbuf_add(&cn->body, upload_data, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (!strcmp(method, "OPTIONS")) {
        struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (!resp) return MHD_NO;
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
        MHD_add_response_header(resp, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
        MHD_add_response_header(resp, "Access-Control-Allow-Headers", "Content-Type, Authorization, X-Conversation-Id");
        enum MHD_Result ret = MHD_queue_response(c, 204, resp);
        MHD_destroy_response(resp);
        return ret;
    }
    struct srv_reply r = {0};
    route(s, c, cn, url, method, &r);
    srv_metrics_request(s, metrics_endpoint(url), r.status);
    if (!r.job) conn_release(s->pool, cn); /* answered at once: the model is given back before the reply goes out */
    enum MHD_Result ret = send_reply(c, cn, s->pool, &r);
    if (r.job) srv_job_unref(r.job); /* not handed to a response */
    sbuf_free(&r.body);
    return ret;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    struct server *s = cls;
    struct conn *cn = *con_cls;
    if (!cn) return;
    if (cn->job) {
        if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) srv_job_cancel(cn->job);
        srv_job_unref(cn->job);
    }
    conn_release(s->pool, cn);
    sbuf_free(&cn->body);
    free(cn);
    *con_cls = NULL;
}

int srv_http_run(struct server *s, const char *host, int port) {
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char sport[16];
    snprintf(sport, sizeof(sport), "%d", port);
    int gai = getaddrinfo(host, sport, &hints, &ai);
    if (gai || !ai) {
        fprintf(stderr, "edgellm serve: cannot resolve host '%s': %s\n", host, gai_strerror(gai));
        return 1;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    /* signals are taken by sigwait below: block them before any thread exists */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct MHD_Daemon *d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, handle, s,
                                            MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                                            MHD_OPTION_NOTIFY_COMPLETED, completed, s,
                                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)512,
                                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)300,
                                            MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!d) {
        fprintf(stderr, "edgellm serve: cannot listen on %s:%d: %s\n", host, port, strerror(errno));
        return 1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    int bound = di ? di->port : port;
    int v6 = strchr(host, ':') != NULL;
    fprintf(stderr, "listening on http://%s%s%s:%d\n", v6 ? "[" : "", host, v6 ? "]" : "", bound);
    fflush(stderr);
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "edgellm serve: signal %d, shutting down\n", sig);
    if (s->pool) srv_pool_stop(s->pool);
    else srv_engine_stop(s);
    MHD_stop_daemon(d);
    return 0;
}
