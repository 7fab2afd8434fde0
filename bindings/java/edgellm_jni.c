/* JNI glue of the Java binding (dev.edgellm.EdgeLLM): built into its own libedgellm_jni.so, the
 * same glue an Android app links. Handles are pointers in Java longs; errors become
 * dev.edgellm.EdgeLLM.EdgeLLMException with the library's message. Uses only edgellm.h. */
#include <jni.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgellm.h"

/* Prototypes of the exported natives (the Java class declares them). */
JNIEXPORT jlong JNICALL Java_dev_edgellm_EdgeLLM_nLoadPath(JNIEnv *env, jclass cls, jstring path);
JNIEXPORT jlong JNICALL Java_dev_edgellm_EdgeLLM_nLoadBytes(JNIEnv *env, jclass cls, jbyteArray data);
JNIEXPORT void JNICALL Java_dev_edgellm_EdgeLLM_nFreeModel(JNIEnv *env, jclass cls, jlong h);
JNIEXPORT jintArray JNICALL Java_dev_edgellm_EdgeLLM_nTokenize(JNIEnv *env, jclass cls, jlong h, jbyteArray text, jboolean add_bos);
JNIEXPORT jlong JNICALL Java_dev_edgellm_EdgeLLM_nNewContext(JNIEnv *env, jclass cls, jlong h, jint n_ctx, jint n_threads);
JNIEXPORT void JNICALL Java_dev_edgellm_EdgeLLM_nFreeContext(JNIEnv *env, jclass cls, jlong h);
JNIEXPORT jint JNICALL Java_dev_edgellm_EdgeLLM_nGenerate(JNIEnv *env, jclass cls, jlong hm, jlong hc, jintArray prompt, jint max_tokens, jfloat temp, jlong seed, jobject sink);
JNIEXPORT jbyteArray JNICALL Java_dev_edgellm_EdgeLLM_nStateGet(JNIEnv *env, jclass cls, jlong hc);
JNIEXPORT void JNICALL Java_dev_edgellm_EdgeLLM_nStateSet(JNIEnv *env, jclass cls, jlong hc, jbyteArray state);
JNIEXPORT void JNICALL Java_dev_edgellm_EdgeLLM_nSetThreads(JNIEnv *env, jclass cls, jlong hc, jint n);
JNIEXPORT jint JNICALL Java_dev_edgellm_EdgeLLM_nSeqLen(JNIEnv *env, jclass cls, jlong hc);

struct jmodel {
    struct edgellm_model *m;
    void *bytes; /* the model file for loadBytes: must outlive the model (edgellm_model_load_mem) */
};

static void throw_ex(JNIEnv *env, edgellm_status st, const char *msg) {
    jclass c = (*env)->FindClass(env, "dev/edgellm/EdgeLLM$EdgeLLMException");
    if (!c) return;
    char buf[600];
    snprintf(buf, sizeof buf, "%s: %s", edgellm_status_str(st), msg && msg[0] ? msg : edgellm_status_str(st));
    (*env)->ThrowNew(env, c, buf);
}

static jlong model_done(JNIEnv *env, edgellm_status st, struct jmodel *jm, const char *err) {
    if (st != EDGELLM_OK) {
        free(jm->bytes);
        free(jm);
        throw_ex(env, st, err);
        return 0;
    }
    return (jlong)(intptr_t)jm;
}

JNIEXPORT jlong JNICALL Java_dev_edgellm_EdgeLLM_nLoadPath(JNIEnv *env, jclass cls, jstring path) {
    (void)cls;
    char err[512] = "";
    struct jmodel *jm = calloc(1, sizeof *jm);
    const char *p = (*env)->GetStringUTFChars(env, path, NULL);
    if (!jm || !p) {
        free(jm);
        throw_ex(env, EDGELLM_ERR_NOMEM, "out of memory");
        return 0;
    }
    edgellm_status st = edgellm_model_load(p, NULL, &jm->m, err, sizeof err);
    (*env)->ReleaseStringUTFChars(env, path, p);
    return model_done(env, st, jm, err);
}

JNIEXPORT jlong JNICALL Java_dev_edgellm_EdgeLLM_nLoadBytes(JNIEnv *env, jclass cls, jbyteArray data) {
    (void)cls;
    char err[512] = "";
    jsize n = (*env)->GetArrayLength(env, data);
    struct jmodel *jm = calloc(1, sizeof *jm);
    if (!jm || !(jm->bytes = malloc(n ? (size_t)n : 1))) {
        free(jm);
        throw_ex(env, EDGELLM_ERR_NOMEM, "out of memory");
        return 0;
    }
    (*env)->GetByteArrayRegion(env, data, 0, n, jm->bytes);
    edgellm_status st = edgellm_model_load_mem(jm->bytes, (size_t)n, NULL, &jm->m, err, sizeof err);
    return model_done(env, st, jm, err);
}

