"""Fused forward of an InputConvolutional followed by stride-1 'Same' separable layers.

The layer-by-layer path (:mod:`.ops`) spends most of its time on short numpy inner loops
and on copies between layers. Here activations stay in one layout from layer to layer:
channel-major rows, each row the ``n`` samples of one channel, each sample ``X + gx``
rows of ``Y`` cells whose first ``X`` rows hold the feature map and whose last ``gx``
rows hold zeros; ``m`` zero cells follow every channel's row. A depthwise tap
``(di, dj)`` then reads one contiguous ``(C, row)`` block of the flat buffer shifted by
``di * Y + dj``: rows past a sample's edge land on zero rows, and a tap that runs past
a row's end (``dj != 0``) reads a copy of the grid whose wrapped-onto columns are zeroed.
Every numpy pass runs over whole contiguous arrays, no padding or gathering copy is made
between layers, and the zero rows cost ``(X + gx) / X`` more arithmetic (1.04 on the
DS-CNN).

Every number stays an exact integer: the depthwise sums in int16 (or int32) below their
bound, the pointwise and input convolutions and the activation in a float type chosen by
:func:`exact_float` from a bound on every intermediate value, computed from the bit
widths and weights before any input is seen. A layer whose bound exceeds float64's exact
range is not planned here, and the model runs layer by layer with integers instead.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import ops
from .ops import exact_float
from .quant import POT_MAX, integer_step

#: Samples per chunk: a chunk's working set (about 2 MB on the DS-CNN) then stays in L2
#: (measured, CPU time of the DS-CNN: 32 is 4-8% faster than 16 and 48, 20% than 64).
CHUNK = 32


@dataclass
class _Activation:
    """Step activation as ``clip(floor((pot - shift) / scale), 0, top)``.

    ``ceil(16 d / S) = floor((16 d + S - 1) / S)`` for integers, so with ``d = pot -
    threshold`` the shift is ``threshold - (S - 1) / 16`` and the scale ``S / 16``. In a
    float type exact beyond ``16 |pot - shift|`` and ``S``, the quotient of the integers
    ``16 (pot - shift)`` and ``S`` rounds to a float that has the same floor: were it not
    an integer, it is at least ``1 / S`` away from the next one, more than the rounding
    error. The cast to an integer type then floors what the clip left non-negative.
    """
    shift: np.ndarray   # (F, 1)
    scale: np.ndarray   # (F, 1)
    top: int

    @staticmethod
    def bound(layer, pot_bound: int) -> int:
        """Magnitude bound of ``16 (pot - shift)`` and of ``S``: what must be exact."""
        th = int(np.abs(layer._vars["threshold"].astype(np.int64)).max(initial=0))
        S = int(integer_step(layer._vars["act_step"], layer.act_bits).max(initial=1))
        return 16 * (pot_bound + th) + S

    @classmethod
    def plan(cls, layer, dtype):
        th = layer._vars["threshold"].astype(np.int64)
        S = integer_step(layer._vars["act_step"], layer.act_bits)
        # Both are multiples of 1/16 below the bound, so exact in ``dtype``.
        shift = (16 * th - (S - 1)) / 16
        return cls(shift.astype(dtype)[:, None], (S / 16).astype(dtype)[:, None],
                   (1 << layer.act_bits) - 1)

    def apply(self, pot, valid, out):
        """Activate ``pot - shift`` (F, L) in place into int16 ``out`` (the product
        subtracted the shift already); 0 where ``valid`` is 0."""
        pot /= self.scale
        np.clip(pot, 0, self.top, out=pot)
        np.copyto(out, pot, casting="unsafe")
        # A masking multiply on int16 is cheaper than a clip with a per-cell bound.
        out *= valid


class _Geometry:
    """The cell grid of one model: shapes, tap reach and the valid-cell masks."""

    def __init__(self, X, Y, gx, gy):
        self.X, self.Y, self.gx, self.gy = X, Y, gx, gy
        # No padding columns: a tap that reads past a row's end would wrap into the next
        # row, so it reads a copy of the grid with the wrapped-onto columns zeroed
        # (:meth:`column_masked`); zero rows are still needed between samples.
        self.Xp, self.Yp = X + gx, Y
        self.cells = self.Xp * self.Yp
        #: Farthest a tap reads from its cell; also the zero cells after every row.
        self.margin = gx * self.Yp + gy
        self._masks = {}

    def row(self, n):
        """Cells of one channel row (``n`` samples then the margin)."""
        return n * self.cells + self.margin

    def valid(self, n, dtype, value=1):
        """``(row(n),)`` of ``dtype``: ``value`` on feature-map cells, 0 elsewhere."""
        key = (n, np.dtype(dtype), value)
        if key not in self._masks:
            m = np.zeros(self.row(n), dtype)
            m[:n * self.cells].reshape(n, self.Xp, self.Yp)[:, :self.X, :self.Y] = value
            self._masks[key] = m
        return self._masks[key]

    def cell_view(self, a, n):
        """``(C, n, X, Y)`` view of the feature-map cells of a ``(C, row(n))`` array."""
        return a[:, :n * self.cells].reshape(a.shape[0], n, self.Xp, self.Yp)[
            :, :, :self.X, :self.Y]

    def new_grid(self, C, n):
        """An int16 buffer for ``C`` rows, its first ``margin`` and last cells zeroed,
        and the ``(C, row(n))`` view of the rows."""
        m, L = self.margin, self.row(n)
        z = np.empty(2 * m + C * L, np.int16)
        z[:m] = 0
        z[m + C * L:] = 0
        return z, z[m:m + C * L].reshape(C, L)

    def column_masked(self, z, C, n, dj):
        """A copy of the grid ``z`` for taps ``dj`` columns away: the columns such a tap
        reaches only by wrapping into the neighbouring row are zeroed."""
        key = ("columns", n, dj)
        if key not in self._masks:
            keep = np.ones((n, self.Xp, self.Y), np.int16)
            if dj < 0:
                keep[:, :, max(self.Y + dj, 0):] = 0
            else:
                keep[:, :, :dj] = 0
            self._masks[key] = np.concatenate([keep.reshape(-1),
                                               np.zeros(self.margin, np.int16)])
        out, rows = self.new_grid(C, n)
        np.multiply(self.shifted(z, C, n, 0), self._masks[key], out=rows)
        return out

    def shifted(self, z, C, n, off):
        """``(C, row(n))`` view of the grid ``z`` read ``off`` cells further on."""
        m, L = self.margin, self.row(n)
        return z[m + off:m + off + C * L].reshape(C, L)


class _Stage:
    """One layer on the grid: its exact float type and its activation (None if pooled)."""

    def _choose(self, layer, pot_bound: int, pooled: bool = False):
        """Pick the float type from every magnitude the layer's floats hold."""
        self.layer, self.pooled = layer, pooled
        need = pot_bound if pooled else max(pot_bound, _Activation.bound(layer, pot_bound))
        #: None when only integers are exact: the model is then not run on the grid.
        self.dtype = exact_float(need)
        self.act = (None if pooled or self.dtype is None
                    else _Activation.plan(layer, self.dtype))

    def _weights(self, w):
        """``(F, K)`` integer weights as ``dtype``, with a last column ``-shift`` when the
        layer activates: its inputs then end with a row of ones, so that the product
        subtracts the shift (one pass fewer; exact, as the bound includes the shift)."""
        wt = w.astype(self.dtype)
        if self.act is None:
            return wt
        return np.concatenate([wt, -self.act.shift], axis=1)

    def _inputs(self, rows, n):
        """Zeroed ``(rows, row(n))`` product inputs, plus the row of ones of the shift."""
        a = np.zeros((rows + (self.act is not None), self.geo.row(n)), self._in_dtype)
        if self.act is not None:
            a[rows] = 1
        return a


