/* chat: the public chat-template API. edgellm_template_render turns JSON messages and parameters
 * into template variables (messages, add_generation_prompt, bos_token, eos_token, each kwargs
 * member) and runs the Jinja interpreter; edgellm_chat_render does the same with a model's own
 * template and special tokens, falling back to a ChatML prompt when the model has no template or
 * uses a construct the interpreter does not support. Variables are built as json_value trees. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "edgellm.h"
#include "core/util.h"
#include "template/jinja.h"
#include "template/json.h"

/* The 1.0 layouts (include/edgellm.h): a caller's struct_size must reach at least this far. */
#define TEMPLATE_PARAMS_SIZE_1_0 UTIL_END_OF(struct edgellm_template_params, kwargs_json)
#define CHAT_PARAMS_SIZE_1_0 UTIL_END_OF(struct edgellm_chat_params, prompt)
#ifndef EDGELLM_TEST_GROW_STRUCTS
_Static_assert(TEMPLATE_PARAMS_SIZE_1_0 == sizeof(struct edgellm_template_params), "1.0 layout ends in padding");
_Static_assert(CHAT_PARAMS_SIZE_1_0 == sizeof(struct edgellm_chat_params), "1.0 layout ends in padding");
#endif

static void set_err(char *err, size_t size, const char *fmt, const char *arg) {
    if (err && size) snprintf(err, size, fmt, arg);
}

/* Variables owned by a render call: the json_values built here are freed with it. */
struct vars {
    struct jinja_var v[64 + 8];  /* messages, flags, bos, eos, extra + up to 64 kwargs */
    int n;
    json_value scalars[6];
    int n_scalars;
};

static void add_scalar_str(struct vars *vs, const char *name, const char *s) {
    json_value *j = &vs->scalars[vs->n_scalars++];
    memset(j, 0, sizeof *j);
    j->type = JSON_STRING;
    j->str = (char *)s;
    j->len = strlen(s);
    vs->v[vs->n].name = name;
    vs->v[vs->n++].value = j;
}

static void add_scalar_bool(struct vars *vs, const char *name, int b) {
    json_value *j = &vs->scalars[vs->n_scalars++];
    memset(j, 0, sizeof *j);
    j->type = JSON_BOOL;
    j->boolean = !!b;
    vs->v[vs->n].name = name;
    vs->v[vs->n++].value = j;
}

/* Parses messages (a list) and kwargs (an object, or NULL). EDGELLM_ERR_FORMAT with a message on bad JSON. */
static edgellm_status parse_inputs(const char *messages_json, const char *kwargs_json, json_value **msgs,
                                   json_value **kwargs, char *err, size_t err_size) {
    char jerr[200];
    *msgs = *kwargs = NULL;
    if (!messages_json) { set_err(err, err_size, "%s", "messages: no JSON given"); return EDGELLM_ERR_ARG; }
    *msgs = json_parse(messages_json, strlen(messages_json), jerr, sizeof jerr);
    if (!*msgs) { set_err(err, err_size, "messages: %s", jerr); return EDGELLM_ERR_FORMAT; }
    if ((*msgs)->type != JSON_ARRAY) {
        set_err(err, err_size, "%s", "messages must be a JSON list of {\"role\": ..., \"content\": ...} objects");
        json_free(*msgs);
        *msgs = NULL;
        return EDGELLM_ERR_FORMAT;
    }
    if (kwargs_json) {
        *kwargs = json_parse(kwargs_json, strlen(kwargs_json), jerr, sizeof jerr);
        if (!*kwargs || (*kwargs)->type != JSON_OBJECT) {
            if (*kwargs) snprintf(jerr, sizeof jerr, "kwargs must be a JSON object");
            set_err(err, err_size, "kwargs: %s", jerr);
            json_free(*msgs);
            json_free(*kwargs);
            *msgs = *kwargs = NULL;
            return EDGELLM_ERR_FORMAT;
        }
        if ((*kwargs)->len > 64) {
            set_err(err, err_size, "%s", "kwargs: more than 64 members");
            json_free(*msgs);
            json_free(*kwargs);
            *msgs = *kwargs = NULL;
            return EDGELLM_ERR_FORMAT;
        }
    }
    return EDGELLM_OK;
}

