"""Akida 1.0 native learning rule (AkidaUnsupervised) as pure functions.

This module holds the *rule* only: integer parameters, the per-layer learning state
and :func:`learn`, which processes spike vectors one by one exactly as the Akida
Execution Engine does (``../shared/akida-v1-semantics.md`` §6). :class:`~edgekws.golden.Model`
wraps it behind the akida-style ``compile``/``fit``/``add_classes`` API, and the
gateware testbenches call it directly after every learning step.

Weights are held as a ``(F, N)`` array of 0/1 (F inputs in the FullyConnected flatten
order, N neurons). Internally each neuron's weights and each sample are Python
integers used as bit sets (bit ``i`` = input ``i``): popcounts and the R/A lists of a
single sample cost a few integer operations whatever F is, which beats numpy on the
tiny per-sample arrays this sequential rule works on.
"""
from __future__ import annotations

import math
import mmap
import threading
from dataclasses import dataclass, field
from heapq import heappop, heappush

import numpy as np
from threadpoolctl import threadpool_limits

from edgekws.checks import check_int

__all__ = [
    "DEFAULT_MIN_PLASTICITY",
    "MAX_LEARNING_NEURONS",
    "LearningParams",
    "LearningState",
    "spread_select",
    "random_weights",
    "learn",
    "add_classes",
]

#: The engine's default ``min_plasticity`` is the float32 value 0.1, seen as a double.
DEFAULT_MIN_PLASTICITY = float(np.float32(0.1))


#: Most neurons a learning layer may grow to with :func:`add_classes`, checked before
#: allocating: 64 times the board's 1,024, and 16 MB of weights per 256 inputs.
MAX_LEARNING_NEURONS = 1 << 16

#: Samples per block of the potential matmul in :func:`learn`; patches after a weight
#: change cost O(chunk), the matmul's fixed cost is paid once per chunk.
_CHUNK = 128


