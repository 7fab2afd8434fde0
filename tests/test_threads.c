/* One model shared by four threads (include/edgellm.h: "a model may be shared by any number of
 * contexts and threads"): each thread has its own context, sampler and detokenizer, and
 * tokenizes (plain and chat), generates and detokenizes while the others do — including calls
 * that fail on the shared model (out-of-range token ids), which once wrote an error message onto
 * it. Every thread's tokens and text must equal a run of the same job alone on the main thread.
 * Run under ThreadSanitizer by `make test-tsan`, which turns any data race into a failure. */
#include <pthread.h>
#include <stdint.h>

#include "edgellm.h"
#include "testutil.h"

#define N_JOBS 4
#define N_GEN 12
#define MAX_TOK 256

struct job {
    /* in */
    const struct edgellm_model *model;
    const char *prompt;
    int chat;           /* 1: the prompt is a user message rendered with the template */
    float temperature;  /* 0: greedy */
    uint64_t seed;
    int n_threads;      /* of the context's thread pool */
    /* out */
    int ok;
    char what[320];     /* the first failure */
    int32_t n_prompt;
    edgellm_token prompt_toks[MAX_TOK];
    edgellm_token gen[N_GEN];
    char text[1024];
    int bad_piece;      /* token_to_piece of an out-of-range id: -EDGELLM_ERR_ARG */
};

static void *run_job(void *arg) {
    struct job *j = arg;
    struct edgellm_model *m = (struct edgellm_model *)j->model; /* context_new takes a non-const model */
    struct edgellm_context *ctx = NULL;
    struct edgellm_sampler *smp = NULL;
    struct edgellm_detok *dt = NULL;
    char err[256];
    j->ok = 0;
    if (j->chat) {
        char msgs[512];
        snprintf(msgs, sizeof msgs, "[{\"role\": \"user\", \"content\": \"%s\"}]", j->prompt);
        struct edgellm_chat_prompt pr = EDGELLM_CHAT_PROMPT_INIT;
        if (edgellm_chat_tokenize(m, msgs, NULL, &pr, err, sizeof err) != EDGELLM_OK || pr.n_tokens > MAX_TOK) {
            snprintf(j->what, sizeof j->what, "chat_tokenize: %s", err);
            edgellm_chat_prompt_free(&pr);
            return NULL;
        }
        j->n_prompt = pr.n_tokens;
        memcpy(j->prompt_toks, pr.tokens, (size_t)pr.n_tokens * sizeof *pr.tokens);
        edgellm_chat_prompt_free(&pr);
    } else if (edgellm_tokenize(m, j->prompt, strlen(j->prompt), -1, 0, j->prompt_toks, MAX_TOK, &j->n_prompt, err,
                                sizeof err) != EDGELLM_OK) {
        snprintf(j->what, sizeof j->what, "tokenize: %s", err);
        return NULL;
    }
    char piece[64];
    j->bad_piece = edgellm_token_to_piece(m, edgellm_model_n_vocab(m) + 5, 0, piece, sizeof piece);
    struct edgellm_context_params cp = edgellm_context_default_params();
    cp.n_ctx = 256;
    cp.n_threads = j->n_threads;
    struct edgellm_sampler_params sp = edgellm_sampler_default_params();
    sp.temperature = j->temperature;
    sp.seed = j->seed;
    if (edgellm_context_new(m, &cp, &ctx, err, sizeof err) != EDGELLM_OK) {
        snprintf(j->what, sizeof j->what, "context: %s", err);
        return NULL;
    }
    if (edgellm_sampler_new(&sp, edgellm_model_n_vocab(m), &smp) != EDGELLM_OK || edgellm_detok_new(m, 0, &dt) != EDGELLM_OK) {
        snprintf(j->what, sizeof j->what, "sampler or detok");
        goto done;
    }
    struct edgellm_batch b = {j->n_prompt, j->prompt_toks, NULL, NULL, NULL};
    size_t n_text = 0;
    for (int i = 0; i < N_GEN; i++) {
        if (edgellm_context_decode(ctx, &b) != EDGELLM_OK) {
            snprintf(j->what, sizeof j->what, "decode: %s", edgellm_context_errmsg(ctx));
            goto done;
        }
        edgellm_token t = edgellm_sampler_sample(smp, edgellm_context_logits(ctx, 0));
        edgellm_sampler_accept(smp, t);
        j->gen[i] = t;
        int n = edgellm_detok_push(dt, t, j->text + n_text, sizeof j->text - n_text);
        if (n < 0 || (size_t)n >= sizeof j->text - n_text) {
            snprintf(j->what, sizeof j->what, "detok: %d", n);
            goto done;
        }
        n_text += (size_t)n;
        b.n_tokens = 1;
        b.token = &j->gen[i];
    }
    j->ok = 1;
done:
    edgellm_detok_free(dt);
    edgellm_sampler_free(smp);
    edgellm_context_free(ctx);
    return NULL;
}

