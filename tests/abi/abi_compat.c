/* ABI compatibility: this program is compiled against the frozen 1.0 header (tests/abi/
 * edgellm_1_0.h, never edited) and linked with a library whose public structs have grown (built
 * with EDGELLM_TEST_GROW_STRUCTS: each params / desc struct ends with one more field, which must
 * be 0 when read). Every struct the program hands over is followed by canary bytes 0xA5: a
 * library that read past the caller's struct_size would see a nonzero grown field and refuse
 * (EDGELLM_ERR_ARG); one that wrote past it would change the canary. The same program linked with
 * the current library (abi_compat_current) checks the plain case.
 * Usage: abi_compat SHARED_DIR. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgellm_1_0.h"

static int failures;
#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); failures++; } } while (0)

#define CANARY 0xA5
#define N_CANARY 64

static int canary_ok(const unsigned char *p) {
    for (int i = 0; i < N_CANARY; i++)
        if (p[i] != CANARY) return 0;
    return 1;
}

/* A struct followed directly by canary bytes (1.0 structs end without padding). */
#define GUARDED(type) struct { type s; unsigned char canary[N_CANARY]; }

int main(int argc, char **argv) {
    const char *shared = argc > 1 ? argv[1] : getenv("EDGELLM_SHARED");
    if (!shared) { fprintf(stderr, "usage: abi_compat SHARED_DIR\n"); return 2; }
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/models/qwen2-mini-q8_0.gguf", shared);

    CHECK(EDGELLM_VERSION_NUMBER == 10000);
    CHECK(edgellm_version_number() / 100 == EDGELLM_VERSION_NUMBER / 100); /* same major.minor or newer patch */
    CHECK(!strncmp(edgellm_version(), "1.", 2));

    /* model params: defaults of this header, canary after them */
    GUARDED(struct edgellm_model_params) mp;
    memset(&mp, CANARY, sizeof mp);
    mp.s = edgellm_model_default_params();
    CHECK(mp.s.struct_size == sizeof mp.s);
    struct edgellm_model *m = NULL;
    edgellm_status st = edgellm_model_load(path, &mp.s, &m, err, sizeof err);
    CHECK(st == EDGELLM_OK);
    if (st) { fprintf(stderr, "load: %s\n", err); return 1; }
    CHECK(canary_ok(mp.canary));
    CHECK(edgellm_model_warning(m) && !edgellm_model_warning(m)[0]);
    /* struct_size 0 and one below the 1.0 layout: argument errors */
    struct edgellm_model_params bad = edgellm_model_default_params();
    struct edgellm_model *m2 = NULL;
    bad.struct_size = 0;
    CHECK(edgellm_model_load(path, &bad, &m2, err, sizeof err) == EDGELLM_ERR_ARG && !m2);
    bad.struct_size = sizeof bad - 4;
    CHECK(edgellm_model_load(path, &bad, &m2, err, sizeof err) == EDGELLM_ERR_ARG && !m2);

    /* the description: filled up to our struct_size, nothing written beyond */
    GUARDED(struct edgellm_model_desc) d;
    memset(&d, CANARY, sizeof d);
    d.s.struct_size = sizeof d.s;
    CHECK(edgellm_model_describe(m, &d.s) == EDGELLM_OK);
    CHECK(canary_ok(d.canary));
    CHECK(d.s.struct_size == sizeof d.s);
    CHECK(d.s.arch && !strcmp(d.s.arch, "qwen2"));
    CHECK(d.s.n_vocab == edgellm_model_n_vocab(m) && d.s.n_vocab > 0);
    CHECK(d.s.chat_template && d.s.chat_template[0]);
    CHECK(d.s.alignment == 32 && d.s.add_bos == 1); /* the last 1.0 fields */
    CHECK(d.s.supported == 1 && d.s.n_layer > 0);
    struct edgellm_model_desc small = EDGELLM_MODEL_DESC_INIT;
    small.struct_size = 4;
    CHECK(edgellm_model_describe(m, &small) == EDGELLM_ERR_ARG);

    /* context params: n_ctx and n_batch read at their 1.0 offsets */
    GUARDED(struct edgellm_context_params) cp;
    memset(&cp, CANARY, sizeof cp);
    cp.s = edgellm_context_default_params();
    cp.s.n_ctx = 96;
    cp.s.n_batch = 32;
    cp.s.n_threads = 1;
    struct edgellm_context *ctx = NULL;
    st = edgellm_context_new(m, &cp.s, &ctx, err, sizeof err);
    CHECK(st == EDGELLM_OK);
    if (st) { fprintf(stderr, "context: %s\n", err); return 1; }
    CHECK(canary_ok(cp.canary));
    CHECK(edgellm_context_n_ctx(ctx) == 96 && edgellm_context_n_batch(ctx) == 32);
    struct edgellm_context_params cbad = edgellm_context_default_params();
    struct edgellm_context *ctx2 = NULL;
    cbad.struct_size = 0;
    CHECK(edgellm_context_new(m, &cbad, &ctx2, err, sizeof err) == EDGELLM_ERR_ARG && !ctx2);

    /* chat prompt: params and result guarded */
    GUARDED(struct edgellm_chat_params) chp;
    memset(&chp, CANARY, sizeof chp);
    chp.s = edgellm_chat_default_params();
    GUARDED(struct edgellm_chat_prompt) pr;
    memset(&pr, CANARY, sizeof pr);
    memset(&pr.s, 0, sizeof pr.s);
    pr.s.struct_size = sizeof pr.s;
    st = edgellm_chat_tokenize(m, "[{\"role\": \"user\", \"content\": \"Hi\"}]", &chp.s, &pr.s, err, sizeof err);
    CHECK(st == EDGELLM_OK);
    CHECK(canary_ok(chp.canary) && canary_ok(pr.canary));
    CHECK(pr.s.n_tokens > 2 && pr.s.tokens && pr.s.text && pr.s.opens_think == 1);

    /* template params */
    GUARDED(struct edgellm_template_params) tp;
    memset(&tp, CANARY, sizeof tp);
    tp.s = edgellm_template_default_params();
    tp.s.add_generation_prompt = 1;
    char *out = NULL;
    st = edgellm_template_render("{{ messages[0].content }}{% if add_generation_prompt %}!{% endif %}",
                                 "[{\"role\": \"user\", \"content\": \"Hi\"}]", &tp.s, &out, err, sizeof err);
    CHECK(st == EDGELLM_OK && out && !strcmp(out, "Hi!"));
    CHECK(canary_ok(tp.canary));
    edgellm_free(out);

    /* sampler params: greedy (temperature read at its offset) picks the arg max */
    GUARDED(struct edgellm_sampler_params) sp;
    memset(&sp, CANARY, sizeof sp);
    sp.s = edgellm_sampler_default_params();
    sp.s.temperature = 0.0f;
    struct edgellm_sampler *smp = NULL;
    CHECK(edgellm_sampler_new(&sp.s, d.s.n_vocab, &smp) == EDGELLM_OK && smp);
    CHECK(canary_ok(sp.canary));

    /* a short greedy generation works end to end */
    struct edgellm_batch b = {pr.s.n_tokens, pr.s.tokens, NULL, NULL, NULL};
    CHECK(edgellm_context_decode(ctx, &b) == EDGELLM_OK);
    const float *logits = edgellm_context_logits(ctx, 0); /* the last token's: the only one asked for */
    CHECK(logits != NULL);
    if (logits && smp) {
        int32_t best = 0;
        for (int32_t i = 1; i < d.s.n_vocab; i++)
            if (logits[i] > logits[best]) best = i;
        CHECK(edgellm_sampler_sample(smp, logits) == best);
    }

    edgellm_chat_prompt_free(&pr.s);
    CHECK(canary_ok(pr.canary) && !pr.s.tokens && !pr.s.text);
    edgellm_sampler_free(smp);
    edgellm_context_free(ctx);
    edgellm_model_free(m);
    if (failures) {
        fprintf(stderr, "abi_compat: %d checks failed\n", failures);
        return 1;
    }
    printf("abi_compat: ok (library %s, header 1.0)\n", edgellm_version());
    return 0;
}
