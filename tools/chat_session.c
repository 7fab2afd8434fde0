/* Session files of `edgellm chat --session` (chat_session.h). Layout:
 *   "EDGELLM-SESSION 1 json=J tokens=T state=S sum=HHHHHHHHHHHHHHHH\n"
 *   J bytes of JSON {"messages": [{"role": ..., "content": ...}, ...]}
 *   T int32 tokens (native byte order): the token history of the KV cache
 *   S bytes of edgellm_context_seq_state_get (checksummed and tied to the model by the library)
 * sum: FNV-1a 64 of the JSON and token bytes. */
#include "chat_session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "cmd_run.h"

#define SESSION_MAGIC "EDGELLM-SESSION 1 "

static uint64_t session_fnv(const void *p, size_t n, uint64_t h) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}
#define FNV_INIT 0xcbf29ce484222325ULL

int chat_session_save(const char *cmd, const char *path, const char *const *roles, const char *const *contents, int n,
                      const edgellm_token *tokens, int32_t n_tokens, struct edgellm_context *ctx) {
    char *msgs = run_messages_json(roles, contents, n);
    size_t ns = edgellm_context_seq_state_size(ctx, 0);
    uint8_t *state = ns ? malloc(ns) : NULL;
    size_t tmp_len = strlen(path) + 5;
    char *tmp = malloc(tmp_len);
    int rc = -1;
    if (!msgs || !state || !tmp) {
        cli_err(cmd, "session %s: out of memory", path);
        goto done;
    }
    uint32_t seq_len = edgellm_context_seq_len(ctx, 0);
    if ((uint32_t)n_tokens > seq_len) n_tokens = (int32_t)seq_len;
    if ((uint32_t)n_tokens < seq_len) edgellm_context_seq_truncate(ctx, 0, (uint32_t)n_tokens); /* keep them equal */
    ns = edgellm_context_seq_state_size(ctx, 0);
    if (edgellm_context_seq_state_get(ctx, 0, state, ns, &ns) != EDGELLM_OK) {
        cli_err(cmd, "session %s: %s", path, edgellm_context_errmsg(ctx));
        goto done;
    }
    size_t nj = strlen(msgs) + sizeof "{\"messages\": }" - 1;
    char *json = malloc(nj + 1);
    if (!json) {
        cli_err(cmd, "session %s: out of memory", path);
        goto done;
    }
    snprintf(json, nj + 1, "{\"messages\": %s}", msgs);
    uint64_t sum = session_fnv(json, nj, FNV_INIT);
    sum = session_fnv(tokens, (size_t)n_tokens * sizeof *tokens, sum);
    snprintf(tmp, tmp_len, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    int ok = f != NULL;
    if (ok) {
        ok = fprintf(f, SESSION_MAGIC "json=%zu tokens=%d state=%zu sum=%016llx\n", nj, (int)n_tokens, ns,
                     (unsigned long long)sum) > 0 &&
             fwrite(json, 1, nj, f) == nj && fwrite(tokens, sizeof *tokens, (size_t)n_tokens, f) == (size_t)n_tokens &&
             fwrite(state, 1, ns, f) == ns;
        ok = (fclose(f) == 0) && ok;
    }
    free(json);
    if (!ok || rename(tmp, path) != 0) {
        cli_err(cmd, "cannot write session %s: %s", path, strerror(errno));
        remove(tmp);
        goto done;
    }
    rc = 0;
done:
    free(msgs);
    free(state);
    free(tmp);
    return rc;
}

/* ---- a reader for the JSON this file writes ------------------------------------------------ */

static const char *json_ws(const char *p, const char *e) {
    while (p < e && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    return p;
}

static int json_lit(const char **p, const char *e, const char *lit) {
    size_t n = strlen(lit);
    *p = json_ws(*p, e);
    if ((size_t)(e - *p) < n || memcmp(*p, lit, n)) return 0;
    *p += n;
    return 1;
}

static int hex4(const char *p, unsigned *v) {
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        *v <<= 4;
        if (c >= '0' && c <= '9') *v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') *v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') *v |= (unsigned)(c - 'A' + 10);
        else return 0;
    }
    return 1;
}

/* A JSON string at *p into a malloc'ed UTF-8 string (\uXXXX of the BMP; surrogate pairs too). */
static char *json_string(const char **p, const char *e) {
    *p = json_ws(*p, e);
    if (*p >= e || **p != '"') return NULL;
    const char *q = *p + 1;
    char *out = malloc((size_t)(e - q) + 1), *o = out;
    if (!out) return NULL;
    while (q < e && *q != '"') {
        if (*q != '\\') { *o++ = *q++; continue; }
        if (++q >= e) break;
        char c = *q++;
        switch (c) {
        case 'n': *o++ = '\n'; break;
        case 't': *o++ = '\t'; break;
        case 'r': *o++ = '\r'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case '"': case '\\': case '/': *o++ = c; break;
        case 'u': {
            unsigned u, lo;
            if (e - q < 4 || !hex4(q, &u)) goto bad;
            q += 4;
            if (u >= 0xd800 && u < 0xdc00 && e - q >= 6 && q[0] == '\\' && q[1] == 'u' && hex4(q + 2, &lo) && lo >= 0xdc00 &&
                lo < 0xe000) {
                u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
                q += 6;
            }
            if (u < 0x80) *o++ = (char)u;
            else if (u < 0x800) { *o++ = (char)(0xc0 | (u >> 6)); *o++ = (char)(0x80 | (u & 0x3f)); }
            else if (u < 0x10000) {
                *o++ = (char)(0xe0 | (u >> 12)); *o++ = (char)(0x80 | ((u >> 6) & 0x3f)); *o++ = (char)(0x80 | (u & 0x3f));
            } else {
                *o++ = (char)(0xf0 | (u >> 18)); *o++ = (char)(0x80 | ((u >> 12) & 0x3f));
                *o++ = (char)(0x80 | ((u >> 6) & 0x3f)); *o++ = (char)(0x80 | (u & 0x3f));
            }
            break;
        }
        default: goto bad;
        }
    }
    if (q >= e) goto bad;
    *o = 0;
    *p = q + 1;
    return out;
bad:
    free(out);
    return NULL;
}