/* Renders with parsed inputs; *jst gets the interpreter's own status. */
static edgellm_status render(const char *template_src, const json_value *msgs, const json_value *kwargs,
                             int add_generation_prompt, const char *bos, const char *eos, const char *unk,
                             const char *pad, const char *date,
                             const char *extra_name, int extra_bool, char **out, jinja_status *jst,
                             char *err, size_t err_size) {
    struct vars vs;
    vs.n = vs.n_scalars = 0;
    struct jinja_time t, *now = NULL;
    *jst = JINJA_OK;
    if (date) {
        if (!jinja_parse_date(date, &t)) { set_err(err, err_size, "bad date '%s' (want YYYY-MM-DD)", date); return EDGELLM_ERR_ARG; }
        now = &t;
    }
    vs.v[vs.n].name = "messages";
    vs.v[vs.n++].value = msgs;
    add_scalar_bool(&vs, "add_generation_prompt", add_generation_prompt);
    if (bos) add_scalar_str(&vs, "bos_token", bos);
    if (eos) add_scalar_str(&vs, "eos_token", eos);
    if (unk) add_scalar_str(&vs, "unk_token", unk);
    if (pad) add_scalar_str(&vs, "pad_token", pad);
    int has_extra = extra_name != NULL;
    for (size_t i = 0; kwargs && i < kwargs->len; i++) {
        if (has_extra && !strcmp(kwargs->keys[i], extra_name)) has_extra = 0;
        vs.v[vs.n].name = kwargs->keys[i];
        vs.v[vs.n++].value = kwargs->items[i];
    }
    if (has_extra) add_scalar_bool(&vs, extra_name, extra_bool);
    if (!template_src) { set_err(err, err_size, "%s", "no template"); return EDGELLM_ERR_ARG; }
    size_t len;
    *jst = jinja_render(template_src, strlen(template_src), vs.v, vs.n, now, NULL, out, &len, err, err_size);
    if (*jst == JINJA_OK) return EDGELLM_OK;
    return *jst == JINJA_ERR_NOMEM ? EDGELLM_ERR_NOMEM : EDGELLM_ERR_TEMPLATE;
}

edgellm_status edgellm_template_render(const char *template_src, const char *messages_json,
                                       const struct edgellm_template_params *params,
                                       char **out, char *err, size_t err_size) {
    struct edgellm_template_params def = edgellm_template_default_params();
    if (err && err_size) err[0] = 0;
    if (!out) return util_errf(err, err_size, EDGELLM_ERR_ARG, "no place for the result (out is NULL)");
    *out = NULL;
    if (util_params_in(&def, sizeof def, params, TEMPLATE_PARAMS_SIZE_1_0) != EDGELLM_OK || !UTIL_GROWN_OK(def))
        return util_errf(err, err_size, EDGELLM_ERR_ARG, "template params: struct_size %u is not a known layout",
                         params ? (unsigned)params->struct_size : 0u);
    params = &def;
    json_value *msgs, *kwargs;
    edgellm_status st = parse_inputs(messages_json, params->kwargs_json, &msgs, &kwargs, err, err_size);
    if (st != EDGELLM_OK) return st;
    jinja_status jst;
    st = render(template_src, msgs, kwargs, params->add_generation_prompt, params->bos_token, params->eos_token,
                NULL, NULL, params->date, NULL, 0, out, &jst, err, err_size);
    json_free(msgs);
    json_free(kwargs);
    return st;
}