def _round_half_away(x: float) -> int:
    """C's ``std::round``: halves go away from zero (Python's ``round`` goes to even)."""
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def _check_fraction(name: str, value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, not {value!r}") from None
    if not (0.0 <= v <= 1.0):
        raise ValueError(f"{name} must be between 0 and 1, not {value!r}")
    return v


@dataclass(frozen=True)
class LearningParams:
    """The AkidaUnsupervised optimizer arguments and the integers derived from them.

    Build with :meth:`create`, which applies the engine's defaults and derivations.

    Attributes
    ----------
    thswap_init : int
        ``round(initial_plasticity * num_weights)``, halves away from zero.
    decay : int
        ``ceil(plasticity_decay * thswap_init)``: thswap drops by this at each learning event.
    thswap_min : int
        ``ceil(min_plasticity * num_weights)``.
    thl_cap : int
        ``round((1 - learning_competition) * num_weights)``: cap of ``threshold_learning``.
    """

    num_weights: int
    num_classes: int
    initial_plasticity: float
    learning_competition: float
    min_plasticity: float
    plasticity_decay: float
    thswap_init: int = field(init=False)
    decay: int = field(init=False)
    thswap_min: int = field(init=False)
    thl_cap: int = field(init=False)

    def __post_init__(self):
        for name in ("num_weights", "num_classes"):
            object.__setattr__(self, name, check_int(name, getattr(self, name)))
        k = self.num_weights
        for name in ("initial_plasticity", "learning_competition", "min_plasticity",
                     "plasticity_decay"):
            object.__setattr__(self, name, _check_fraction(name, getattr(self, name)))
        thswap_init = _round_half_away(self.initial_plasticity * k)
        object.__setattr__(self, "thswap_init", thswap_init)
        object.__setattr__(self, "decay", math.ceil(self.plasticity_decay * thswap_init))
        object.__setattr__(self, "thswap_min", math.ceil(self.min_plasticity * k))
        object.__setattr__(self, "thl_cap",
                           _round_half_away((1.0 - self.learning_competition) * k))

    @classmethod
    def create(cls, num_weights, num_classes=1, initial_plasticity=1.0,
               learning_competition=0.0, min_plasticity=DEFAULT_MIN_PLASTICITY,
               plasticity_decay=0.25) -> "LearningParams":
        """Parameters with the engine's defaults (``akida.AkidaUnsupervised``)."""
        return cls(num_weights, num_classes, initial_plasticity, learning_competition,
                   min_plasticity, plasticity_decay)

    def with_classes(self, num_classes: int) -> "LearningParams":
        """The same parameters for another class count (used by :func:`add_classes`)."""
        return LearningParams(self.num_weights, num_classes, self.initial_plasticity,
                              self.learning_competition, self.min_plasticity,
                              self.plasticity_decay)

    def to_dict(self) -> dict:
        """The optimizer arguments (the derived integers follow from them)."""
        return {k: getattr(self, k) for k in (
            "num_weights", "num_classes", "initial_plasticity", "learning_competition",
            "min_plasticity", "plasticity_decay")}


def spread_select(n: int, s: int, offset: int) -> tuple[list[int], int]:
    """Pick ``s`` of ``n`` ascending candidates, one in each of ``s`` contiguous groups.

    The groups are as equal as possible, the larger ones first; the position inside a
    group is the running ``offset`` (wrapped to the group size), which advances by one
    per pick. Returns the picked positions and the new offset.
    """
    if s <= 0 or s > n:
        raise ValueError(f"spread_select needs 0 < s <= n, not s={s!r}, n={n!r}")
    q, r = divmod(n, s)
    start = 0
    picks = []
    o = offset
    for j in range(s):
        size = q + 1 if j < r else q
        if o >= size:
            o %= size
        picks.append(start + o)
        o += 1
        start += size
    return picks, o


@dataclass
class LearningState:
    """What a learning FullyConnected layer remembers between samples.

    Attributes
    ----------
    weights : ndarray, (F, N) uint8
        Binary weights, F inputs in FullyConnected flatten order, N neurons.
    threshold_learning : ndarray, (N,) int32
        The potential at each neuron's last effective learning step (capped).
    thswap : ndarray, (N,) int32
        The number of swaps each neuron may make at its next learning step.
    offset : int
        The layer's spread-selection counter, shared by all neurons.
    """

    weights: np.ndarray
    threshold_learning: np.ndarray
    thswap: np.ndarray
    offset: int = 0

    @classmethod
    def initial(cls, params: LearningParams, weights: np.ndarray) -> "LearningState":
        """The state right after ``compile``: thl 0, thswap at its initial value."""
        weights = check_binary_weights(weights)
        n = weights.shape[1]
        return cls(weights=weights,
                   threshold_learning=np.zeros(n, np.int32),
                   thswap=np.full(n, params.thswap_init, np.int32),
                   offset=0)

    def copy(self) -> "LearningState":
        return LearningState(self.weights.copy(), self.threshold_learning.copy(),
                             self.thswap.copy(), self.offset)


def check_binary_weights(weights) -> np.ndarray:
    """Validate a ``(F, N)`` array of 0/1 and return it as uint8."""
    w = np.asarray(weights)
    if w.ndim != 2:
        raise ValueError(f"binary weights must have shape (inputs, neurons), not {w.shape}")
    if w.size and (w.min() < 0 or w.max() > 1):
        raise ValueError("binary weights must be 0 or 1, found values in "
                         f"[{w.min()}, {w.max()}]")
    return w.astype(np.uint8)


def random_weights(num_inputs: int, num_neurons: int, num_weights: int,
                   rng: np.random.Generator | int | None = None) -> np.ndarray:
    """``(num_inputs, num_neurons)`` 0/1 weights with exactly ``num_weights`` ones per neuron.

    Unlike the engine, the placement is reproducible: pass a seed or a Generator.
    """
    if num_weights > num_inputs:
        raise ValueError(f"num_weights ({num_weights}) cannot exceed the number of "
                         f"inputs ({num_inputs})")
    rng = np.random.default_rng(rng)
    # argsort of uniform keys gives an independent random permutation per neuron.
    order = np.argsort(rng.random((num_neurons, num_inputs)), axis=1)[:, :num_weights]
    w = np.zeros((num_neurons, num_inputs), np.uint8)
    np.put_along_axis(w, order, 1, axis=1)
    return np.ascontiguousarray(w.T)


def _bitsets_from_rows(rows: np.ndarray) -> list[int]:
    """Each row of 0/1 as a Python int, bit ``i`` = element ``i``."""
    packed = np.packbits(rows.astype(np.uint8, copy=False), axis=1, bitorder="little")
    if packed.shape[1] <= 8:
        # Up to 64 inputs: one little-endian uint64 per row, and tolist() makes the ints
        # in C (ten times faster than int.from_bytes per row on 94,000 rows).
        words = np.zeros((packed.shape[0], 8), np.uint8)
        words[:, :packed.shape[1]] = packed
        return words.view("<u8")[:, 0].tolist()
    return [int.from_bytes(r.tobytes(), "little") for r in packed]


def _large_empty(shape, dtype) -> np.ndarray:
    """A large zeroed array whose pages are faulted in by one ``mmap(MAP_POPULATE)`` call.

    ``fit`` returns every sample's potentials (186 MB for the tutorial's 94,000 x 495),
    and first-touching that many pages one fault at a time cost more than the learning
    itself. Measured with ``fit`` of 94,000 samples after a 1 s pause, as ``make bench``
    times it (3 runs each, twice): MAP_POPULATE 0.42-0.58 s, transparent huge pages
    (MADV_HUGEPAGE, which defrag=madvise compacts for on the fault path) 0.70-0.88 s,
    plain ``np.empty`` 0.48-1.07 s.
    """
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    flags = getattr(mmap, "MAP_POPULATE", 0)
    if nbytes < (8 << 20) or not flags:
        return np.empty(shape, dtype)
    buf = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | flags)
    return np.frombuffer(buf, dtype).reshape(shape)


