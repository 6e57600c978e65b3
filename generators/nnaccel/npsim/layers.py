"""The layers the numpy engine reproduces bit for bit, each from its hls4ml kernel:
Dense (nnet_dense_latency.h, nnet_dense_resource.h), Conv1D/2D (that dense kernel per window,
nnet_conv_stream.h), max pooling (nnet_pooling*.h), ZeroPadding (nnet_padding*.h), BatchNormalization
(nnet_batchnorm*.h), ReLU/linear/Flatten (nnet_activation*.h) and Softmax 'stable'/'latency'
(nnet_activation_stream.h). Values are integer mantissas (fixed.py).

Each class is built from one layers.json entry; its constructor raises NotCovered when the entry
asks for something whose result this module cannot guarantee to be the C++'s."""
from __future__ import annotations

import numpy as np

from . import fixed
from .tables import softmax_tables

ROW_BLOCK = 1 << 16  # accumulator values a Dense layer updates per pass (keeps the working set in cache)


class NotCovered(Exception):
    """A layer or type the numpy engine does not reproduce; the message names it."""


def _int_dtype(bits: int):
    return np.int32 if bits <= 31 else np.int64


class Dense:
    """acc = (accum_t)bias; acc += (accum_t)(x[i] * w[i][j]) for every i; res = (res_t)acc.
    Every product is cast to accum_t on its own (both strategies do), so rounding is per term; with
    a wrapping accumulator the sum is taken modulo 2**W, where the order of additions is irrelevant.
    A saturating accumulator would make the order (which differs between strategies) matter."""

    @staticmethod
    def check(d: dict, types: dict) -> dict:
        """NotCovered unless the sums are order-independent and fit the engine; else the sizes."""
        t_in, t_acc = fixed.typ(d["input"]), fixed.typ(d["accum"])
        t_w = types[d["weight"]]
        if t_acc.saturation != "AP_WRAP" or t_acc.sat_bits:
            raise NotCovered(f"layer {d['name']}: accumulator {t_acc} saturates (the order of additions "
                             "matters there)")
        shift = t_in.fractional + t_w.fractional - t_acc.fractional
        prod_bits = t_in.width + t_w.width
        grow = max(0, -shift)
        sum_bits = max(prod_bits - max(shift, 0), t_acc.width) + grow + int(np.ceil(np.log2(d["n_in"] + 1)))
        if not fixed.fits(sum_bits + 1):
            raise NotCovered(f"layer {d['name']}: its sums need {sum_bits} bits, beyond the engine's {fixed.MAX_BITS}")
        return {"shift": shift, "prod_bits": prod_bits, "grow": grow, "sum_bits": sum_bits}

    def __init__(self, d: dict, weights: dict, ip_dir=None):
        self.name = d["name"]
        sizes = self.check(d, {k: t for k, (_, t) in weights.items()})
        self.t_in, self.t_acc, self.t_res = fixed.typ(d["input"]), fixed.typ(d["accum"]), fixed.typ(d["result"])
        self.n_in, self.n_out = d["n_in"], d["n_out"]
        (w, self.t_w), (b, self.t_b) = weights[d["weight"]], weights[d["bias"]]
        w = w.reshape(self.n_out, self.n_in).T if d["weight_order"] == "out_in" else w.reshape(self.n_in, self.n_out)
        self.f_prod = self.t_in.fractional + self.t_w.fractional
        self.shift = sizes["shift"]
        prod_bits, grow = sizes["prod_bits"], sizes["grow"]
        self.dtype = _int_dtype(max(prod_bits + grow, sizes["sum_bits"]) + 1)
        self.w = np.ascontiguousarray(w, dtype=self.dtype)
        self.b = fixed.cast(b, self.t_b.fractional, self.t_acc)
        sum_range = prod_bits + grow + np.log2(self.n_in + 1)
        fits_double = sum_range < 53
        # integer sums below 2**24 are exact in float32 whatever the order of additions: half the work
        self.mm_dtype = np.float32 if sum_range < 24 else np.float64
        # exact products and no rounding: one float64 matrix product gives the exact sum
        self.exact_matmul = self.shift <= 0 and fits_double
        # floor (AP_TRN) of each product by 2**s, s small: sum floor(p / 2**s) = (sum p - sum p mod 2**s) / 2**s,
        # and p mod 2**s depends only on the low s bits of x and w: 2**s - 1 more matrix products
        self.floor_matmul = self.t_acc.rounding == "AP_TRN" and 0 < self.shift <= 3 and fits_double
        if self.floor_matmul:
            m = (1 << self.shift) - 1
            self.low_tables = [((a * (self.w.astype(np.int64) & m)) & m).astype(self.mm_dtype) for a in range(1, m + 1)]
        self.w_mm = self.w.astype(self.mm_dtype)

    def _floor_sum(self, x: np.ndarray) -> np.ndarray:
        total = (x.astype(self.mm_dtype) @ self.w_mm).astype(np.int64)
        low = x & x.dtype.type((1 << self.shift) - 1)
        for a, table in enumerate(self.low_tables, start=1):
            total -= ((low == a).astype(self.mm_dtype) @ table).astype(np.int64)
        return total >> np.int64(self.shift)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.exact_matmul:
            s = (x.astype(self.mm_dtype) @ self.w_mm).astype(np.int64)
            acc = (s << np.int64(-self.shift)) if self.shift else s
        elif self.floor_matmul:
            acc = self._floor_sum(x)
        else:
            # one input at a time over cache-sized blocks of samples: no (samples, n_in, n_out) temporaries
            xs = x.astype(self.dtype)
            acc = np.zeros((len(x), self.n_out), dtype=self.dtype)
            rows = max(1, ROW_BLOCK // self.n_out)
            trn, sh = self.t_acc.rounding == "AP_TRN" and self.shift > 0, self.dtype(max(self.shift, 0))
            buf = np.empty((min(rows, len(x)), self.n_out), dtype=self.dtype)
            for r in range(0, len(x), rows):
                xr, a = xs[r:r + rows], acc[r:r + rows]
                t = buf[:len(xr)]
                for i in range(self.n_in):
                    np.multiply(xr[:, i:i + 1], self.w[i], out=t)
                    if trn:  # the common case, in place
                        a += np.right_shift(t, sh, out=t)
                    else:
                        a += fixed.shift_round(t, self.shift, self.t_acc.rounding)
            acc = acc.astype(np.int64)
        acc = fixed.wrap(acc + self.b, self.t_acc)
        return fixed.cast(acc, self.t_acc.fractional, self.t_res)


class Activation:
    """ReLU: `if (x > 0) y = x; else y = 0;` and linear: `y = x;`, y of the result type."""

    @staticmethod
    def check(d: dict, types=None) -> None:
        for t in (fixed.typ(d["input"]), fixed.typ(d["result"])):
            if not fixed.fits(2 * t.width):
                raise NotCovered(f"layer {d['name']}: type {t} is too wide for the engine")

    def __init__(self, d: dict, weights=None, ip_dir=None):
        self.name, self.relu = d["name"], d["kind"] == "relu"  # reshape (Flatten): an assignment
        self.t_in, self.t_res = fixed.typ(d["input"]), fixed.typ(d["result"])
        # int32 lanes move half the memory of int64: use them when the value, its shifted and rounded
        # forms and the result all fit (the next layers widen again where they need to)
        grow = max(0, self.t_res.fractional - self.t_in.fractional)
        self.narrow = self.t_in.width + grow + 2 <= 31 and self.t_res.width <= 30

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.narrow:
            x = x.astype(np.int32)
        if self.relu:
            x = np.maximum(x, 0)
        return fixed.cast(x, self.t_in.fractional, self.t_res, keep_dtype=self.narrow)


def _index_bits(size: int, t, what: str, name: str) -> int:
    n = int(size).bit_length() - 1
    if size <= 0 or 1 << n != size:
        raise NotCovered(f"layer {name}: {what} size {size} is not a power of two")
    if n > t.width:
        raise NotCovered(f"layer {name}: {what} has more index bits ({n}) than {t} has")
    return n


def _top_bits(v: np.ndarray, t, n: int) -> np.ndarray:
    """softmax_idx_from_real_val: the top n bits of the raw pattern, as a table index."""
    return (fixed.pattern(v, t) >> np.int64(t.width - n)) & np.int64((1 << n) - 1)


def _reduce(cols: list, op):
    """nnet::reduce: hls4ml's balanced adder/max tree, in its exact association order."""
    n = len(cols)
    if n == 1:
        return cols[0]
    if n == 2:
        return op(cols[0], cols[1])
    left = 1 << ((n - 1).bit_length() - 1)
    return op(_reduce(cols[:left], op), _reduce(cols[left:], op))


class Softmax:
    """softmax_stable / softmax_latency of nnet_activation_stream.h for one vector per sample."""

    @staticmethod
    def check(d: dict, types=None) -> None:
        t_in, t_acc, t_inv_inp = fixed.typ(d["input"]), fixed.typ(d["accum"]), fixed.typ(d["inv_inp_t"])
        t_norm = fixed.typ(d["inp_norm_t"]) if d["implementation"] == "stable" else t_in
        _index_bits(d["exp_table_size"], t_norm, "exp table", d["name"])
        _index_bits(d["inv_table_size"], t_inv_inp, "inverse table", d["name"])
        for tt in (t_acc, t_inv_inp, t_norm, fixed.typ(d["exp_table_t"]), fixed.typ(d["inv_table_t"])):
            if not fixed.fits(tt.width + t_in.width + 2):
                raise NotCovered(f"layer {d['name']}: type {tt} is too wide for the engine")

    def __init__(self, d: dict, weights=None, ip_dir=None):
        self.check(d)
        self.name, self.stable = d["name"], d["implementation"] == "stable"
        t = {k: fixed.typ(d[k]) for k in ("input", "result", "accum", "exp_table_t", "inv_table_t", "inv_inp_t")}
        self.t_in, self.t_res, self.t_acc, self.t_inv_inp = t["input"], t["result"], t["accum"], t["inv_inp_t"]
        self.t_norm = fixed.typ(d["inp_norm_t"]) if self.stable else self.t_in
        self.n_exp = _index_bits(d["exp_table_size"], self.t_norm, "exp table", self.name)
        self.n_inv = _index_bits(d["inv_table_size"], self.t_inv_inp, "inverse table", self.name)
        exp_bits, inv_bits = softmax_tables(ip_dir, d)
        exp_table = fixed.from_pattern(exp_bits, t["exp_table_t"])
        # exp_res[j] = exp_table[x] assigns to accum_t: do that assignment once, on the table
        self.exp_acc = fixed.cast(exp_table, t["exp_table_t"].fractional, self.t_acc)
        self.inv = fixed.from_pattern(inv_bits, t["inv_table_t"])
        self.f_inv = t["inv_table_t"].fractional

    def __call__(self, x: np.ndarray) -> np.ndarray:
        fi, fa = self.t_in.fractional, self.t_acc.fractional
        if self.stable:
            xmax = x.max(axis=1, keepdims=True)
            idx = _top_bits(fixed.cast(xmax - x, fi, self.t_norm), self.t_norm, self.n_exp)
        else:
            idx = _top_bits(x, self.t_in, self.n_exp)
        exp_res = self.exp_acc[idx]
        exp_sum = _reduce([exp_res[:, j] for j in range(exp_res.shape[1])],
                          lambda a, b: fixed.saturate(a + b, self.t_acc))   # Op_add<accum_t>
        inv_idx = _top_bits(fixed.cast(exp_sum, fa, self.t_inv_inp), self.t_inv_inp, self.n_inv)
        inv = self.inv[inv_idx]
        return fixed.cast(exp_res * inv[:, None], fa + self.f_inv, self.t_res)


def _windows(x: np.ndarray, g: dict, fh: int, fw: int) -> np.ndarray:
    """(B, out_h, out_w, C, fh, fw) views of channels-last images (B, H, W, C), stride by stride."""
    from numpy.lib.stride_tricks import sliding_window_view

    win = sliding_window_view(x, (fh, fw), axis=(1, 2))
    return win[:, ::g["stride_height"], ::g["stride_width"]][:, :g["out_height"], :g["out_width"]]


class Conv:
    """Conv1D/Conv2D: hls4ml's dense kernel (mult_config) on every (filt_h, filt_w, n_chan) window,
    in the same window order as its weights (h, w, c); zero padding where the layer pads."""

    @staticmethod
    def check(d: dict, types: dict) -> None:
        Dense.check(d, types)

    def __init__(self, d: dict, weights: dict, ip_dir=None):
        self.g = d
        self.dense = Dense(d, weights, ip_dir)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        g = self.g
        img = x.reshape(len(x), g["in_height"], g["in_width"], g["n_chan"])
        if any(g[k] for k in ("pad_top", "pad_bottom", "pad_left", "pad_right")):
            img = np.pad(img, ((0, 0), (g["pad_top"], g["pad_bottom"]), (g["pad_left"], g["pad_right"]), (0, 0)))
        win = _windows(img, g, g["filt_height"], g["filt_width"])            # (B, oh, ow, C, fh, fw)
        cols = np.ascontiguousarray(win.transpose(0, 1, 2, 4, 5, 3)).reshape(-1, self.dense.n_in)
        return self.dense(cols).reshape(len(x), -1)


class MaxPool:
    """Pooling1D/2D 'Max': each window element assigned to accum_t, the max, then res_t."""

    @staticmethod
    def check(d: dict, types=None) -> None:
        for t in (fixed.typ(d["input"]), fixed.typ(d["accum"]), fixed.typ(d["result"])):
            if not fixed.fits(2 * t.width):
                raise NotCovered(f"layer {d['name']}: type {t} is too wide for the engine")

    def __init__(self, d: dict, weights=None, ip_dir=None):
        self.g = d
        self.t_in, self.t_acc, self.t_res = fixed.typ(d["input"]), fixed.typ(d["accum"]), fixed.typ(d["result"])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        g = self.g
        img = fixed.cast(x, self.t_in.fractional, self.t_acc)
        img = img.reshape(len(x), g["in_height"], g["in_width"], g["n_chan"])
        m = _windows(img, g, g["filt_height"], g["filt_width"]).max(axis=(4, 5))
        return fixed.cast(m, self.t_acc.fractional, self.t_res).reshape(len(x), -1)


class ZeroPad:
    """ZeroPadding1D/2D: zeros around each channels-last image, the data assigned to the result type."""

    check = Activation.check

    def __init__(self, d: dict, weights=None, ip_dir=None):
        self.g, self.cast = d, Activation(dict(d, kind="linear"))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        g = self.g
        img = self.cast(x).reshape(len(x), g["in_height"], g["in_width"], g["n_chan"])
        img = np.pad(img, ((0, 0), (g["pad_top"], g["pad_bottom"]), (g["pad_left"], g["pad_right"]), (0, 0)))
        return img.reshape(len(x), -1)


class BatchNorm:
    """nnet::normalize: res = x * scale[k] + bias[k] (full precision) assigned to res_t, k the element
    (n_filt == -1) or its channel (index % n_filt)."""

    @staticmethod
    def check(d: dict, types: dict) -> None:
        t_in, t_s, t_b = fixed.typ(d["input"]), types[d["scale"]], types[d["bias"]]
        frac = max(t_in.fractional + t_s.fractional, t_b.fractional)
        bits = max(t_in.width + t_s.width + frac - t_in.fractional - t_s.fractional,
                   t_b.width + frac - t_b.fractional) + 1
        if not fixed.fits(bits + 1):
            raise NotCovered(f"layer {d['name']}: its sums need {bits} bits, beyond the engine's {fixed.MAX_BITS}")

    def __init__(self, d: dict, weights: dict, ip_dir=None):
        self.check(d, {k: t for k, (_, t) in weights.items()})
        self.t_in, self.t_res = fixed.typ(d["input"]), fixed.typ(d["result"])
        (scale, t_s), (bias, t_b) = weights[d["scale"]], weights[d["bias"]]
        self.frac = max(self.t_in.fractional + t_s.fractional, t_b.fractional)
        self.scale_shift = self.frac - self.t_in.fractional - t_s.fractional
        idx = np.arange(d["n_in"]) if d["n_filt"] == -1 else np.arange(d["n_in"]) % d["n_filt"]
        self.scale = scale[idx]
        self.bias = bias[idx] << np.int64(self.frac - t_b.fractional)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y = ((x * self.scale) << np.int64(self.scale_shift)) + self.bias
        return fixed.cast(y, self.frac, self.t_res)


KINDS = {"dense": Dense, "relu": Activation, "linear": Activation, "reshape": Activation, "softmax": Softmax,
         "conv": Conv, "maxpool": MaxPool, "zeropad": ZeroPad, "batchnorm": BatchNorm}
