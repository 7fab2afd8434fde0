/* edgellm serve — tool calling, shared by the OpenAI and Ollama chat endpoints.
 * Request side: `tools`, `tool_choice` ("auto", "none", "required", {"type": "function",
 * "function": {"name"}}) and `parallel_tool_calls`. The model's template renders the tools; its
 * call syntax (the family: Hermes <tool_call>, Llama 3.x JSON, DeepSeek R1 markers) is read from
 * the template text. "required" / named: a grammar of the family's calls, built from the tools'
 * `parameters` schemas, constrains the answer from its first token (after closing an open
 * <think>). "auto": a grammar that lets any text through until the family's call opener and then
 * only a valid call. "none": no grammar, no call parsing.
 * Output side: the answer's content is held back from the first possible call opener on; at the
 * end it is parsed by edgellm_parse_tool_calls into tool_calls (ids assigned here); output that is
 * not a valid call stays content. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "server.h"

#define R1_CALLS_BEGIN "<\xef\xbd\x9ctool\xe2\x96\x81" "calls\xe2\x96\x81" "begin\xef\xbd\x9c>"
#define R1_CALLS_END "<\xef\xbd\x9ctool\xe2\x96\x81" "calls\xe2\x96\x81" "end\xef\xbd\x9c>"
#define R1_CALL_BEGIN "<\xef\xbd\x9ctool\xe2\x96\x81" "call\xe2\x96\x81" "begin\xef\xbd\x9c>"
#define R1_CALL_END "<\xef\xbd\x9ctool\xe2\x96\x81" "call\xe2\x96\x81" "end\xef\xbd\x9c>"
#define R1_SEP "<\xef\xbd\x9ctool\xe2\x96\x81" "sep\xef\xbd\x9c>"

/* The family of the model's template (the parser's name), "hermes" when it shows none. */
static const char *tools_family(const struct server *s) {
    const char *t = s->desc.chat_template ? s->desc.chat_template : "";
    if (strstr(t, "tool\xe2\x96\x81" "calls\xe2\x96\x81" "begin")) return "deepseek-r1";
    if (strstr(t, "<tool_call>")) return "hermes";
    if (strstr(t, "ipython") || strstr(t, "<|python_tag|>")) return "llama3";
    return "hermes";
}

/* The text that opens a call in the family's syntax ("" for Llama 3.x: the whole message). */
static const char *tools_opener(const char *family) {
    if (!strcmp(family, "deepseek-r1")) return R1_CALLS_BEGIN;
    if (!strcmp(family, "llama3")) return "";
    return "<tool_call>";
}

/* A tool's function name (NULL when not a string) and parameters (NULL when absent). */
static const cJSON *tool_fn(const cJSON *tool, const cJSON **params) {
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tool, "function");
    *params = cJSON_GetObjectItemCaseSensitive(fn, "parameters");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
    return cJSON_IsString(name) ? name : NULL;
}

/* A GBNF string literal of s. */
static void gbnf_lit(struct sbuf *b, const char *s) {
    sbuf_adds(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') { esc[0] = '\\'; esc[1] = (char)*p; sbuf_add(b, esc, 2); }
        else if (*p == '\n') sbuf_adds(b, "\\n");
        else if (*p < 0x20) { snprintf(esc, sizeof esc, "\\x%02x", *p); sbuf_adds(b, esc); }
        else sbuf_add(b, (const char *)p, 1);
    }
    sbuf_adds(b, "\"");
}

/* Appends GBNF text g with every rule name prefixed by pre (literals, classes and comments are
 * copied as they are). */
static void gbnf_prefixed(struct sbuf *b, const char *g, const char *pre) {
    for (const char *p = g; *p;) {
        if (*p == '"' || *p == '[') {
            const char close = *p == '"' ? '"' : ']';
            const char *q = p + 1;
            while (*q && *q != close) q += (*q == '\\' && q[1]) ? 2 : 1;
            if (*q) q++;
            sbuf_add(b, p, (size_t)(q - p));
            p = q;
        } else if (*p == '#') {
            const char *q = strchr(p, '\n');
            if (!q) q = p + strlen(p);
            sbuf_add(b, p, (size_t)(q - p));
            p = q;
        } else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_') {
            const char *q = p;
            while ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || *q == '-' || *q == '_') q++;
            /* digits right after '{' or ',' are a repetition count, not a name */
            const char *prev = p;
            while (prev > g && (prev[-1] == ' ' || prev[-1] == '\t')) prev--;
            int count = *p >= '0' && *p <= '9' && prev > g && (prev[-1] == '{' || prev[-1] == ',');
            if (!count) sbuf_adds(b, pre);
            sbuf_add(b, p, (size_t)(q - p));
            p = q;
        } else {
            sbuf_add(b, p, 1);
            p++;
        }
    }
}