class _InputConv(_Stage):
    """InputConvolutional without pooling, straight into the grid."""

    def __init__(self, layer, geo):
        self.geo = geo
        kx, ky, C, F = layer._vars["weights"].shape
        w = layer._vars["weights"].astype(np.int64)
        # Every partial sum of the product is within 255 times the largest column of |w|.
        self._choose(layer, 255 * int(np.abs(w).sum(axis=(0, 1, 2)).max(initial=0)))
        if self.dtype is not None:
            self._in_dtype = self.dtype
            self.wt = self._weights(w.reshape(kx * ky * C, F).T)   # (F, K), K as (i, j, c)

    def run(self, x):
        """Potentials ``(F, row(n))`` of uint8 images ``x`` (n, X, Y, C)."""
        layer, geo = self.layer, self.geo
        n = x.shape[0]
        kx, ky, C, _ = layer._vars["weights"].shape
        sx, sy = layer.kernel_stride
        out, pads = ops.conv_geometry(x.shape[1:3], (kx, ky), (sx, sy), layer._same)
        xp = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)),
                    constant_values=layer.padding_value).astype(self.dtype)
        # Columns of the grid's zero rows must be finite (they are masked after the
        # activation); zero is the cheapest.
        cols = self._inputs(kx * ky * C, n)
        cells = geo.cell_view(cols, n)
        for i in range(kx):
            for j in range(ky):
                k = (i * ky + j) * C
                win = xp[:, i:i + out[0] * sx:sx, j:j + out[1] * sy:sy, :]
                cells[k:k + C] = win.transpose(3, 0, 1, 2)
        return self.wt @ cols


