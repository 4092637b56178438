"""The detector's numpy inference engine (no torch): forward pass and input gradient by hand.

``forensics.detect`` uses it on CPU by default (``engine="numpy"``), so a scan never imports
torch (2.5-3.3 s per process on the 2-core machine).  It implements exactly the maths of
``forensics.model.Detector.forward_embedded`` for the bundled kind ``cnn_lstm`` (other kinds are
torch only), in float32, vectorised over the batch:

    x = relu(e)                                    e (n, T, E): the embedded input, pre-ReLU
    h = relu(conv1d(x))                            Conv1d(E, H, k, stride s, padding k // 2), (n, S, H)
    i, f, g, o = gates(h_t, h_{t-1})               torch's LSTM layout: weight_ih_l0 (4U, H) rows
    c_t = f c_{t-1} + i g;  h_t = o tanh(c_t)      i, f, g, o; biases bias_ih_l0 + bias_hh_l0
    logits = head_cat(h_S), head_sub(h_S)

and the gradient of one category logit per row with respect to ``e`` (back through the heads,
the LSTM in reverse time, the convolution and the ReLU), which ``forensics.detect`` turns into
gradient x input explanations.  The plan classes mirror ``forensics.detect._Plan`` /
``_DensePlan`` (the per-step Linear applied per distinct flow row and per context vector).
"""

from __future__ import annotations

import numpy as np

from forensics.sequences import CONTEXT_FEATURES, FLOW_FEATURES

SUPPORTED_KINDS = ("cnn_lstm",)
_F32 = np.float32