/* Rules "free" (any text without `w`) and, for a non-empty w, the KMP states f0..f<len-1>:
 * f<k> is "k characters of w matched"; each accepts the end of the text. */
static void gbnf_free_text(struct sbuf *b, const char *w) {
    size_t n = strlen(w);
    /* w as code points (UTF-8 sequences) */
    const char *cp[64];
    size_t cl[64], m = 0;
    for (size_t i = 0; i < n && m < 64;) {
        size_t l = 1;
        unsigned char c = (unsigned char)w[i];
        if (c >= 0xf0) l = 4;
        else if (c >= 0xe0) l = 3;
        else if (c >= 0xc0) l = 2;
        cp[m] = w + i, cl[m++] = l;
        i += l;
    }
    sbuf_adds(b, "free ::= f0\n");
    for (size_t k = 0; k < m; k++) {
        char line[64];
        snprintf(line, sizeof line, "f%zu ::= \"\"", k);
        sbuf_adds(b, line);
        /* every character of w: where the match goes (longest prefix of w ending there) */
        for (size_t c = 0; c < m; c++) {
            int dup = 0;
            for (size_t d = 0; d < c; d++) dup |= cl[d] == cl[c] && !memcmp(cp[d], cp[c], cl[c]);
            if (dup) continue;
            /* matched w[0..k) then character c: the longest j with w[0..j) a suffix of that */
            size_t j = k + 1;
            for (; j > 0; j--) {
                /* compare w[0..j) with (w[k-j+1..k) + c) */
                int ok = 1;
                for (size_t t = 0; t + 1 < j && ok; t++) {
                    size_t a = t, bb = k - j + 1 + t;
                    ok = cl[a] == cl[bb] && !memcmp(cp[a], cp[bb], cl[a]);
                }
                if (ok) ok = cl[j - 1] == cl[c] && !memcmp(cp[j - 1], cp[c], cl[c]);
                if (ok) break;
            }
            if (j == m) continue; /* the whole opener: not free text */
            char ch[8];
            memcpy(ch, cp[c], cl[c]);
            ch[cl[c]] = 0;
            sbuf_adds(b, " | ");
            gbnf_lit(b, ch);
            snprintf(line, sizeof line, " f%zu", j);
            sbuf_adds(b, line);
        }
        /* any other character: back to state 0 */
        sbuf_adds(b, " | [^");
        for (size_t c = 0; c < m; c++) {
            if (cl[c] == 1 && (*cp[c] == ']' || *cp[c] == '\\' || *cp[c] == '^' || *cp[c] == '-' || *cp[c] == '[')) sbuf_adds(b, "\\");
            sbuf_add(b, cp[c], cl[c]);
        }
        sbuf_adds(b, "] f0\n");
    }
}

