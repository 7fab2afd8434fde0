/* The model's public parameters and facts: version numbers, the struct_size rules of the params
 * and description structs (NULL = defaults, 0 or below the 1.0 layout = EDGELLM_ERR_ARG with a
 * message, nothing written past a short struct), use_mlock (locked, or a warning on the model
 * and still loaded: with RLIMIT_MEMLOCK at 0 an unprivileged mlock must fail), n_threads range,
 * and errors of text functions as negative statuses. */
#include <stdint.h>
#include <sys/resource.h>
#include <unistd.h>

#include "edgellm.h"
#include "testutil.h"

int main(int argc, char **argv) {
    const char *shared = tu_shared(argc, argv);
    char path[1024], err[256];
    snprintf(path, sizeof path, "%s/models/aidreams260K-q8_0.gguf", shared);

    CHECK(edgellm_version_number() == 10000 && EDGELLM_VERSION_NUMBER == 10000);
    CHECK(!strcmp(edgellm_version(), EDGELLM_VERSION) && !strcmp(EDGELLM_VERSION, "1.0.0"));
    CHECK(!strcmp(edgellm_status_str(EDGELLM_ERR_BUFFER_TOO_SMALL), "buffer too small"));
    CHECK(EDGELLM_ERR_ARG == 5 && EDGELLM_ERR_ABORTED == 8 && EDGELLM_ERR_BUFFER_TOO_SMALL == 9);

    /* params: NULL = defaults; struct_size 0 / too small / bad n_threads = argument errors */
    struct edgellm_model *m = NULL;
    CHECKF(edgellm_model_load(path, NULL, &m, err, sizeof err) == EDGELLM_OK && m, "%s", err);
    CHECK(m && !strcmp(edgellm_model_warning(m), ""));
    edgellm_model_free(m);
    struct edgellm_model_params mp = edgellm_model_default_params();
    CHECK(mp.struct_size == sizeof mp && mp.vocab_only == 0 && mp.use_mlock == 0 && mp.n_threads == 0);
    mp.struct_size = 0;
    m = (struct edgellm_model *)&mp;
    CHECK(edgellm_model_load(path, &mp, &m, err, sizeof err) == EDGELLM_ERR_ARG && !m && strstr(err, "struct_size"));
    mp.struct_size = 12;
    CHECK(edgellm_model_load(path, &mp, &m, err, sizeof err) == EDGELLM_ERR_ARG && !m);
    mp = edgellm_model_default_params();
    mp.n_threads = -2;
    CHECK(edgellm_model_load(path, &mp, &m, err, sizeof err) == EDGELLM_ERR_ARG && !m && strstr(err, "n_threads"));

    /* use_mlock: locked, or a warning and still loaded */
    mp = edgellm_model_default_params();
    mp.use_mlock = 1;
    CHECKF(edgellm_model_load(path, &mp, &m, err, sizeof err) == EDGELLM_OK && m, "%s", err);
    if (m) printf("use_mlock: '%s'\n", edgellm_model_warning(m));
    CHECK(m && (!edgellm_model_warning(m)[0] || strstr(edgellm_model_warning(m), "use_mlock")));
    edgellm_model_free(m);
    struct rlimit rl, zero;
    if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0) {
        zero = rl;
        zero.rlim_cur = 0;
        if (setrlimit(RLIMIT_MEMLOCK, &zero) == 0) {
            m = NULL;
            CHECKF(edgellm_model_load(path, &mp, &m, err, sizeof err) == EDGELLM_OK && m, "%s", err);
            if (m && geteuid() != 0) /* root may lock beyond the limit */
                CHECKF(strstr(edgellm_model_warning(m), "use_mlock") != NULL, "warning '%s'", edgellm_model_warning(m));
            edgellm_model_free(m);
            setrlimit(RLIMIT_MEMLOCK, &rl);
        }
    }

    /* describe: fills the caller's struct_size only */
    m = NULL;
    CHECK(edgellm_model_load(path, NULL, &m, err, sizeof err) == EDGELLM_OK);
    if (!m) return TEST_DONE();
    struct edgellm_model_desc d = EDGELLM_MODEL_DESC_INIT;
    CHECK(edgellm_model_describe(m, &d) == EDGELLM_OK && d.struct_size == sizeof d && d.n_vocab == edgellm_model_n_vocab(m));
    CHECK(d.arch && !strcmp(d.arch, "llama") && d.n_layer > 0 && d.supported);
    unsigned char raw[sizeof d];
    memset(raw, 0xA5, sizeof raw);
    uint32_t small = 8;
    memcpy(raw, &small, sizeof small);
    CHECK(edgellm_model_describe(m, (struct edgellm_model_desc *)(void *)raw) == EDGELLM_ERR_ARG);
    int untouched = 1;
    for (size_t i = sizeof small; i < sizeof raw; i++) untouched &= raw[i] == 0xA5;
    CHECK(untouched);
    CHECK(edgellm_model_describe(NULL, &d) == EDGELLM_ERR_ARG && edgellm_model_describe(m, NULL) == EDGELLM_ERR_ARG);

    /* accessors on bad input: NULL / 0 / negative status, never a crash */
    char buf[64];
    CHECK(edgellm_model_meta_value(m, d.n_kv, buf, sizeof buf) == -EDGELLM_ERR_ARG && buf[0] == 0);
    CHECK(edgellm_model_meta_value(m, 0, buf, sizeof buf) > 0);
    CHECK(edgellm_model_meta_key(m, d.n_kv) == NULL && edgellm_model_meta_key(NULL, 0) == NULL);
    CHECK(edgellm_model_n_vocab(NULL) == 0 && edgellm_model_tensor_type(m, -1, NULL) == NULL);

    /* context and template params: struct_size 0 is an argument error with a message */
    struct edgellm_context_params cp = edgellm_context_default_params();
    struct edgellm_context *ctx = NULL;
    cp.struct_size = 0;
    CHECK(edgellm_context_new(m, &cp, &ctx, err, sizeof err) == EDGELLM_ERR_ARG && !ctx && strstr(err, "struct_size"));
    CHECKF(edgellm_context_new(m, NULL, &ctx, err, sizeof err) == EDGELLM_OK && ctx, "%s", err);
    edgellm_context_free(ctx);
    struct edgellm_template_params tp = edgellm_template_default_params();
    char *out = NULL;
    tp.struct_size = 3;
    CHECK(edgellm_template_render("x", "[]", &tp, &out, err, sizeof err) == EDGELLM_ERR_ARG && !out);
    CHECK(edgellm_template_render("x", "[]", NULL, &out, err, sizeof err) == EDGELLM_OK && out && !strcmp(out, "x"));
    edgellm_free(out);
    edgellm_model_free(m);
    return TEST_DONE();
}