static int session_add(struct chat_session *s, const char *role, char *content) {
    const char **r = realloc(s->roles, (size_t)(s->n + 1) * sizeof *r);
    if (!r) return 0;
    s->roles = r;
    char **c = realloc(s->contents, (size_t)(s->n + 1) * sizeof *c);
    if (!c) return 0;
    s->contents = c;
    s->roles[s->n] = role;
    s->contents[s->n++] = content;
    return 1;
}

/* {"messages": [{"role": R, "content": C}, ...]} */
static int session_parse(const char *p, const char *e, struct chat_session *s) {
    static const char *const roles[] = {"system", "user", "assistant"};
    if (!json_lit(&p, e, "{") || !json_lit(&p, e, "\"messages\"") || !json_lit(&p, e, ":") || !json_lit(&p, e, "[")) return 0;
    if (json_lit(&p, e, "]")) return json_lit(&p, e, "}");
    do {
        char *role = NULL, *content = NULL;
        if (!json_lit(&p, e, "{") || !json_lit(&p, e, "\"role\"") || !json_lit(&p, e, ":") || !(role = json_string(&p, e)) ||
            !json_lit(&p, e, ",") || !json_lit(&p, e, "\"content\"") || !json_lit(&p, e, ":") ||
            !(content = json_string(&p, e)) || !json_lit(&p, e, "}")) {
            free(role);
            free(content);
            return 0;
        }
        const char *lit = NULL;
        for (size_t k = 0; k < sizeof roles / sizeof roles[0]; k++)
            if (!strcmp(role, roles[k])) lit = roles[k];
        free(role);
        if (!lit || !session_add(s, lit, content)) {
            free(content);
            return 0;
        }
    } while (json_lit(&p, e, ","));
    return json_lit(&p, e, "]") && json_lit(&p, e, "}") && json_ws(p, e) == e;
}

void chat_session_free(struct chat_session *s) {
    for (int i = 0; i < s->n; i++) free(s->contents[i]);
    free(s->contents);
    free(s->roles);
    free(s->tokens);
    memset(s, 0, sizeof *s);
}

int chat_session_load(const char *cmd, const char *path, struct edgellm_context *ctx, struct chat_session *s) {
    memset(s, 0, sizeof *s);
    struct stat stt;
    if (stat(path, &stt) != 0 && errno == ENOENT) return 0;
    size_t len = 0;
    char *buf = cli_read_file(cmd, path, &len);
    if (!buf) return -1;
    size_t nj = 0, ns = 0;
    int nt = -1, hl = 0;
    unsigned long long sum = 0;
    const char *why = NULL;
    char *nl = memchr(buf, '\n', len < 256 ? len : 256);
    if (!nl || strncmp(buf, SESSION_MAGIC, sizeof SESSION_MAGIC - 1) ||
        sscanf(buf + sizeof SESSION_MAGIC - 1, "json=%zu tokens=%d state=%zu sum=%16llx%n", &nj, &nt, &ns, &sum, &hl) != 4 ||
        nt < 0)
        why = "not an edgellm session file (or a damaged header)";
    size_t h = (size_t)(nl - buf) + 1;
    if (!why && (nj > len || ns > len || (size_t)nt > len / 4 || h + nj + (size_t)nt * 4 + ns != len))
        why = "its size does not match its header (truncated?)";
    const char *json = buf + h;
    edgellm_token *toks = (edgellm_token *)NULL;
    if (!why) {
        uint64_t got = session_fnv(json, nj, FNV_INIT);
        got = session_fnv(json + nj, (size_t)nt * 4, got);
        if (got != sum) why = "checksum mismatch (the file is damaged)";
    }
    if (!why && !session_parse(json, json + nj, s)) why = "its messages are not valid";
    if (!why && (toks = malloc((size_t)(nt ? nt : 1) * sizeof *toks)) == NULL) why = "out of memory";
    if (!why) {
        memcpy(toks, json + nj, (size_t)nt * sizeof *toks);
        s->tokens = toks;
        s->n_tokens = nt;
        edgellm_status st = edgellm_context_seq_state_set(ctx, 0, json + nj + (size_t)nt * 4, ns);
        if (st == EDGELLM_ERR_UNSUPPORTED) {
            cli_err(cmd, "session %s was saved with another model or KV cache type: %s", path, edgellm_context_errmsg(ctx));
            goto fail;
        }
        if (st == EDGELLM_ERR_CONTEXT_FULL) {
            cli_err(cmd, "session %s does not fit this context (%s): use a larger -c", path, edgellm_context_errmsg(ctx));
            goto fail;
        }
        if (st != EDGELLM_OK) why = edgellm_context_errmsg(ctx);
        else if (edgellm_context_seq_len(ctx, 0) != (uint32_t)nt) why = "its token history does not match its state";
    }
    if (why) {
        cli_err(cmd, "session %s is corrupt: %s", path, why);
        goto fail;
    }
    free(buf);
    return 1;
fail:
    edgellm_context_seq_truncate(ctx, 0, 0);
    chat_session_free(s);
    free(buf);
    return -1;
}
