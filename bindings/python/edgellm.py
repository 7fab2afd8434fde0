"""The Python binding of edgellm: ctypes over libedgellm.so, no third-party package.

    m = Model("model.gguf")              # or Model(data=bytes)
    ctx = Context(m, n_ctx=2048)
    for piece in ctx.generate("Once upon a time", max_tokens=32, temperature=0):
        print(piece, end="", flush=True)
    state = ctx.save_state()             # bytes: tokens + KV cache of the conversation
    ctx.restore_state(state)

The library is found from $EDGELLM_LIB, next to this file, or by the system's search path.
"""
import ctypes as C
import os

_here = os.path.dirname(os.path.abspath(__file__))


def _load_lib():
    for p in (os.environ.get("EDGELLM_LIB"), os.path.join(_here, "libedgellm.so"), "libedgellm.so"):
        if p and (os.path.exists(p) or p == "libedgellm.so"):
            try:
                return C.CDLL(p)
            except OSError:
                pass
    raise OSError("libedgellm.so not found (set EDGELLM_LIB)")


_lib = _load_lib()
_tok = C.c_int32
_P = C.c_void_p


class _ModelParams(C.Structure):
    _fields_ = [("struct_size", C.c_uint32), ("vocab_only", C.c_int), ("use_mlock", C.c_int), ("n_threads", C.c_int)]


class _ContextParams(C.Structure):
    _fields_ = [("struct_size", C.c_uint32), ("n_ctx", C.c_uint32), ("n_batch", C.c_uint32), ("n_seq", C.c_uint32),
                ("n_threads", C.c_int), ("kv_type", C.c_int), ("logits_all", C.c_int)]


class _LogitBias(C.Structure):
    _fields_ = [("token", _tok), ("bias", C.c_float)]


class _SamplerParams(C.Structure):
    _fields_ = [("struct_size", C.c_uint32), ("temperature", C.c_float), ("top_k", C.c_int32), ("top_p", C.c_float),
                ("min_p", C.c_float), ("repeat_penalty", C.c_float), ("presence_penalty", C.c_float),
                ("frequency_penalty", C.c_float), ("penalty_last_n", C.c_int32), ("seed", C.c_uint64),
                ("logit_bias", C.POINTER(_LogitBias)), ("n_logit_bias", C.c_int32)]


class _Batch(C.Structure):
    _fields_ = [("n_tokens", C.c_int32), ("token", C.POINTER(_tok)), ("pos", _P), ("seq_id", _P), ("logits", _P)]


def _sig(name, res, *args):
    f = getattr(_lib, name)
    f.restype = res
    f.argtypes = list(args)
    return f


_status_str = _sig("edgellm_status_str", C.c_char_p, C.c_int)
_model_load = _sig("edgellm_model_load", C.c_int, C.c_char_p, _P, C.POINTER(_P), C.c_char_p, C.c_size_t)
_model_load_mem = _sig("edgellm_model_load_mem", C.c_int, _P, C.c_size_t, _P, C.POINTER(_P), C.c_char_p, C.c_size_t)
_model_free = _sig("edgellm_model_free", None, _P)
_n_vocab = _sig("edgellm_model_n_vocab", C.c_int32, _P)
_tokenize = _sig("edgellm_tokenize", C.c_int, _P, C.c_char_p, C.c_size_t, C.c_int, C.c_int, C.POINTER(_tok), C.c_int32,
                 C.POINTER(C.c_int32), C.c_char_p, C.c_size_t)
_is_eog = _sig("edgellm_token_is_eog", C.c_int, _P, _tok)
_ctx_new = _sig("edgellm_context_new", C.c_int, _P, _P, C.POINTER(_P), C.c_char_p, C.c_size_t)
_ctx_free = _sig("edgellm_context_free", None, _P)
_ctx_err = _sig("edgellm_context_errmsg", C.c_char_p, _P)
_ctx_n_ctx = _sig("edgellm_context_n_ctx", C.c_uint32, _P)
_ctx_n_batch = _sig("edgellm_context_n_batch", C.c_uint32, _P)
_decode = _sig("edgellm_context_decode", C.c_int, _P, C.POINTER(_Batch))
_logits = _sig("edgellm_context_logits", C.POINTER(C.c_float), _P, C.c_int32)
_seq_len = _sig("edgellm_context_seq_len", C.c_uint32, _P, C.c_int32)
_truncate = _sig("edgellm_context_seq_truncate", C.c_int, _P, C.c_int32, C.c_uint32)
_state_size = _sig("edgellm_context_seq_state_size", C.c_size_t, _P, C.c_int32)
_state_get = _sig("edgellm_context_seq_state_get", C.c_int, _P, C.c_int32, _P, C.c_size_t, C.POINTER(C.c_size_t))
_state_set = _sig("edgellm_context_seq_state_set", C.c_int, _P, C.c_int32, C.c_char_p, C.c_size_t)
_set_threads = _sig("edgellm_context_set_threads", C.c_int, _P, C.c_int32)
_smp_new = _sig("edgellm_sampler_new", C.c_int, C.POINTER(_SamplerParams), C.c_int32, C.POINTER(_P))
_smp_free = _sig("edgellm_sampler_free", None, _P)
_smp_sample = _sig("edgellm_sampler_sample", _tok, _P, C.POINTER(C.c_float))
_smp_accept = _sig("edgellm_sampler_accept", None, _P, _tok)
_detok_new = _sig("edgellm_detok_new", C.c_int, _P, C.c_int, C.POINTER(_P))
_detok_push = _sig("edgellm_detok_push", C.c_int, _P, _tok, C.c_char_p, C.c_size_t)
_detok_flush = _sig("edgellm_detok_flush", C.c_int, _P, C.c_char_p, C.c_size_t)
_detok_free = _sig("edgellm_detok_free", None, _P)

