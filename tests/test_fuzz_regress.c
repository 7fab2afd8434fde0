/* Replays fuzzing reproducers in the normal test suite: every file in fuzz/regress/<target>/ is
 * fed to that target's entry point, compiled in here from fuzz/fuzz_<target>.c (each entry
 * point renamed), with the same checks the fuzzer makes (a failed check traps, a bad read shows
 * under the sanitizer build). A target whose directory is empty still runs its built-in cases.
 * The reproducers are also listed in fuzz/regress/README.md (`target/file` in its table): each
 * listed file must exist and a target must replay at least as many as it lists, so a folder that
 * went missing (or a wrong EDGELLM_SRC) fails instead of passing with nothing replayed.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define LLVMFuzzerTestOneInput fuzz_gguf_one
#include "../fuzz/fuzz_gguf.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_json_one
#include "../fuzz/fuzz_json.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_template_one
#include "../fuzz/fuzz_template.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_tokenizer_one
#define LLVMFuzzerInitialize fuzz_tokenizer_init
#include "../fuzz/fuzz_tokenizer.c"
#undef LLVMFuzzerTestOneInput
#undef LLVMFuzzerInitialize
#define LLVMFuzzerTestOneInput fuzz_safetensors_one
#include "../fuzz/fuzz_safetensors.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_tokenizer_json_one
#include "../fuzz/fuzz_tokenizer_json.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_gbnf_one
#include "../fuzz/fuzz_gbnf.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_schema_one
#include "../fuzz/fuzz_schema.c"
#undef LLVMFuzzerTestOneInput

typedef int (*fuzz_fn)(const uint8_t *data, size_t size);

/* Small inputs that once mattered or sit on an edge; each target must return 0 on all. */
#define B(s) {s, sizeof s - 1}
static const struct { const char *s; size_t n; } builtin[] = {
    B(""), B("GGUF"), B("GGUF\x03\x00\x00\x00"), B("["), B("{\"a\":"), B("\"\\ud800\""), B("1e999"), B("[[[[[[[[[["),
    B("{% for x in range(1000000000) %}{{ x }}{% endfor %}"),
    B("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"),
    B("{{ ((((((((((((((((((((((((((((((((((((((((((((((((((1)))))))))))))))))))))))))))))))))))))))))))))))) }}"),
    B("{% set s = 'x' %}{% for i in range(100) %}{% set s = s + s %}{% endfor %}{{ s | length }}"),
    B("\x00\xff\xfe<think>\xe2\x96\x81 \xf0\x9f\x98\x80"), B("\x01\xc3\x28\xe2\x82 abc\xf4\x90\x80\x80"),
    B("\x02<|im_start|>user\n<think>hi</think><|im_end|>"), B("\x03<s>[INST] hi [/INST]</s>"),
    B("root ::= [a-z]{0,10000}"), B("root ::= (\"\"?)*"), B("root ::= \"\\U0010FFFF\" [^\\x00-\\U0010FFFF]?"),
    B("\x01{\"$ref\":\"#\"}"), B("\x00{\"type\":\"integer\",\"minimum\":5,\"maximum\":2}"),
    B("\x00{\"type\":\"string\",\"pattern\":\"((a|b)*c{2,3})?[^x-z]\\\\d$\"}"),
    B("\x00{\"type\":\"number\",\"exclusiveMinimum\":0.5,\"exclusiveMaximum\":0.6}"),
};
#undef B

static int replay_dir(const char *src, const char *target, fuzz_fn fn) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/fuzz/regress/%s", src, target);
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t len = 0;
        char *data = tu_read_file(path, &len);
        CHECKF(data != NULL, "cannot read %s", path);
        if (!data) continue;
        /* an exact-size copy, so a read past the end is caught by ASan */
        uint8_t *copy = malloc(len ? len : 1);
        if (copy) {
            /* a failed check traps: name the file first so the log says which one */
            printf("replaying %s\n", path);
            fflush(stdout);
            memcpy(copy, data, len);
            CHECKF(fn(copy, len) == 0, "%s", path);
            free(copy);
        }
        free(data);
        n++;
    }
    closedir(d);
    return n;
}

/* Checks the reproducers README.md lists for target (`target/NAME`) exist; returns their count. */
static int listed_reproducers(const char *src, const char *readme, const char *target) {
    char pat[64];
    snprintf(pat, sizeof pat, "`%s/", target);
    int n = 0;
    for (const char *p = readme; (p = strstr(p, pat)); p++) {
        const char *name = p + 1, *end = strchr(name, '`');
        if (!end || end - name > 512 || end[-1] == '/') continue; /* `gguf/`: the folder, not a file */
        char path[1100];
        snprintf(path, sizeof path, "%s/fuzz/regress/%.*s", src, (int)(end - name), name);
        FILE *f = fopen(path, "rb");
        CHECKF(f != NULL, "%s: listed in fuzz/regress/README.md but missing", path);
        if (f) fclose(f);
        n++;
    }
    return n;
}

int main(int argc, char **argv) {
    const char *src = getenv("EDGELLM_SRC");
    if (!src || !src[0]) src = ".";
    const char *shared = tu_shared(argc, argv);
    setenv("EDGELLM_SHARED", shared, 0);
    static const struct { const char *name; fuzz_fn fn; } targets[] = {
        {"gguf", fuzz_gguf_one}, {"json", fuzz_json_one}, {"template", fuzz_template_one}, {"tokenizer", fuzz_tokenizer_one},
        {"safetensors", fuzz_safetensors_one}, {"tokenizer_json", fuzz_tokenizer_json_one},
        {"gbnf", fuzz_gbnf_one}, {"schema", fuzz_schema_one},
    };
    char readme_path[1024];
    snprintf(readme_path, sizeof readme_path, "%s/fuzz/regress/README.md", src);
    char *readme = tu_read_file(readme_path, NULL);
    CHECKF(readme != NULL, "cannot read %s (EDGELLM_SRC=%s): the reproducers cannot be replayed", readme_path, src);
    fuzz_tokenizer_init(&argc, &argv);
    for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++) {
        for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++) {
            size_t len = builtin[i].n;
            uint8_t *copy = malloc(len + 1);
            if (!copy) continue;
            memcpy(copy, builtin[i].s, len);
            CHECKF(targets[t].fn(copy, len) == 0, "%s: builtin case %zu", targets[t].name, i);
            free(copy);
        }
        int n = replay_dir(src, targets[t].name, targets[t].fn);
        const int listed = readme ? listed_reproducers(src, readme, targets[t].name) : 0;
        printf("%s: %d reproducers replayed (%d listed in fuzz/regress/README.md)\n", targets[t].name, n, listed);
        CHECKF(n >= listed, "%s: %d reproducers replayed, but fuzz/regress/README.md lists %d (fuzz/regress/%s/)",
               targets[t].name, n, listed, targets[t].name);
    }
    free(readme);
    for (int i = 0; i < 3; i++) vocab_free(g_vocab[i]);
    return TEST_DONE();
}