/* Builds the job's grammar for its tools (mode AUTO or REQUIRED; named: tools holds one). */
static int tools_grammar(struct srv_job *job, const cJSON *tools, int parallel, struct srv_reply *r) {
    const char *fam = job->tool_family;
    struct sbuf g = {0};
    struct sbuf calls = {0};
    sbuf_adds(&calls, "call ::= ");
    int i = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, tools) {
        const cJSON *params, *name = tool_fn(t, &params);
        char *ptext = params && cJSON_IsObject(params) ? cJSON_PrintUnformatted(params) : strdup("{\"type\": \"object\"}");
        char err[256] = "", *pg = NULL, pre[24];
        edgellm_status st = ptext ? edgellm_json_schema_to_gbnf(ptext, 0, &pg, err, sizeof err) : EDGELLM_ERR_NOMEM;
        free(ptext);
        if (st != EDGELLM_OK) {
            srv_reply_error(r, st == EDGELLM_ERR_NOMEM ? 500 : 400, st == EDGELLM_ERR_NOMEM ? "server_error" : "invalid_request_error",
                            "tools[%d].function.parameters: %s", i, err[0] ? err : edgellm_status_str(st));
            sbuf_free(&g), sbuf_free(&calls);
            return -1;
        }
        snprintf(pre, sizeof pre, "t%d-", i);
        gbnf_prefixed(&g, pg, pre);
        edgellm_free(pg);
        /* the name as JSON text (for the JSON-based syntaxes) */
        cJSON *js = cJSON_CreateString(name->valuestring);
        char *jname = js ? cJSON_PrintUnformatted(js) : NULL;
        cJSON_Delete(js);
        struct sbuf head = {0};
        if (!strcmp(fam, "deepseek-r1")) {
            sbuf_adds(&head, R1_CALL_BEGIN "function" R1_SEP);
            sbuf_adds(&head, name->valuestring);
            sbuf_adds(&head, "\n```json\n");
        } else {
            sbuf_adds(&head, "{\"name\": ");
            sbuf_adds(&head, jname ? jname : "\"\"");
            sbuf_adds(&head, !strcmp(fam, "llama3") ? ", \"parameters\": " : ", \"arguments\": ");
        }
        free(jname);
        if (i) sbuf_adds(&calls, " | ");
        gbnf_lit(&calls, head.p);
        sbuf_adds(&calls, " ");
        sbuf_adds(&calls, pre);
        sbuf_adds(&calls, "root ");
        gbnf_lit(&calls, !strcmp(fam, "deepseek-r1") ? "\n```" R1_CALL_END : "}");
        sbuf_free(&head);
        i++;
    }
    sbuf_adds(&calls, "\n");
    sbuf_add(&g, calls.p, calls.len);
    sbuf_free(&calls);
    /* the calls in the family's syntax, after its opener */
    if (!strcmp(fam, "deepseek-r1"))
        sbuf_adds(&g, parallel ? "calls-rest ::= call (\"\\n\" call)* " : "calls-rest ::= call ");
    else if (!strcmp(fam, "llama3"))
        sbuf_adds(&g, "calls-rest ::= call\n");
    else
        sbuf_adds(&g, parallel ? "calls-rest ::= \"\\n\" call \"\\n</tool_call>\" (\"\\n<tool_call>\\n\" call \"\\n</tool_call>\")*\n"
                               : "calls-rest ::= \"\\n\" call \"\\n</tool_call>\"\n");
    if (!strcmp(fam, "deepseek-r1")) {
        gbnf_lit(&g, R1_CALLS_END);
        sbuf_adds(&g, "\n");
    }
    const char *opener = tools_opener(fam);
    struct sbuf calls_rule = {0};
    gbnf_lit(&calls_rule, opener);
    sbuf_adds(&g, "calls ::= ");
    if (*opener) sbuf_add(&g, calls_rule.p, calls_rule.len), sbuf_adds(&g, " ");
    sbuf_adds(&g, "calls-rest\n");
    sbuf_free(&calls_rule);
    if (job->tool_mode == SRV_TOOLS_REQUIRED) {
        /* from the first token: close an open think block, then the calls */
        sbuf_adds(&g, job->think_open ? "tools-root ::= \"</think>\" \"\\n\"{0,2} calls\n" : "tools-root ::= calls\n");
    } else if (*opener) {
        /* any text without the opener, then optionally the opener and valid calls */
        gbnf_free_text(&g, opener);
        sbuf_adds(&g, "tools-root ::= free calls?\n");
    } else {
        /* Llama 3.x: the message is one call, or text that does not start with '{' */
        sbuf_adds(&g, "tools-root ::= calls | \"<|python_tag|>\" calls | ([^{<] | \"<\" [^|]) [\\x00-\\U0010FFFF]* | \"<\" | \"\"\n");
    }
    char err[256] = "";
    edgellm_status st = g.p ? edgellm_grammar_from_gbnf(g.p, "tools-root", &job->grammar, err, sizeof err) : EDGELLM_ERR_NOMEM;
    sbuf_free(&g);
    if (st != EDGELLM_OK) {
        srv_reply_error(r, st == EDGELLM_ERR_NOMEM ? 500 : 400, st == EDGELLM_ERR_NOMEM ? "server_error" : "invalid_request_error",
                        "cannot build the tool-call grammar: %s", err[0] ? err : edgellm_status_str(st));
        return -1;
    }
    return 0;
}