class NumpyNet:
    """The weights of a ``cnn_lstm`` :class:`forensics.model.Detector` as float32 numpy arrays.

    ``state``: the safetensors state dict (names as torch's ``state_dict()``); wrong names or
    shapes raise ``ValueError`` (the loader turns it into a ModelError)."""

    def __init__(self, arch: dict, state: dict):
        kind = arch.get("kind", "cnn_lstm")
        if kind not in SUPPORTED_KINDS:
            raise ValueError(f"the numpy engine supports model kinds {', '.join(SUPPORTED_KINDS)}, not {kind!r}"
                             " (use engine='torch')")
        C, E, H, U = int(arch["channels"]), int(arch["embed"]), int(arch["conv"]), int(arch["hidden"])
        k, s = int(arch["kernel"]), int(arch["stride"])
        n_cat, n_sub = int(arch["n_cat"]), int(arch["n_sub"])
        shapes = {"embed.weight": (E, C), "embed.bias": (E,), "conv.weight": (H, E, k), "conv.bias": (H,),
                  "lstm.weight_ih_l0": (4 * U, H), "lstm.weight_hh_l0": (4 * U, U), "lstm.bias_ih_l0": (4 * U,),
                  "lstm.bias_hh_l0": (4 * U,), "head_cat.weight": (n_cat, U), "head_cat.bias": (n_cat,),
                  "head_sub.weight": (n_sub, U), "head_sub.bias": (n_sub,)}
        missing = sorted(set(shapes) - set(state))
        extra = sorted(set(state) - set(shapes))
        if missing or extra:
            raise ValueError(f"state dict mismatch: missing {missing}, unexpected {extra}")
        for name, shape in shapes.items():
            if tuple(state[name].shape) != shape:
                raise ValueError(f"{name}: shape {tuple(state[name].shape)}, expected {shape}")
        w = {name: np.ascontiguousarray(state[name], dtype=_F32) for name in shapes}
        self.arch = dict(arch)
        self.C, self.E, self.H, self.U, self.k, self.s, self.pad = C, E, H, U, k, s, k // 2
        self.embed_weight, self.embed_bias = w["embed.weight"], w["embed.bias"]  # (E, C), (E,)
        # conv as one matmul over patches (k steps x E channels): W (H, E, k) -> (k * E, H)
        self.wconv = np.ascontiguousarray(w["conv.weight"].transpose(2, 1, 0).reshape(k * E, H))
        self.wconv_t = np.ascontiguousarray(self.wconv.T)  # (H, k * E)
        # the bundled shape (k 3, stride 2, padding 1): output step s reads inputs 2s - 1, 2s, 2s + 1,
        # i.e. the step pair (2s, 2s + 1), a free reshape of the input, and the second half of the
        # pair before: two matmuls, no gathered patches (used when T is even)
        self._pairs = (k, s, k // 2) == (3, 2, 1)
        if self._pairs:
            self.w0, self.w12 = self.wconv[:E], np.ascontiguousarray(self.wconv[E:])  # (E, H), (2E, H)
            self.w0_t, self.w12_t = np.ascontiguousarray(self.w0.T), np.ascontiguousarray(self.w12.T)
        self.bconv = w["conv.bias"]
        # LSTM gates reordered from torch's (i, f, g, o) to (i, f, o, g), so that the three
        # sigmoid gates are one contiguous block; for the forward pass their rows are scaled by
        # -1 and those of g by -2 (exact in binary floating point), so that one exp gives
        # 1 / (1 + exp(-x)) = sigmoid(x) for i, f, o and sigmoid(2x) = (tanh(x) + 1) / 2 for g
        # (numpy's float32 exp is SIMD, its tanh much slower)
        perm = np.concatenate([np.arange(0, 2 * U), np.arange(3 * U, 4 * U), np.arange(2 * U, 3 * U)])
        half = np.concatenate([np.full(3 * U, -1.0, _F32), np.full(U, -2.0, _F32)])[:, None]
        self.wih = w["lstm.weight_ih_l0"][perm]  # (4U, H), for the backward pass
        self.whh = w["lstm.weight_hh_l0"][perm]  # (4U, U)
        self.wih_t = np.ascontiguousarray((self.wih * half).T)  # (H, 4U) scaled
        self.whh_t = np.ascontiguousarray((self.whh * half).T)
        self.blstm = (w["lstm.bias_ih_l0"] + w["lstm.bias_hh_l0"])[perm] * half[:, 0]
        self.wcat, self.bcat = w["head_cat.weight"], w["head_cat.bias"]
        self.wcat_t = np.ascontiguousarray(self.wcat.T)
        self.wsub_t, self.bsub = np.ascontiguousarray(w["head_sub.weight"].T), w["head_sub.bias"]

    def _taps(self, T: int):
        """Output steps S of the convolution and, per kernel tap j, the output steps
        ``s_lo:s_hi`` it reads real input for and that input, ``e[:, start:stop:stride]``
        (the rest is the zero padding)."""
        k, st, p = self.k, self.s, self.pad
        S = (T + 2 * p - k) // st + 1
        taps = []
        for j in range(k):
            pos = st * np.arange(S) + j - p
            ok = np.flatnonzero((pos >= 0) & (pos < T))
            lo, hi = (int(ok[0]), int(ok[-1]) + 1) if len(ok) else (0, 0)
            taps.append((j, lo, hi, int(pos[lo]) if hi > lo else 0, int(pos[hi - 1]) + 1 if hi > lo else 0))
        return S, taps

    def forward(self, e: np.ndarray, keep: bool = False):
        """``e`` (n, T, E) float32 -> (category logits (n, n_cat), subcategory logits (n, n_sub),
        cache for :meth:`input_grad` or None)."""
        n, T, E = e.shape
        U, st = self.U, self.s
        if self._pairs and T % 2 == 0:
            S = T // 2
            pairs = np.maximum(e, 0).reshape(n * S, 2 * E)  # [x_2s, x_2s+1]
            pre = pairs @ self.w12
            prev = pairs[:, E:] @ self.w0  # x_2s+1 @ W0: for output step s + 1
            pre.reshape(n, S, -1)[:, 1:] += prev.reshape(n, S, -1)[:, :-1]
        else:
            S, taps = self._taps(T)
            patch = np.empty((n, S, self.k, E), _F32)  # relu(e) at the positions each tap reads
            for j, lo, hi, start, stop in taps:
                patch[:, :lo, j] = 0
                patch[:, hi:, j] = 0
                np.maximum(e[:, start:stop:st], 0, out=patch[:, lo:hi, j])
            pre = patch.reshape(n * S, self.k * E) @ self.wconv
        pre += self.bconv
        hconv = np.maximum(pre, 0, out=pre)  # (n S, H); hconv > 0 where pre > 0
        xg = hconv @ self.wih_t
        xg += self.blstm
        xg = xg.reshape(n, S, 4 * U)
        h = np.zeros((n, U), _F32)
        c = np.zeros((n, U), _F32)
        acts, cells, tcs = [], [c], []
        for t in range(S):
            if t:
                act = np.matmul(h, self.whh_t)
                act += xg[:, t]  # -x for i, f, o; -2x for g
            else:  # h_0 = 0
                act = xg[:, 0].copy()
            with np.errstate(over="ignore"):  # exp -> inf gives 1 / inf = 0: right
                np.exp(act, out=act)
            act += _F32(1)
            np.reciprocal(act, out=act)  # i, f, o = sigmoid(x); sigmoid(2x) for g
            gb = act[:, 3 * U:]
            gb *= _F32(2)
            gb -= _F32(1)  # g = tanh(x)
            if t:
                c = act[:, U:2 * U] * c
                c += act[:, :U] * act[:, 3 * U:]
            else:  # c_0 = 0
                c = act[:, :U] * act[:, 3 * U:]
            tc = np.tanh(c)
            h = act[:, 2 * U:3 * U] * tc
            if keep:
                acts.append(act)
                cells.append(c)
                tcs.append(tc)
        a = h @ self.wcat_t
        a += self.bcat
        b = h @ self.wsub_t
        b += self.bsub
        cache = (e, hconv, acts, cells, tcs) if keep else None
        return a, b, cache

    @staticmethod
    def take(cache, rows: np.ndarray):
        """The cache of rows ``rows`` only."""
        e, pre, acts, cells, tcs = cache
        n = len(e)
        S = pre.shape[0] // n
        pre_rows = pre.reshape(n, S, -1)[rows].reshape(len(rows) * S, -1)
        return (e[rows], pre_rows, [a[rows] for a in acts], [c[rows] for c in cells], [t[rows] for t in tcs])

    def input_grad(self, cache, cat: np.ndarray) -> np.ndarray:
        """d logit[row, cat[row]] / d e (n, T, E) for every row of ``cache``."""
        e, pre, acts, cells, tcs = cache
        n, T, E = e.shape
        U, k, st = self.U, self.k, self.s
        S = pre.shape[0] // n
        dh = self.wcat[cat]  # (n, U): d logit / d h_S
        dc = np.zeros((n, U), _F32)
        dgates = np.empty((n, S, 4 * U), _F32)
        for t in range(S - 1, -1, -1):
            act, tc, cprev = acts[t], tcs[t], cells[t]
            i, f, o, g = act[:, :U], act[:, U:2 * U], act[:, 2 * U:3 * U], act[:, 3 * U:]
            dc += dh * o * (1 - tc * tc)
            d = dgates[:, t]  # gates in the order i, f, o, g
            np.multiply(dc, g, out=d[:, :U])  # d i
            np.multiply(dc, cprev, out=d[:, U:2 * U])  # d f
            np.multiply(dh, tc, out=d[:, 2 * U:3 * U])  # d o
            np.multiply(dc, i, out=d[:, 3 * U:])  # d g
            dc *= f
            # through the activations: sigmoid' = s (1 - s), tanh' = 1 - t^2
            deriv = act * (1 - act)
            deriv[:, 3 * U:] = 1 - g * g
            d *= deriv
            dh = d @ self.whh  # (n, U)
        dhconv = dgates.reshape(n * S, 4 * U) @ self.wih  # (n S, H)
        dhconv *= pre > 0  # pre: relu(pre) as cached, > 0 exactly where pre > 0
        if self._pairs and T % 2 == 0:
            dpairs = dhconv @ self.w12_t  # (n S, 2E)
            dprev = dhconv @ self.w0_t  # (n S, E): d x_2s-1 from output step s
            dpairs.reshape(n, S, 2 * E)[:, :-1, E:] += dprev.reshape(n, S, E)[:, 1:]
            de = dpairs.reshape(n, T, E)
        else:
            _, taps = self._taps(T)
            dpatch = (dhconv @ self.wconv_t).reshape(n, S, k, E)
            de = np.zeros((n, T, E), _F32)
            for j, lo, hi, start, stop in taps:
                de[:, start:stop:st] += dpatch[:, lo:hi, j]  # the padding's share is dropped
        de *= e > 0
        return de


_BLAS = None  # threadpoolctl selection of the loaded BLAS libraries, False when unavailable


def _blas():
    """The BLAS thread pools loaded in this process (numpy's OpenBLAS), found once through
    threadpoolctl (a scikit-learn dependency); None when there is none it can control."""
    global _BLAS
    if _BLAS is None:
        _BLAS = False
        try:
            from threadpoolctl import ThreadpoolController

            found = ThreadpoolController().select(user_api="blas")
            if found.lib_controllers:
                _BLAS = found
        except Exception:  # threadpoolctl missing or failing: the caller runs one thread
            _BLAS = False
    return _BLAS or None


class single_threaded_blas:
    """Context: the BLAS libraries held to one thread (restored on exit); ``ok`` is False when
    their thread count cannot be set, then the caller should not add threads of its own."""

    def __enter__(self):
        blas = _blas()
        self.ok, self._limiter = blas is not None, None
        if blas is not None:
            self._limiter = blas.limit(limits=1)
        return self

    def __exit__(self, *exc):
        if self._limiter is not None:
            self._limiter.restore_original_limits()
        return False


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


class NumpyPlan:
    """:class:`forensics.detect._Plan` in numpy: compact windows, the per-step Linear applied
    once per distinct flow row (tables ``es``/``ed``) and per context vector."""

    def __init__(self, det, w):
        fu, codes, ctx = w.compact
        F, K = len(FLOW_FEATURES), len(CONTEXT_FEATURES)
        self.blocks = (slice(0, F), slice(F, F + K), slice(F + K, 2 * F + K), slice(2 * F + K, 2 * (F + K)))
        sf, sc, df, dc = self.blocks
        self.det, self.K = det, K
        mean, std, clip = det.mean, det.std, _F32(det.clip)
        net = det.model
        w_ = net.embed_weight  # (E, C)
        self.bias = net.embed_bias
        self.cmean = np.concatenate([mean[sc], mean[dc]])
        self.cstd = np.concatenate([std[sc], std[dc]])
        self.clip = clip
        self.wctx = np.ascontiguousarray(np.concatenate([w_[:, sc], w_[:, dc]], axis=1).T)  # (2K, E)
        fu = np.asarray(fu, _F32)
        self.zs = np.clip((fu - mean[sf]) / std[sf], -clip, clip)  # (D + 1, F)
        self.zd = np.clip((fu - mean[df]) / std[df], -clip, clip)
        self.es = self.zs @ np.ascontiguousarray(w_[:, sf].T)  # (D + 1, E)
        self.ed = self.zd @ np.ascontiguousarray(w_[:, df].T)
        self.codes = np.asarray(codes, np.int64)
        self.wblk = tuple(np.ascontiguousarray(w_[:, blk]) for blk in self.blocks)  # (E, block width)
        self.ctx = np.asarray(ctx, _F32)

    def _parts(self, sel):
        c = self.codes[sel]
        n, T = c.shape[:2]
        cs, cd = c[..., 0].reshape(-1), c[..., 1].reshape(-1)
        zc = self.ctx[sel] - self.cmean
        zc /= self.cstd
        np.clip(zc, -self.clip, self.clip, out=zc)  # (n, T, 2K)
        e = zc.reshape(n * T, -1) @ self.wctx
        e += self.bias
        e += np.take(self.es, cs, axis=0)
        e += np.take(self.ed, cd, axis=0)
        return e.reshape(n, T, -1), (cs, cd), zc

    def embedding(self, sel):
        return self._parts(sel)[0]

    def top_channels(self, rows: np.ndarray, cat: np.ndarray, top: int):
        e, (cs, cd), zc = self._parts(np.asarray(rows, np.int64))
        _, _, cache = self.det.model.forward(e, keep=True)
        g = self.det.model.input_grad(cache, np.asarray(cat, np.int64))
        return self.top_from_grad(g, cs, cd, zc, top)

    def top_from_grad(self, g, cs, cd, zc, top: int, sub: int = 256):
        """As :meth:`forensics.detect._Plan.top_from_grad`: (top channels (n, top) by summed
        gradient x input, mean input > 0, contribution > 0)."""
        K = self.K
        n, T, E = g.shape
        widths = [wb.shape[1] for wb in self.wblk]
        starts = np.cumsum([0] + widths).tolist()
        contrib = np.empty((n, starts[-1]), _F32)
        xsum = np.empty((n, starts[-1]), _F32)  # each channel's input summed over the window's steps
        g2 = g.reshape(n * T, E)
        zc2 = zc.reshape(n * T, 2 * K)
        ones = np.ones(T, _F32)
        for lo in range(0, n, sub):
            hi = min(n, lo + sub)
            r = slice(lo * T, hi * T)
            xs_blocks = (np.take(self.zs, cs[r], axis=0), zc2[r, :K], np.take(self.zd, cd[r], axis=0), zc2[r, K:])
            for j, (wb, xs) in enumerate(zip(self.wblk, xs_blocks)):
                # (summed over time step by step, in step order: what the sign below always read)
                xs.reshape(hi - lo, T, -1).sum(axis=1, out=xsum[lo:hi, starts[j]:starts[j + 1]])
                gx = g2[r] @ wb  # d logit / d standardised input of this block
                gx *= xs
                # sum over time as a (T,) x (T, width) product per window (far faster than .sum(axis=1))
                np.matmul(ones, gx.reshape(hi - lo, T, -1), out=contrib[lo:hi, starts[j]:starts[j + 1]])
        order = _top(contrib, top)
        val = np.take_along_axis(contrib, order, axis=1)
        # the sign of the summed input, for the chosen channels
        value = np.take_along_axis(xsum, order, axis=1)
        return order, value > 0, val > 0


def _top(contrib: np.ndarray, top: int) -> np.ndarray:
    """Per row, the ``top`` largest columns, largest first (ties: the lower column)."""
    n, C = contrib.shape
    top = min(top, C)
    order = np.empty((n, top), np.int64)
    if top == 0:
        return order
    x = contrib.copy()
    r = np.arange(n)
    for j in range(top):
        i = x.argmax(axis=1)
        order[:, j] = i
        if j + 1 < top:
            x[r, i] = -np.inf
    return order


class NumpyDensePlan:
    """Windows given as a (U, T, C) array: standardised and embedded batch by batch."""

    def __init__(self, det, x):
        self.x = np.asarray(x, _F32)
        self.mean, self.std, self.clip = det.mean, det.std, _F32(det.clip)
        self.w_t = np.ascontiguousarray(det.model.embed_weight.T)
        self.b = det.model.embed_bias

    def embedding(self, sel, sub: int = 512):
        x = self.x[sel]
        n, T, C = x.shape
        out = np.empty((n, T, self.w_t.shape[1]), _F32)
        for lo in range(0, n, sub):
            xb = np.clip((x[lo:lo + sub] - self.mean) / self.std, -self.clip, self.clip)
            m = len(xb)
            out[lo:lo + m] = (xb.reshape(m * T, C) @ self.w_t + self.b).reshape(m, T, -1)
        return out