JNIEXPORT void JNICALL Java_dev_edgellm_EdgeLLM_nFreeModel(JNIEnv *env, jclass cls, jlong h) {
    (void)env, (void)cls;
    struct jmodel *jm = (struct jmodel *)(intptr_t)h;
    if (!jm) return;
    edgellm_model_free(jm->m);
    free(jm->bytes);
    free(jm);
}

JNIEXPORT jintArray JNICALL Java_dev_edgellm_EdgeLLM_nTokenize(JNIEnv *env, jclass cls, jlong h, jbyteArray text, jboolean add_bos) {
    (void)cls;
    struct jmodel *jm = (struct jmodel *)(intptr_t)h;
    jsize n = (*env)->GetArrayLength(env, text);
    char *t = malloc((size_t)n + 1), err[256] = "";
    edgellm_token *toks = malloc(((size_t)n + 4) * sizeof *toks);
    int32_t nt = 0;
    jintArray out = NULL;
    if (!t || !toks) {
        throw_ex(env, EDGELLM_ERR_NOMEM, "out of memory");
        goto done;
    }
    (*env)->GetByteArrayRegion(env, text, 0, n, (jbyte *)t);
    edgellm_status st = edgellm_tokenize(jm->m, t, (size_t)n, add_bos ? 1 : 0, 0, toks, n + 4, &nt, err, sizeof err);
    if (st) {
        throw_ex(env, st, err);
        goto done;
    }
    out = (*env)->NewIntArray(env, nt);
    if (out) (*env)->SetIntArrayRegion(env, out, 0, nt, toks);
done:
    free(t);
    free(toks);
    return out;
}

JNIEXPORT jlong JNICALL Java_dev_edgellm_EdgeLLM_nNewContext(JNIEnv *env, jclass cls, jlong h, jint n_ctx, jint n_threads) {
    (void)cls;
    struct jmodel *jm = (struct jmodel *)(intptr_t)h;
    struct edgellm_context_params p = edgellm_context_default_params();
    struct edgellm_context *c = NULL;
    char err[512] = "";
    p.n_ctx = (uint32_t)n_ctx;
    p.n_threads = n_threads;
    edgellm_status st = edgellm_context_new(jm->m, &p, &c, err, sizeof err);
    if (st) throw_ex(env, st, err);
    return (jlong)(intptr_t)c;
}

JNIEXPORT void JNICALL Java_dev_edgellm_EdgeLLM_nFreeContext(JNIEnv *env, jclass cls, jlong h) {
    (void)env, (void)cls;
    edgellm_context_free((struct edgellm_context *)(intptr_t)h);
}

/* Continues sequence 0 with prompt (tokens), then samples up to max_tokens, calling
 * sink.accept(byte[] piece) for each token's text (false stops). Returns the number generated. */