int srv_tools_parse(struct server *s, const cJSON *root, struct srv_tools_req *out, struct srv_reply *r) {
    memset(out, 0, sizeof *out);
    out->mode = SRV_TOOLS_OFF;
    out->parallel = 1;
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(root, "tools");
    const cJSON *choice = cJSON_GetObjectItemCaseSensitive(root, "tool_choice");
    if (tools && cJSON_IsNull(tools)) tools = NULL;
    if (choice && cJSON_IsNull(choice)) choice = NULL;
    if (srvj_bool(root, "parallel_tool_calls", &out->parallel, r) < 0) return -1;
    if (!tools) {
        if (choice && !(cJSON_IsString(choice) && (!strcmp(choice->valuestring, "none") || !strcmp(choice->valuestring, "auto")))) {
            srv_reply_error(r, 400, "invalid_request_error", "'tool_choice' needs 'tools'");
            return -1;
        }
        return 0;
    }
    if (!cJSON_IsArray(tools)) {
        srv_reply_error(r, 400, "invalid_request_error", "'tools' must be a list");
        return -1;
    }
    int i = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, tools) {
        const cJSON *params, *name = tool_fn(t, &params);
        if (!cJSON_IsObject(t) || !name || !name->valuestring[0] ||
            (params && !cJSON_IsNull(params) && !cJSON_IsObject(params))) {
            srv_reply_error(r, 400, "invalid_request_error",
                            "tools[%d] must be {\"type\": \"function\", \"function\": {\"name\": ..., \"parameters\": {...}}}", i);
            return -1;
        }
        i++;
    }
    out->tools = tools;
    out->mode = i ? SRV_TOOLS_AUTO : SRV_TOOLS_OFF;
    if (choice) {
        if (cJSON_IsString(choice) && !strcmp(choice->valuestring, "none")) out->mode = SRV_TOOLS_OFF;
        else if (cJSON_IsString(choice) && !strcmp(choice->valuestring, "auto")) ;
        else if (cJSON_IsString(choice) && !strcmp(choice->valuestring, "required")) out->mode = SRV_TOOLS_REQUIRED;
        else if (cJSON_IsObject(choice)) {
            const cJSON *fn = cJSON_GetObjectItemCaseSensitive(choice, "function");
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
            if (!cJSON_IsString(name)) {
                srv_reply_error(r, 400, "invalid_request_error", "'tool_choice' must be {\"type\": \"function\", \"function\": {\"name\": ...}}");
                return -1;
            }
            cJSON_ArrayForEach(t, tools) {
                const cJSON *params, *n = tool_fn(t, &params);
                if (!strcmp(n->valuestring, name->valuestring)) out->named = t;
            }
            if (!out->named) {
                srv_reply_error(r, 400, "invalid_request_error", "tool_choice names the function '%.80s', which is not in 'tools'",
                                name->valuestring);
                return -1;
            }
            out->mode = SRV_TOOLS_REQUIRED;
        } else {
            srv_reply_error(r, 400, "invalid_request_error", "'tool_choice' must be \"none\", \"auto\", \"required\" or a named function");
            return -1;
        }
    }
    if (out->mode == SRV_TOOLS_REQUIRED && !i) {
        srv_reply_error(r, 400, "invalid_request_error", "tool_choice 'required' needs at least one tool");
        return -1;
    }
    snprintf(out->family, sizeof out->family, "%s", tools_family(s));
    return 0;
}

char *srv_tools_kwargs(const cJSON *tools, const char *kwargs_json) {
    cJSON *kw = kwargs_json ? cJSON_Parse(kwargs_json) : cJSON_CreateObject();
    if (!kw) return NULL;
    if (tools) cJSON_AddItemToObject(kw, "tools", cJSON_Duplicate(tools, 1));
    char *out = cJSON_PrintUnformatted(kw);
    cJSON_Delete(kw);
    return out;
}