OK, ERR_IO, ERR_FORMAT, ERR_UNSUPPORTED, ERR_NOMEM, ERR_ARG, ERR_CONTEXT_FULL = 0, 1, 2, 3, 4, 5, 6
KV_F16, KV_F32, KV_Q8_0 = 0, 1, 2


class EdgeLLMError(Exception):
    """A failure of the library: .status is the edgellm_status, str() the message."""

    def __init__(self, status, msg):
        self.status = status
        name = _status_str(status).decode()
        super().__init__(f"{name}: {msg}" if msg else name)


def _check(st, msg=""):
    if st != OK:
        raise EdgeLLMError(st, msg.decode(errors="replace") if isinstance(msg, bytes) else msg)


class Model:
    """A GGUF model from a path, or from bytes in memory (data=...; kept alive by the model)."""

    def __init__(self, path=None, data=None):
        self._h = _P()
        err = C.create_string_buffer(512)
        if data is not None:
            self._data = C.create_string_buffer(bytes(data), len(data))  # must outlive the model
            st = _model_load_mem(C.cast(self._data, _P), len(data), None, C.byref(self._h), err, 512)
        else:
            st = _model_load(os.fsencode(path), None, C.byref(self._h), err, 512)
        _check(st, err.value)

    @property
    def n_vocab(self):
        return _n_vocab(self._h)

    def tokenize(self, text, add_bos=-1, parse_special=False):
        raw = text.encode() if isinstance(text, str) else bytes(text)
        n = C.c_int32(0)
        err = C.create_string_buffer(256)
        cap = len(raw) + 8
        out = (_tok * cap)()
        st = _tokenize(self._h, raw, len(raw), add_bos, int(parse_special), out, cap, C.byref(n), err, 256)
        _check(st, err.value)
        return list(out[: n.value])

    def close(self):
        if self._h:
            _model_free(self._h)
            self._h = _P()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def __del__(self):
        self.close()


class Context:
    """The KV cache of one conversation (sequence 0) over a model."""

    def __init__(self, model, n_ctx=0, n_threads=0, kv_type=KV_F16):
        self.model = model
        p = _ContextParams(C.sizeof(_ContextParams), n_ctx, 0, 0, n_threads, kv_type, 0)
        self._h = _P()
        err = C.create_string_buffer(512)
        _check(_ctx_new(model._h, C.byref(p), C.byref(self._h), err, 512), err.value)

    def _err(self):
        return _ctx_err(self._h)

    @property
    def seq_len(self):
        return _seq_len(self._h, 0)

    def eval(self, tokens):
        """Appends tokens to the conversation (logits of the last one ready)."""
        nb = _ctx_n_batch(self._h)
        for i in range(0, len(tokens), nb):
            part = tokens[i:i + nb]
            arr = (_tok * len(part))(*part)
            b = _Batch(len(part), arr, None, None, None)
            _check(_decode(self._h, C.byref(b)), self._err())

    def generate(self, prompt, max_tokens=64, temperature=0.8, seed=1, top_k=40, top_p=0.95, min_p=0.05):
        """Continues the conversation with prompt (text or token ids) and yields each new token's text."""
        toks = self.model.tokenize(prompt, add_bos=-1 if self.seq_len == 0 else 0) if isinstance(prompt, str) else list(prompt)
        self.eval(toks)
        sp = _SamplerParams(C.sizeof(_SamplerParams), temperature, top_k, top_p, min_p, 1.0, 0.0, 0.0, 64, seed, None, 0)
        smp, dt = _P(), _P()
        _check(_smp_new(C.byref(sp), self.model.n_vocab, C.byref(smp)))
        try:
            _check(_detok_new(self.model._h, 0, C.byref(dt)))
            buf = C.create_string_buffer(1024)
            n_ctx = _ctx_n_ctx(self._h)
            for _ in range(max_tokens):
                if self.seq_len >= n_ctx:
                    break
                t = _smp_sample(smp, _logits(self._h, 0))
                if t < 0 or _is_eog(self.model._h, t):
                    break
                _smp_accept(smp, t)
                n = _detok_push(dt, t, buf, 1024)
                piece = buf.raw[:n].decode(errors="replace") if 0 <= n < 1024 else ""
                self.eval([t])
                if piece:
                    yield piece
            n = _detok_flush(dt, buf, 1024)
            if 0 < n < 1024:
                yield buf.raw[:n].decode(errors="replace")
        finally:
            _detok_free(dt)
            _smp_free(smp)

    def save_state(self):
        n = _state_size(self._h, 0)
        buf = C.create_string_buffer(n)
        w = C.c_size_t(0)
        _check(_state_get(self._h, 0, buf, n, C.byref(w)), self._err())
        return buf.raw[: w.value]

    def restore_state(self, state):
        _check(_state_set(self._h, 0, bytes(state), len(state)), self._err())

    def set_threads(self, n):
        _check(_set_threads(self._h, n), self._err())

    def reset(self):
        _truncate(self._h, 0, 0)

    def close(self):
        if self._h:
            _ctx_free(self._h)
            self._h = _P()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def __del__(self):
        self.close()