class _Separable(_Stage):
    """SeparableConvolutional, stride 1, 'Same', no pooling or global (last) pooling."""

    def __init__(self, layer, geo, in_max):
        self.geo = geo
        wd = layer._vars["weights"].astype(np.int64)
        kx, ky, C, _ = wd.shape
        dbound = in_max * int(np.abs(wd).sum(axis=(0, 1)).max(initial=0))
        self.acc_dtype = np.int16 if dbound < (1 << 15) else np.int32
        self._in_dtype = self.acc_dtype
        wpw = layer._vars["weights_pw"][0, 0].astype(np.int64)
        pot_bound = max(dbound, dbound * int(np.abs(wpw).sum(axis=0).max(initial=0)))
        self._choose(layer, pot_bound, pooled=layer.pool_type != 0)
        if self.dtype is not None:
            self.wt = self._weights(wpw.T)                        # (F, C)
        # True convolution: tap (i, j) reads the input cell (x + i - px, y + j - py) with
        # the flipped weight; all-zero taps are skipped.
        px, py = (kx - 1) // 2, (ky - 1) // 2
        taps = [((i - px) * geo.Yp + (j - py), j - py,
                 wd[kx - 1 - i, ky - 1 - j, :, 0].astype(self.acc_dtype)[:, None])
                for i in range(kx) for j in range(ky)]
        self.taps = [(o, dj, t) for o, dj, t in taps if t.any()]

    def run(self, z, n):
        """Potentials ``(F, row(n))`` from the grid ``z`` of ``C`` rows."""
        C = self.layer.input_dims[2]
        acc_all = self._inputs(C, n)
        acc = acc_all[:C]
        tmp = np.empty_like(acc)
        grids = {dj: z if dj == 0 else self.geo.column_masked(z, C, n, dj)
                 for dj in {dj for _, dj, _ in self.taps}}
        for k, (off, dj, tap) in enumerate(self.taps):
            # The first tap writes the sum itself: one pass fewer than adding to zeros.
            np.multiply(self.geo.shifted(grids[dj], C, n, off), tap,
                        out=acc if k == 0 else tmp)
            if k:
                acc += tmp
        return self.wt @ acc_all.astype(self.dtype)


def _grid_layers(layers):
    """``(input conv, separable run, rest)`` when the model starts the way grid needs."""
    from .layers import InputConvolutional, PoolType, SeparableConvolutional
    if not layers or not isinstance(layers[0], InputConvolutional) \
            or layers[0].pool_type != PoolType.NoPooling or not layers[0].activation:
        return None
    run = []
    for layer in layers[1:]:
        if not (isinstance(layer, SeparableConvolutional) and layer._same
                and layer.kernel_stride == (1, 1) and layer.activation
                and layer.pool_type in (PoolType.NoPooling, PoolType.Average)):
            break
        run.append(layer)
        if layer.pool_type == PoolType.Average:
            break
    if not run:
        return None
    return layers[0], run, layers[1 + len(run):]