int srv_tools_apply(struct srv_job *job, const struct srv_tools_req *t, struct srv_reply *r) {
    job->tool_mode = t->mode;
    snprintf(job->tool_family, sizeof job->tool_family, "%s", t->family);
    if (t->mode == SRV_TOOLS_OFF) return 0;
    if (!t->named) return tools_grammar(job, t->tools, t->parallel, r);
    cJSON *one = cJSON_CreateArray();
    cJSON_AddItemReferenceToArray(one, (cJSON *)t->named);
    int rc = tools_grammar(job, one, t->parallel, r);
    cJSON_Delete(one);
    return rc;
}

size_t srv_tools_safe_len(const struct srv_job *job) {
    const char *c = job->content.p ? job->content.p : "";
    size_t n = job->content.len;
    const char *op = tools_opener(job->tool_family);
    if (!*op) {
        /* Llama 3.x: a call is the whole message: hold everything that may still become one */
        const char *p = c;
        while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') p++;
        if (!*p || *p == '{') return 0;
        size_t rest = strlen(p), tl = strlen("<|python_tag|>");
        if (!strncmp(p, "<|python_tag|>", rest < tl ? rest : tl)) return 0;
        return n;
    }
    const char *f = strstr(c, op);
    if (f) return (size_t)(f - c);
    size_t ol = strlen(op);
    for (size_t k = ol - 1 < n ? ol - 1 : n; k > 0; k--)
        if (!memcmp(c + n - k, op, k)) return n - k;
    return n;
}

/* A call id: "call_" and 9 letters / digits (some templates check for 9 alphanumerics). */
static void call_id(char *buf, size_t size, const struct srv_job *job, int i) {
    static const char al[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    uint64_t x = (uint64_t)srv_now_ns() ^ ((uint64_t)(uintptr_t)job << 7) ^ ((uint64_t)i * 0x9e3779b97f4a7c15ULL);
    char id[10];
    for (int k = 0; k < 9; k++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        id[k] = al[(x >> 33) % 62];
    }
    id[9] = 0;
    snprintf(buf, size, "call_%s", id);
}

cJSON *srv_tools_result(struct srv_job *job, char **content_out, int ollama) {
    *content_out = NULL;
    if (job->tool_mode == SRV_TOOLS_OFF) return NULL;
    char *json = NULL, err[128];
    if (edgellm_parse_tool_calls(job->tool_family, job->content.p ? job->content.p : "", 0, &json, err, sizeof err) != EDGELLM_OK)
        return NULL;
    cJSON *msg = cJSON_Parse(json);
    edgellm_free(json);
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls");
    if (!cJSON_IsArray(calls) || cJSON_GetArraySize(calls) == 0) {
        cJSON_Delete(msg);
        return NULL;
    }
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
    if (cJSON_IsString(content)) *content_out = strdup(content->valuestring);
    cJSON *out = cJSON_CreateArray();
    int i = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, calls) {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(c, "function");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
        const cJSON *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
        cJSON *o = cJSON_CreateObject();
        cJSON *f = cJSON_CreateObject();
        char id[32];
        call_id(id, sizeof id, job, i);
        if (!ollama) {
            cJSON_AddNumberToObject(o, "index", i);
            cJSON_AddStringToObject(o, "id", id);
            cJSON_AddStringToObject(o, "type", "function");
        }
        cJSON_AddStringToObject(f, "name", cJSON_IsString(name) ? name->valuestring : "");
        if (ollama) {
            cJSON *obj = cJSON_IsString(args) ? cJSON_Parse(args->valuestring) : NULL;
            cJSON_AddItemToObject(f, "arguments", obj ? obj : cJSON_CreateObject());
        } else {
            cJSON_AddStringToObject(f, "arguments", cJSON_IsString(args) ? args->valuestring : "{}");
        }
        cJSON_AddItemToObject(o, "function", f);
        cJSON_AddItemToArray(out, o);
        i++;
    }
    cJSON_Delete(msg);
    return out;
}

const char *srv_tools_opener(const struct srv_job *job) { return tools_opener(job->tool_family); }