#: Outputs from this size on are allocated by a second thread (see :class:`_Output`).
_OUTPUT_THREAD_BYTES = 8 << 20


class _Output:
    """The ``(n, N)`` int32 potentials that ``fit`` returns, allocated beside the rule.

    Faulting in a large output (186 MB for the tutorial's 94,000 x 495, see
    :func:`_large_empty`) is one system call that releases the GIL: a second thread makes
    it while the sequential rule runs, and the chunks finished meanwhile wait in a list.
    The thread never needs the GIL back, as a thread copying the chunks would after
    every copy (and the rule would then stall at each hand-over on a busy machine).
    Small outputs are allocated at once.
    """

    def __init__(self, shape):
        self._array = self._ready = self._error = self._thread = None
        self._pending: list[tuple[int, np.ndarray]] = []
        if int(np.prod(shape)) * 4 < _OUTPUT_THREAD_BYTES:
            self._array = np.empty(shape, np.int32)
            return
        self._thread = threading.Thread(target=self._allocate, args=(shape,), daemon=True,
                                        name="edgekws-fit-output")
        self._thread.start()

    def _allocate(self, shape):
        try:
            self._ready = _large_empty(shape, np.int32)
        except BaseException as exc:  # raised by put() or result() in the caller's thread
            self._error = exc

    def _take(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        self._array = self._ready
        for start, values in self._pending:
            self._array[start:start + len(values)] = values
        self._pending = []

    def put(self, start: int, values: np.ndarray) -> None:
        """Rows ``start:start + len(values)`` (exact integers in float32); not copied."""
        if self._array is None:
            if self._thread.is_alive():
                self._pending.append((start, values))
                return
            self._take()
        self._array[start:start + len(values)] = values

    def result(self) -> np.ndarray:
        """The whole output (the allocation's error, if it failed)."""
        if self._array is None:
            self._take()
        return self._array


def _bits_to_matrix(bitsets: list[int], F: int, nbytes: int) -> np.ndarray:
    """Inverse of :func:`_bitsets_from_rows`, transposed: ``(F, len(bitsets))`` 0/1."""
    raw = np.frombuffer(b"".join(w.to_bytes(nbytes, "little") for w in bitsets), np.uint8)
    bits = np.unpackbits(raw.reshape(len(bitsets), nbytes), axis=1, bitorder="little")
    return np.ascontiguousarray(bits[:, :F].T)


# Ascending set-bit positions of each byte value, pre-offset for each byte of a word.
_BYTE_BITS = [tuple(i for i in range(8) if (b >> i) & 1) for b in range(256)]
_POS_TABLES: list[list[tuple[int, ...]]] = []


def _pos_tables(nbytes: int) -> list[list[tuple[int, ...]]]:
    """The byte tables of the first ``nbytes`` bytes of a word."""
    while len(_POS_TABLES) < nbytes:
        base = 8 * len(_POS_TABLES)
        _POS_TABLES.append([tuple(base + i for i in bits) for bits in _BYTE_BITS])
    return _POS_TABLES


def _bit_positions(v: int) -> list[int]:
    """Ascending positions of the set bits of ``v`` (byte tables: 2x a bit loop)."""
    tables = _pos_tables((v.bit_length() + 7) // 8)
    out: list[int] = []
    k = 0
    while v:
        byte = v & 255
        if byte:
            out += tables[k][byte]
        v >>= 8
        k += 1
    return out


def _picks(pos: list[int], s: int, offset: int) -> tuple[int, int]:
    """:func:`spread_select` of ``s`` of ``pos`` as one bit mask, and the new offset.

    Inside a run of equal groups of size ``S`` the sequential offset is
    ``(offset + j) % S`` (it is only wrapped when it reaches ``S``, and then it is exactly
    ``S``), so each pick is computed directly: ``s`` independent terms instead of a loop
    with a branch.
    """
    q, r = divmod(len(pos), s)
    mask = 0
    start = 0
    for size, count in ((q + 1, r), (q, s - r)):
        if count:
            mask |= sum([1 << pos[start + j * size + (offset + j) % size]
                         for j in range(count)])
            offset = (offset + count - 1) % size + 1
            start += count * size
    return mask, offset


def _swap(w: int, r_bits: int, a_bits: int, s: int, offset: int) -> tuple[int, int]:
    """Remove ``s`` spread-selected R connections, add ``s`` A ones (one learning step).

    The offset runs on from the R picks to the A picks, as in the engine.
    """
    remove, offset = _picks(_bit_positions(r_bits), s, offset)
    add, offset = _picks(_bit_positions(a_bits), s, offset)
    return (w & ~remove) | add, offset


def _check_labels(labels, n: int, num_classes: int) -> list[int]:
    lab = np.asarray(labels)
    if lab.dtype.kind not in "iu":
        raise TypeError(f"labels must be integers, not {lab.dtype}")
    if lab.ndim == 0:
        lab = np.full(n, int(lab))
    lab = lab.reshape(-1)
    if lab.shape[0] != n:
        raise ValueError(f"got {lab.shape[0]} labels for {n} samples: give one label "
                         "per sample or a single label for all")
    if lab.size and lab.min() < -1:
        raise ValueError(f"label {int(lab.min())} is out of range: labels are 0..{num_classes - 1}"
                         ", or -1 for any neuron (the board refuses the others)")
    if num_classes > 1 and lab.size and lab.max() >= num_classes:
        raise ValueError(f"label {int(lab.max())} is out of range: the layer has "
                         f"{num_classes} classes (labels 0..{num_classes - 1}, or -1 "
                         "for any neuron)")
    return [int(v) for v in lab]


def learn(params: LearningParams, state: LearningState, spikes, labels=-1) -> np.ndarray:
    """Learn from ``spikes`` one sample at a time, in order (AkidaUnsupervised ``fit``).

    Parameters
    ----------
    params : LearningParams
    state : LearningState
        Updated in place.
    spikes : array_like, (n, F) of 0/1
        Binary input vectors in FullyConnected flatten order.
    labels : int or array_like of int
        One label per sample or one for all; ``-1`` lets any neuron learn. Ignored when
        the layer has a single class.

    Returns
    -------
    ndarray, (n, N) int32
        Each sample's potentials before its own update, as the engine's ``fit`` returns.
    """
    # The chunk matmuls are small: BLAS threads only add hand-off cost (measured 2x).
    with threadpool_limits(limits=1, user_api="blas"):
        return _learn(params, state, spikes, labels)


def _learn(params: LearningParams, state: LearningState, spikes, labels=-1) -> np.ndarray:
    x = np.asarray(spikes)
    F, N = state.weights.shape
    if x.ndim != 2 or x.shape[1] != F:
        raise ValueError(f"spikes must have shape (n, {F}), not {x.shape}")
    if x.size and (x.min() < 0 or x.max() > 1):
        raise ValueError("learning needs binary (1-bit) inputs: found values up to "
                         f"{x.max()}")
    n = x.shape[0]
    K = params.num_classes
    if N % K:
        raise ValueError(f"{N} neurons cannot be split evenly into {K} classes")
    m = N // K
    lab = _check_labels(labels, n, K)
    lab_arr = np.asarray(lab, np.int64).reshape(n)

    xs = _bitsets_from_rows(x)
    ws = _bitsets_from_rows(state.weights.T)
    thl = [int(v) for v in state.threshold_learning]
    thswap = [int(v) for v in state.thswap]
    offset = int(state.offset)
    decay, thswap_min, cap = params.decay, params.thswap_min, params.thl_cap
    pots = _Output((n, N))
    xf = x.astype(np.float32)  # exact: potentials are at most F < 2**24
    w_f32 = state.weights.astype(np.float32)  # kept in step with the bit sets
    nbytes = (F + 7) // 8
    for c0 in range(0, n, _CHUNK):
        c1 = min(n, c0 + _CHUNK)
        # Potentials of the whole chunk against the weights at its start; columns of
        # neurons that learn inside the chunk are patched below. The rule itself only
        # needs the candidate block, computed from the live bit sets.
        chunk_pots = xf[c0:c1] @ w_f32
        # Winner of every sample from the chunk-start weights and thresholds, in one
        # vectorised pass (eligible = pot > threshold_learning; highest pot; first index
        # on ties). It stays exact for a sample until a neuron of its block learns (the
        # block is then "dirty" and the sample is decided from the live bit sets).
        thl_now = np.asarray(thl, np.float32)
        lab_c = lab_arr[c0:c1]
        rows = np.arange(c1 - c0)
        unblocked = K == 1 or bool((lab_c < 0).any())
        if unblocked:  # label -1 or a single class: the best over all neurons
            masked = np.where(chunk_pots > thl_now, chunk_pots, np.float32(-1))
            win_all = masked.argmax(axis=1)
            best_all = masked[rows, win_all]
        if K > 1:
            # Only the label's block is masked: a K-fold smaller pass than the whole chunk.
            col = np.maximum(lab_c, 0)
            mine = chunk_pots.reshape(c1 - c0, K, m)[rows, col]  # (chunk, m)
            thl_mine = thl_now.reshape(K, m)[col]
            mine = np.where(mine > thl_mine, mine, np.float32(-1))
            win_blk = mine.argmax(axis=1)
            pre_best = mine[rows, win_blk].astype(np.int64)
            pre_win = col * m + win_blk
            if unblocked:
                pre_best = np.where(lab_c >= 0, pre_best, best_all.astype(np.int64))
                pre_win = np.where(lab_c >= 0, pre_win, win_all)
        else:
            pre_best, pre_win = best_all.astype(np.int64), win_all
        # Only two kinds of sample need the sequential rule: those with a winner at the
        # chunk start (``visit``), and those whose block (any block, for unblocked
        # labels) has changed since; the latter join the heap when their group first
        # changes. The other samples of the chunk are never touched in Python.
        group = np.where(lab_c >= 0, lab_c, K) if K > 1 else np.full(c1 - c0, K)
        visit = np.flatnonzero(pre_best >= 0).tolist()  # ascending: already a heap
        pre_best = pre_best.tolist()
        pre_win = pre_win.tolist()
        dirty = [False] * (K + 1)       # dirty[K]: the group of unblocked samples
        changed: list[tuple[int, int, int]] = []
        last = -1
        while visit:
            i = heappop(visit)
            if i == last:
                continue
            last = i
            t = c0 + i
            label = lab[t]
            blocked = K > 1 and label >= 0
            xv = xs[t]
            if not dirty[label if blocked else K]:
                best, win = pre_best[i], pre_win[i]
            else:
                lo, hi = (label * m, label * m + m) if blocked else (0, N)
                best, win = -1, -1
                for j in range(lo, hi):
                    pj = (xv & ws[j]).bit_count()
                    if pj > thl[j] and pj > best:
                        best, win = pj, j
                if win < 0:
                    continue
            w = ws[win]
            r_bits = w & ~xv
            a_bits = xv & ~w
            s = min(thswap[win], r_bits.bit_count(), a_bits.bit_count())
            if s > 0:
                w, offset = _swap(w, r_bits, a_bits, s, offset)
                ws[win] = w
                thl[win] = min(best, cap)
                changed.append((t, win, w))
                for g in (win // m, K):
                    if not dirty[g]:
                        dirty[g] = True
                        for later in (np.flatnonzero(group[i + 1:] == g) + (i + 1)).tolist():
                            heappush(visit, later)
            thswap[win] = max(thswap[win] - decay, thswap_min)
        if changed:
            # One matmul gives every changed neuron's potentials on the whole chunk; each
            # change then overwrites its neuron's column after its sample, in order, so
            # a later change of the same neuron wins for the samples after it.
            after = _bits_to_matrix([w for _, _, w in changed], F, nbytes).astype(np.float32)
            patch = xf[c0:c1] @ after
            for e, (t, j, _) in enumerate(changed):
                chunk_pots[t + 1 - c0:, j] = patch[t + 1 - c0:, e]
                w_f32[:, j] = after[:, e]
        pots.put(c0, chunk_pots)

    state.weights = _bits_to_matrix(ws, F, nbytes)
    state.threshold_learning = np.asarray(thl, np.int32)
    state.thswap = np.asarray(thswap, np.int32)
    state.offset = offset
    return pots.result()


def add_classes(params: LearningParams, state: LearningState, num_new: int,
                rng: np.random.Generator | int | None = None
                ) -> tuple[LearningParams, LearningState]:
    """Append ``num_new`` classes of ``N/K`` neurons each; old neurons are untouched.

    New neurons get ``num_weights`` random ones, ``threshold_learning = 0`` and
    ``thswap = thswap_init``; the offset counter is reset. The engine does exactly this
    (500/500 random runs, ``docs/learning.md``); its layer handles taken before
    ``add_classes`` go stale, which is what made it look inconsistent.
    """
    num_new = check_int("number of classes to add", num_new)
    F, N = state.weights.shape
    m = N // params.num_classes
    if N + int(num_new) * m > MAX_LEARNING_NEURONS:
        raise ValueError(f"cannot add {num_new!r} classes of {m} neurons to a layer of {N}: "
                         f"a learning layer has at most {MAX_LEARNING_NEURONS} neurons")
    extra = random_weights(F, int(num_new) * m, params.num_weights, rng)
    new_params = params.with_classes(params.num_classes + int(num_new))
    new_state = LearningState(
        weights=np.concatenate([state.weights, extra], axis=1),
        threshold_learning=np.concatenate(
            [state.threshold_learning, np.zeros(extra.shape[1], np.int32)]),
        thswap=np.concatenate(
            [state.thswap, np.full(extra.shape[1], params.thswap_init, np.int32)]),
        offset=0)
    return new_params, new_state