JNIEXPORT jint JNICALL Java_dev_edgellm_EdgeLLM_nGenerate(JNIEnv *env, jclass cls, jlong hm, jlong hc, jintArray prompt,
                                                         jint max_tokens, jfloat temp, jlong seed, jobject sink) {
    (void)cls;
    struct jmodel *jm = (struct jmodel *)(intptr_t)hm;
    struct edgellm_context *c = (struct edgellm_context *)(intptr_t)hc;
    jsize np = (*env)->GetArrayLength(env, prompt);
    jint n_gen = 0;
    edgellm_token *toks = malloc(((size_t)np + 1) * sizeof *toks);
    struct edgellm_sampler *smp = NULL;
    struct edgellm_detok *dt = NULL;
    struct edgellm_sampler_params sp = edgellm_sampler_default_params();
    sp.temperature = temp;
    sp.seed = (uint64_t)seed;
    edgellm_status st = toks ? EDGELLM_OK : EDGELLM_ERR_NOMEM;
    if (!st) st = edgellm_sampler_new(&sp, edgellm_model_n_vocab(jm->m), &smp);
    if (!st) st = edgellm_detok_new(jm->m, 0, &dt);
    jmethodID accept = NULL;
    if (!st) {
        jclass sc = (*env)->GetObjectClass(env, sink);
        accept = (*env)->GetMethodID(env, sc, "accept", "([B)Z");
        if (!accept) goto done; /* NoSuchMethodError pending */
        (*env)->GetIntArrayRegion(env, prompt, 0, np, toks);
    }
    uint32_t n_ctx = c ? edgellm_context_n_ctx(c) : 0, n_batch = c ? edgellm_context_n_batch(c) : 0;
    for (jsize i = 0; !st && i < np; i += (jsize)n_batch) {
        jsize n = np - i < (jsize)n_batch ? np - i : (jsize)n_batch;
        struct edgellm_batch b = {n, toks + i, NULL, NULL, NULL};
        st = edgellm_context_decode(c, &b);
    }
    if (st) {
        throw_ex(env, st, c ? edgellm_context_errmsg(c) : "");
        goto done;
    }
    char piece[256];
    while (n_gen < max_tokens && edgellm_context_seq_len(c, 0) < n_ctx) {
        edgellm_token t = edgellm_sampler_sample(smp, edgellm_context_logits(c, 0));
        if (t < 0 || edgellm_token_is_eog(jm->m, t)) break;
        edgellm_sampler_accept(smp, t);
        n_gen++;
        int n = edgellm_detok_push(dt, t, piece, sizeof piece);
        if (n < 0 || n >= (int)sizeof piece) n = 0;
        jbyteArray arr = (*env)->NewByteArray(env, n);
        if (!arr) goto done;
        (*env)->SetByteArrayRegion(env, arr, 0, n, (const jbyte *)piece);
        jboolean go = (*env)->CallBooleanMethod(env, sink, accept, arr);
        (*env)->DeleteLocalRef(env, arr);
        if ((*env)->ExceptionCheck(env)) goto done;
        struct edgellm_batch b = {1, &t, NULL, NULL, NULL};
        if ((st = edgellm_context_decode(c, &b))) {
            throw_ex(env, st, edgellm_context_errmsg(c));
            goto done;
        }
        if (!go) break;
    }
done:
    edgellm_detok_free(dt);
    edgellm_sampler_free(smp);
    free(toks);
    if (st == EDGELLM_ERR_NOMEM && !(*env)->ExceptionCheck(env)) throw_ex(env, st, "out of memory");
    return n_gen;
}

JNIEXPORT jbyteArray JNICALL Java_dev_edgellm_EdgeLLM_nStateGet(JNIEnv *env, jclass cls, jlong hc) {
    (void)cls;
    struct edgellm_context *c = (struct edgellm_context *)(intptr_t)hc;
    size_t n = edgellm_context_seq_state_size(c, 0);
    void *buf = malloc(n ? n : 1);
    jbyteArray out = NULL;
    edgellm_status st = buf ? edgellm_context_seq_state_get(c, 0, buf, n, &n) : EDGELLM_ERR_NOMEM;
    if (st) throw_ex(env, st, buf ? edgellm_context_errmsg(c) : "out of memory");
    else if ((out = (*env)->NewByteArray(env, (jsize)n))) (*env)->SetByteArrayRegion(env, out, 0, (jsize)n, buf);
    free(buf);
    return out;
}

JNIEXPORT void JNICALL Java_dev_edgellm_EdgeLLM_nStateSet(JNIEnv *env, jclass cls, jlong hc, jbyteArray state) {
    (void)cls;
    struct edgellm_context *c = (struct edgellm_context *)(intptr_t)hc;
    jsize n = (*env)->GetArrayLength(env, state);
    jbyte *p = (*env)->GetByteArrayElements(env, state, NULL);
    if (!p) return;
    edgellm_status st = edgellm_context_seq_state_set(c, 0, p, (size_t)n);
    (*env)->ReleaseByteArrayElements(env, state, p, JNI_ABORT);
    if (st) throw_ex(env, st, edgellm_context_errmsg(c));
}

JNIEXPORT void JNICALL Java_dev_edgellm_EdgeLLM_nSetThreads(JNIEnv *env, jclass cls, jlong hc, jint n) {
    (void)cls;
    struct edgellm_context *c = (struct edgellm_context *)(intptr_t)hc;
    edgellm_status st = edgellm_context_set_threads(c, n);
    if (st) throw_ex(env, st, edgellm_context_errmsg(c));
}

JNIEXPORT jint JNICALL Java_dev_edgellm_EdgeLLM_nSeqLen(JNIEnv *env, jclass cls, jlong hc) {
    (void)env, (void)cls;
    return (jint)edgellm_context_seq_len((struct edgellm_context *)(intptr_t)hc, 0);
}