class GridPlan:
    """What :meth:`run` needs for one forward call, all bounds checked up front."""

    def __init__(self, first, seps, rest):
        X, Y = first.output_dims[:2]
        gx = max((l.kernel_size[0] - 1) // 2 for l in seps)
        gy = max((l.kernel_size[1] - 1) // 2 for l in seps)
        self.geo = _Geometry(X, Y, gx, gy)
        self.first = _InputConv(first, self.geo)
        self.seps = [_Separable(layer, self.geo, (1 << layer.input_bits) - 1)
                     for layer in seps]
        self.rest = rest
        self.ok = all(s.dtype is not None for s in [self.first, *self.seps])

    @staticmethod
    def build(layers):
        """A plan for ``layers``, or None when they do not start with a grid-able run
        or some bound needs integers."""
        parts = _grid_layers(layers)
        if parts is None:
            return None
        plan = GridPlan(*parts)
        return plan if plan.ok else None

    def _activate(self, stage, pot, n, C):
        """Spikes of ``pot`` into a fresh zero-margined grid (int16, exact for <= 4 bits)."""
        z, rows = self.geo.new_grid(C, n)
        stage.act.apply(pot, self.geo.valid(n, np.int16), rows)
        return z

    def run(self, x):
        """Outputs of the whole model for one chunk of inputs."""
        n = x.shape[0]
        pot = self.first.run(x)
        z = self._activate(self.first, pot, n, pot.shape[0])
        for stage in self.seps:
            pot = stage.run(z, n)
            if stage.pooled:
                out = stage.layer.activate(self._global_sum(pot, n))
                break
            z = self._activate(stage, pot, n, pot.shape[0])
        else:
            C = pot.shape[0]
            cells = self.geo.cell_view(self.geo.shifted(z, C, n, 0), n)
            out = np.ascontiguousarray(cells.transpose(1, 2, 3, 0)).astype(np.uint8)
        for layer in self.rest:
            out = layer.call(out)
        return out

    def _samples(self, a, n):
        """``(F, n, cells)`` view of a ``(F, row(n))`` array."""
        return a[:, :n * self.geo.cells].reshape(a.shape[0], n, self.geo.cells)

    def _global_sum(self, pot, n):
        """:func:`ops.global_sum_saturating` of the feature-map cells of ``pot`` (F, L).

        Every prefix sum of a channel lies between the sum of its negative and the sum of
        its positive potentials; where those stay in the 20-bit range the plain sum is
        the answer, and is exact (no partial sum, in any order, is larger). The other
        channels take the saturating sum in C order of the cells.
        """
        geo = self.geo
        F = pot.shape[0]
        # Sums over each sample's feature-map cells as products with a 0/1 vector: one
        # pass (BLAS gemv per channel) instead of a masking pass and a strided reduction.
        sel = geo.valid(1, pot.dtype)[:geo.cells]
        total = (self._samples(pot, n) @ sel).astype(np.float64)
        mag = (self._samples(np.abs(pot), n) @ sel).astype(np.float64)
        # mag + total = 2 * (positive part), mag - total = -2 * (negative part). A
        # magnitude sum too large for exact floats is also far beyond 2 * POT_MAX, so the
        # rounded sums still flag it.
        risky = (mag + total > 2 * POT_MAX) | (mag - total > 2 * (POT_MAX + 1))
        out = total.astype(np.int64)
        if risky.any():
            f, s = np.nonzero(risky)
            steps = geo.cell_view(pot, n)[f, s].reshape(len(f), -1).astype(np.int64)
            out[f, s] = ops.clamped_sum(steps, -POT_MAX - 1, POT_MAX)
        return out.T.reshape(n, 1, 1, F)