int main(int argc, char **argv) {
    const char *shared = tu_shared(argc, argv);
    char path[1024], err[256];
    snprintf(path, sizeof path, "%s/models/qwen2-mini-q8_0.gguf", shared);
    struct edgellm_model *m = NULL;
    if (edgellm_model_load(path, NULL, &m, err, sizeof err) != EDGELLM_OK) {
        fprintf(stderr, "test_threads: %s\n", err);
        return 1;
    }
    static const char *const prompts[N_JOBS] = {"The quick brown fox", "Why is the sky blue?", "Once upon a time",
                                                "List three prime numbers."};
    static struct job alone[N_JOBS], together[N_JOBS];
    for (int i = 0; i < N_JOBS; i++) {
        struct job j = {0};
        j.model = m;
        j.prompt = prompts[i];
        j.chat = i % 2;
        j.temperature = i < 2 ? 0.0f : 0.8f;
        j.seed = 1000 + (uint64_t)i;
        j.n_threads = 1 + (i >= 2);
        alone[i] = together[i] = j;
    }
    for (int i = 0; i < N_JOBS; i++) run_job(&alone[i]);
    pthread_t th[N_JOBS];
    int started[N_JOBS];
    for (int i = 0; i < N_JOBS; i++) started[i] = pthread_create(&th[i], NULL, run_job, &together[i]) == 0;
    for (int i = 0; i < N_JOBS; i++)
        if (started[i]) pthread_join(th[i], NULL);
    for (int i = 0; i < N_JOBS; i++) {
        const struct job *a = &alone[i], *t = &together[i];
        CHECKF(started[i], "thread %d not started", i);
        CHECKF(a->ok, "job %d alone: %s", i, a->what);
        CHECKF(t->ok, "job %d in a thread: %s", i, t->what);
        CHECKF(a->n_prompt > 1 && t->n_prompt == a->n_prompt &&
                   !memcmp(t->prompt_toks, a->prompt_toks, (size_t)a->n_prompt * sizeof *a->prompt_toks),
               "job %d: the prompt tokenizes differently in a thread (%d vs %d tokens)", i, t->n_prompt, a->n_prompt);
        CHECKF(!memcmp(t->gen, a->gen, sizeof a->gen), "job %d: generated tokens differ in a thread", i);
        CHECKF(!strcmp(t->text, a->text), "job %d: text differs: [%s] vs [%s]", i, t->text, a->text);
        CHECK(a->bad_piece == -EDGELLM_ERR_ARG && t->bad_piece == -EDGELLM_ERR_ARG);
    }
    /* the jobs are not all the same (the test would not see cross-talk otherwise) */
    CHECK(memcmp(alone[0].gen, alone[1].gen, sizeof alone[0].gen) || memcmp(alone[2].gen, alone[3].gen, sizeof alone[0].gen));
    edgellm_model_free(m);
    return TEST_DONE();
}