/* <|im_start|>role\ncontent<|im_end|>\n per message, then the assistant header. */
static edgellm_status chatml(const json_value *msgs, int add_generation_prompt, char **out) {
    json_buf b = {0};
    for (size_t i = 0; i < msgs->len; i++) {
        const json_value *m = msgs->items[i];
        const json_value *role = json_get(m, "role"), *content = json_get(m, "content");
        json_buf_puts(&b, "<|im_start|>");
        if (role && role->type == JSON_STRING) json_buf_put(&b, role->str, role->len);
        else json_buf_puts(&b, "user");
        json_buf_puts(&b, "\n");
        if (content && content->type == JSON_STRING) json_buf_put(&b, content->str, content->len);
        else if (content && content->type != JSON_NULL) json_write(&b, content, -1, 0);
        json_buf_puts(&b, "<|im_end|>\n");
    }
    if (add_generation_prompt) json_buf_puts(&b, "<|im_start|>assistant\n");
    json_buf_put(&b, "", 0);
    if (b.failed) { json_buf_free(&b); return EDGELLM_ERR_NOMEM; }
    if (!b.data) {
        b.data = calloc(1, 1);
        if (!b.data) return EDGELLM_ERR_NOMEM;
    }
    *out = b.data;
    return EDGELLM_OK;
}

edgellm_status edgellm_chat_render(const struct edgellm_model *model, const char *messages_json,
                                   const struct edgellm_chat_params *params, char **out,
                                   int *used_fallback, char *err, size_t err_size) {
    if (used_fallback) *used_fallback = 0;
    if (err && err_size) err[0] = 0;
    if (!out || !model) return util_errf(err, err_size, EDGELLM_ERR_ARG, "no model or no place for the result");
    *out = NULL;
    struct edgellm_chat_params cp = edgellm_chat_default_params();
    if (util_params_in(&cp, sizeof cp, params, CHAT_PARAMS_SIZE_1_0) != EDGELLM_OK || !UTIL_GROWN_OK(cp))
        return util_errf(err, err_size, EDGELLM_ERR_ARG, "chat params: struct_size %u is not a known layout",
                         params ? (unsigned)params->struct_size : 0u);
    const int add_generation_prompt = cp.add_generation_prompt, enable_thinking = cp.enable_thinking;
    json_value *msgs, *kwargs;
    edgellm_status st = parse_inputs(messages_json, cp.kwargs_json, &msgs, &kwargs, err, err_size);
    if (st != EDGELLM_OK) return st;
    struct edgellm_model_desc d = EDGELLM_MODEL_DESC_INIT;
    edgellm_model_describe(model, &d);
    char why[300];
    why[0] = 0;
    if (d.chat_template && d.chat_template[0]) {
        const char *bos = d.bos >= 0 ? edgellm_token_text(model, d.bos) : NULL;
        const char *eos = d.eos >= 0 ? edgellm_token_text(model, d.eos) : NULL;
        /* Hugging Face passes the tokenizer's special tokens map: bos, eos, unk and pad */
        const char *unk = d.unk >= 0 ? edgellm_token_text(model, d.unk) : NULL;
        const char *pad = d.pad >= 0 ? edgellm_token_text(model, d.pad) : NULL;
        jinja_status jst;
        st = render(d.chat_template, msgs, kwargs, add_generation_prompt, bos, eos, unk, pad, NULL, "enable_thinking",
                    enable_thinking, out, &jst, why, sizeof why);
        if (st == EDGELLM_OK || (jst != JINJA_ERR_UNSUPPORTED && jst != JINJA_ERR_SYNTAX)) {
            if (st != EDGELLM_OK) util_errf(err, err_size, st, "%s", why);
            json_free(msgs);
            json_free(kwargs);
            return st;
        }
        util_errf(err, err_size, EDGELLM_OK, "chat template not supported (%s); using a ChatML prompt", why);
    } else util_errf(err, err_size, EDGELLM_OK, "the model has no chat template; using a ChatML prompt");
    st = chatml(msgs, add_generation_prompt, out);
    if (st == EDGELLM_OK && used_fallback) *used_fallback = 1;
    json_free(msgs);
    json_free(kwargs);
    return st;
}
