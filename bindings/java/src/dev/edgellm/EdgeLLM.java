package dev.edgellm;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * The Java binding of edgellm (JNI glue in libedgellm_jni.so): load a model from a path or from
 * bytes, generate with a token callback, save and restore a conversation's state, change the
 * thread count, close. A Model may be shared by several Contexts; a Context is used by one thread
 * at a time.
 */
public final class EdgeLLM {
    private EdgeLLM() {}

    static {
        String lib = System.getProperty("edgellm.jni");
        if (lib != null) System.load(lib); else System.loadLibrary("edgellm_jni");
    }

    /** A failure of the library: the message starts with the status ("format error: ..."). */
    public static final class EdgeLLMException extends RuntimeException {
        public EdgeLLMException(String msg) { super(msg); }
    }

    /** Receives the text of each generated token; return false to stop. */
    public interface TokenCallback { boolean onToken(String piece); }

    public static final class Model implements AutoCloseable {
        long handle;
        private Model(long h) { handle = h; }
        public static Model load(String path) { return new Model(nLoadPath(path)); }
        /** The GGUF file's bytes (copied once into native memory the model keeps). */
        public static Model loadBytes(byte[] gguf) { return new Model(nLoadBytes(gguf)); }
        public int[] tokenize(String text, boolean addBos) {
            return nTokenize(check(), text.getBytes(StandardCharsets.UTF_8), addBos);
        }
        long check() {
            if (handle == 0) throw new IllegalStateException("model closed");
            return handle;
        }
        @Override public void close() { if (handle != 0) { nFreeModel(handle); handle = 0; } }
    }

    public static final class Context implements AutoCloseable {
        private final Model model;
        private long handle;
        /** nCtx: positions (0 = the model's, at most 4096); nThreads: 0 = all cores. */
        public Context(Model model, int nCtx, int nThreads) {
            this.model = model;
            handle = nNewContext(model.check(), nCtx, nThreads);
        }
        /**
         * Continues the conversation held by the context with prompt (tokenized with the model's
         * BOS rule when the context is empty), then generates up to maxTokens tokens (temperature 0 =
         * greedy) and returns their text; cb (may be null) sees each token's text as it comes.
         */
        public String generate(String prompt, int maxTokens, float temperature, long seed, TokenCallback cb) {
            int[] toks = model.tokenize(prompt, seqLen() == 0);
            ByteArrayOutputStream all = new ByteArrayOutputStream();
            Sink sink = new Sink(all, cb);
            nGenerate(model.check(), check(), toks, maxTokens, temperature, seed, sink);
            return new String(all.toByteArray(), StandardCharsets.UTF_8);
        }
        /** The conversation (tokens and KV cache) as bytes, to restore later, also in another process. */
        public byte[] saveState() { return nStateGet(check()); }
        /** Replaces the conversation with a saved one; a damaged state or one of another model throws. */
        public void restoreState(byte[] state) { nStateSet(check(), state); }
        /** 1 .. the count the context was created with (0 = that count). */
        public void setThreads(int n) { nSetThreads(check(), n); }
        public int seqLen() { return nSeqLen(check()); }
        long check() {
            if (handle == 0) throw new IllegalStateException("context closed");
            return handle;
        }
        @Override public void close() { if (handle != 0) { nFreeContext(handle); handle = 0; } }
    }

    /** Collects the bytes of the pieces; hands complete UTF-8 text to the callback. */
    static final class Sink {
        private final ByteArrayOutputStream all;
        private final TokenCallback cb;
        Sink(ByteArrayOutputStream all, TokenCallback cb) { this.all = all; this.cb = cb; }
        boolean accept(byte[] piece) {
            all.write(piece, 0, piece.length);
            return cb == null || cb.onToken(new String(piece, StandardCharsets.UTF_8));
        }
    }

    static native long nLoadPath(String path);
    static native long nLoadBytes(byte[] data);
    static native void nFreeModel(long model);
    static native int[] nTokenize(long model, byte[] text, boolean addBos);
    static native long nNewContext(long model, int nCtx, int nThreads);
    static native void nFreeContext(long ctx);
    static native int nGenerate(long model, long ctx, int[] prompt, int maxTokens, float temperature, long seed, Sink sink);
    static native byte[] nStateGet(long ctx);
    static native void nStateSet(long ctx, byte[] state);
    static native void nSetThreads(long ctx, int n);
    static native int nSeqLen(long ctx);
}
