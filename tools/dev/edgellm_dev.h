/* The developer library (libedgellm_dev): helpers for benchmarks and tests that do not belong in
 * the embeddable library. Today: synthetic benchmark files (`edgellm synth`) with the exact
 * tensor layout of a real download. Linked by tools/ and tests/, never by apps. */
#ifndef EDGELLM_DEV_H
#define EDGELLM_DEV_H

#include "edgellm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A GGUF with a real download's tensor layout (names, types, shapes), its vocabulary and chat
 * template, and seeded random weights (matrices with std ~0.02, norms 1, biases 0). */
struct edgellm_synth_params {
    const char *preset;       /* "r1-qwen-1.5b", "qwen3-1.7b", "gemma3-1b", "phi4-mini", or "r1-qwen-tiny" (tests) */
    const char *type;         /* "q4_0", "q8_0", "q4_k_m" or "f16" (F16 matrices: a base to quantize) */
    const char *shared_dir;   /* folder holding vocab/ and templates/ (the project's ../shared) */
    const char *presets_dir;  /* folder of <preset>-<type>.tsv layouts; NULL: <shared_dir>/presets.
                                 Without that TSV the layout is derived with llama.cpp's type rules. */
    uint64_t seed;
};
/* Writes the file to out_path (removed again on failure). */
edgellm_status edgellm_synth_write(const struct edgellm_synth_params *params, const char *out_path,
                                   char *err, size_t err_size);
/* The tensor layout that edgellm_synth_write would write, as preset TSV text in *out
 * (release with edgellm_free). */
edgellm_status edgellm_synth_layout(const struct edgellm_synth_params *params, char **out,
                                    char *err, size_t err_size);

#ifdef __cplusplus
}
#endif

#endif
