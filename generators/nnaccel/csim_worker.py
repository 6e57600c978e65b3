"""The worker process that runs compiled model code (our C-simulation library, hls4ml's
reference library) on behalf of a parent (nnaccel.isolate), so that an abort, a segfault or an
endless loop in that C++ ends this process and never the caller's.

Run as a script with the standard library only (`python -I -S csim_worker.py`): it starts in
milliseconds and never imports TensorFlow. Protocol on stdin/stdout: 8-byte little-endian
length, then a pickled request; one pickled reply per request.
  ("load", path, private)          -> ("ok",)  dlopen path (a private copy if asked: dlopen shares
                                      one handle, and so the static weight storage, per path)
  ("call", symbol, restype, args)  -> ("ok", result, [bytes of each "out" argument])
  ("loop", symbol, n, args)        -> ("ok", None, [bytes of each "out" argument, n samples])
  ("trace", symbol, n, in, in_stride, out_stride, {layer: n_values}, n_slots)
                                   -> ("ok", None, {layer: float32 bytes of n samples}), hls4ml's
                                      ModelGraph.trace() protocol on a library built with tracing
Arguments: ("u32", v), ("in", bytes | None), ("out", nbytes); for "loop", ("in", bytes, stride)
and ("out", stride): sample i gets the i-th stride of every buffer (hls4ml's per-sample calls)."""
import ctypes
import os
import pickle
import shutil
import signal
import struct
import sys
import tempfile

_LEN = struct.Struct("<Q")


def _read(f, n):
    buf = b""
    while len(buf) < n:
        chunk = f.read(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def _buffers(args):
    """ctypes arguments and the out buffers, in argument order."""
    cargs, outs = [], []
    for a in args:
        kind = a[0]
        if kind == "u32":
            cargs.append(ctypes.c_uint32(a[1]))
        elif kind == "in":
            cargs.append(None if a[1] is None else ctypes.create_string_buffer(a[1], max(1, len(a[1]))))
        elif kind == "out":
            b = ctypes.create_string_buffer(max(1, a[1]))
            cargs.append(b)
            outs.append((b, a[1]))
        else:
            raise ValueError(f"unknown argument kind {kind!r}")
    return cargs, outs


def _call(lib, symbol, restype, args):
    f = getattr(lib, symbol)
    f.restype = {"int": ctypes.c_int, None: None}[restype]
    cargs, outs = _buffers(args)
    result = f(*cargs)
    return result, [b.raw[:n] for b, n in outs]


def _loop(lib, symbol, n, args):
    f = getattr(lib, symbol)
    f.restype = None
    ins = [(memoryview(a[1]), a[2]) for a in args if a[0] == "in"]
    strides = [a[1] for a in args if a[0] == "out"]
    outs = [ctypes.create_string_buffer(max(1, s * n)) for s in strides]
    inbufs = [ctypes.create_string_buffer(max(1, s)) for _, s in ins]
    base = [ctypes.addressof(b) for b in outs]
    for i in range(n):
        cargs, k_in, k_out = [], 0, 0
        for a in args:
            if a[0] == "in":
                data, s = ins[k_in]
                ctypes.memmove(inbufs[k_in], bytes(data[i * s:(i + 1) * s]), s)
                cargs.append(inbufs[k_in])
                k_in += 1
            else:
                cargs.append(ctypes.c_void_p(base[k_out] + i * strides[k_out]))
                k_out += 1
        f(*cargs)
    return None, [b.raw[:s * n] for b, s in zip(outs, strides)]


class _TraceData(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("data", ctypes.c_void_p)]


def _trace(lib, symbol, n, data, in_stride, out_stride, sizes, n_slots):
    f = getattr(lib, symbol)
    f.restype = None
    lib.allocate_trace_storage.argtypes = [ctypes.c_size_t]
    lib.allocate_trace_storage(4)  # float elements, as hls4ml's trace() with float32 inputs
    slots = (_TraceData * n_slots)()
    traced = {name: [] for name in sizes}
    out = ctypes.create_string_buffer(max(1, out_stride))
    inp = ctypes.create_string_buffer(max(1, in_stride))
    try:
        for i in range(n):
            ctypes.memmove(inp, data[i * in_stride:(i + 1) * in_stride], in_stride)
            f(inp, out)
            lib.collect_trace_output(slots)
            for slot in slots:
                name = slot.name.decode() if slot.name else ""
                if name in traced:
                    traced[name].append(ctypes.string_at(slot.data, 4 * sizes[name]))
    finally:
        lib.free_trace_storage()
    return None, {name: b"".join(chunks) for name, chunks in traced.items()}


def main():
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what an interrupt ends
    try:  # and an endless loop here must not outlive a parent that died without closing the pipe
        ctypes.CDLL(None).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    # the replies get their own descriptor; whatever the C++ prints to stdout goes to stderr
    # (the parent reads stderr to explain a crash) instead of into the replies
    wfile = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    rfile = sys.stdin.buffer
    tmp = tempfile.mkdtemp(prefix="nnaccel-worker-")
    lib = None
    try:
        while True:
            head = _read(rfile, _LEN.size)
            if head is None:
                return
            req = pickle.loads(_read(rfile, _LEN.unpack(head)[0]))
            try:
                if req[0] == "load":
                    path = req[1]
                    if req[2]:
                        path = os.path.join(tmp, os.path.basename(path))
                        shutil.copy2(req[1], path)
                    lib = ctypes.CDLL(path)
                    reply = ("ok",)
                elif req[0] == "call":
                    reply = ("ok", *_call(lib, *req[1:]))
                elif req[0] == "loop":
                    reply = ("ok", *_loop(lib, *req[1:]))
                elif req[0] == "trace":
                    reply = ("ok", *_trace(lib, *req[1:]))
                else:
                    reply = ("err", f"unknown request {req[0]!r}")
            except Exception as e:  # a bad request, a missing symbol: the parent names it
                reply = ("err", f"{type(e).__name__}: {e}")
            data = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
            wfile.write(_LEN.pack(len(data)) + data)
            wfile.flush()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
