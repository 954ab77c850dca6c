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
tiny per-sample arrays this sequential rule works on. The winners of a chunk of
samples are first computed at once, from packed uint64 words, for the neurons each
sample may choose from only; the potentials ``fit`` returns are rebuilt afterwards from
the record of weight changes (:class:`~edgekws.golden.fit_history.FitHistory`).
"""
from __future__ import annotations

import math
import threading
from bisect import bisect_right
from dataclasses import dataclass, field
from heapq import heappop, heappush

import numpy as np

from edgekws.checks import check_int

from .fit_history import FitHistory, ints_from_words, pack_words, unpack_words, words_from_ints
from .lazy_array import LazyArray

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

#: Samples whose winners :func:`learn` computes at once from the chunk-start weights;
#: after a weight change, the later samples of the chunk that may choose the changed
#: neuron are decided one by one, so the cost per change grows with the chunk, and the
#: fixed cost of the vectorised pass shrinks with it.
_CHUNK = 256


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


#: :func:`_plan` results by ``(n, s, offset)``; a handful of keys cover a whole fit.
_PLANS: dict[tuple[int, int, int], tuple[tuple[int, ...], int]] = {}
_MAX_PLANS = 1 << 16


def _plan(n: int, s: int, offset: int) -> tuple[tuple[int, ...], int]:
    """:func:`spread_select` of ``s`` of ``n``, remembered: the picks and the new offset."""
    key = (n, s, offset)
    plan = _PLANS.get(key)
    if plan is None:
        picks, new_offset = spread_select(n, s, offset)
        if len(_PLANS) >= _MAX_PLANS:
            _PLANS.clear()
        plan = _PLANS[key] = (tuple(picks), new_offset)
    return plan


# The set bits of each byte value as single-bit masks, ascending, shifted to each byte of
# a word: table k holds byte k's (grown on demand).
_BYTE_LOWS = [tuple(1 << i for i in range(8) if b >> i & 1) for b in range(256)]
_LOW_TABLES: list[list[tuple[int, ...]]] = []
_LOW_TABLES_LOCK = threading.Lock()  # fits in two threads must not grow them twice


def _low_tables(nbytes: int) -> list[list[tuple[int, ...]]]:
    if len(_LOW_TABLES) < nbytes:
        with _LOW_TABLES_LOCK:
            while len(_LOW_TABLES) < nbytes:
                shift = 8 * len(_LOW_TABLES)
                _LOW_TABLES.append([tuple(v << shift for v in lows) for lows in _BYTE_LOWS])
    return _LOW_TABLES


def _pick_bits(bits: int, n: int, s: int, offset: int) -> tuple[int, int]:
    """The ``s`` spread-selected of the ``n`` set bits of ``bits``, and the new offset."""
    if s == n:
        return bits, 1  # groups of one: every bit, and the offset ends at 1
    picks, offset = _plan(n, s, offset)
    nbytes = (bits.bit_length() + 7) // 8
    lows: list[int] = []  # the set bits as single-bit masks, ascending
    # A byte at a time through the tables: half the time of a loop over the bits.
    for table, b in zip(_low_tables(nbytes), bits.to_bytes(nbytes, "little")):
        if b:
            lows += table[b]
    return sum([lows[i] for i in picks]), offset


def _swap(w: int, r_bits: int, a_bits: int, nr: int, na: int, s: int, offset: int
          ) -> tuple[int, int]:
    """Remove ``s`` spread-selected of the ``nr`` R connections, add ``s`` of the ``na`` A
    ones (one learning step). The offset runs on from the R picks to the A picks, as in
    the engine.
    """
    remove, offset = _pick_bits(r_bits, nr, s, offset)
    add, offset = _pick_bits(a_bits, na, s, offset)
    return (w & ~remove) | add, offset


def _check_labels(labels, n: int, num_classes: int) -> np.ndarray:
    """One int64 label per sample, checked."""
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
    return lab.astype(np.int64)


def learn(params: LearningParams, state: LearningState, spikes, labels=-1, *,
          lazy: bool = False) -> "np.ndarray | LazyArray":
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
    lazy : bool
        Return a :class:`~edgekws.golden.lazy_array.LazyArray` that builds the potentials
        when first read (from the record of the weight changes) instead of the ndarray.

    Returns
    -------
    ndarray or LazyArray, (n, N) int32
        Each sample's potentials before its own update, as the engine's ``fit`` returns.
    """
    history = _learn(params, state, spikes, labels)
    if lazy:
        shape = (history.spikes.shape[0], history.weights.shape[0])
        return LazyArray(shape, np.int32, history.potentials)
    return history.potentials()


def _popcounts(words: np.ndarray) -> np.ndarray:
    """Set bits of each vector of packed words (the last axis)."""
    counts = np.bitwise_count(words)
    if counts.shape[-1] == 1:
        return counts[..., 0]
    return counts.sum(axis=-1, dtype=np.int32)


def _winners(pots: np.ndarray, thl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the highest potential above its neuron's threshold_learning (-1 if none),
    and its column (the first of equals)."""
    score = pots.astype(np.int32)  # potential + 1 where eligible, else 0
    score += 1
    score *= pots > thl
    return score.max(axis=1) - 1, score.argmax(axis=1)


def _chunk_winners(w_words: np.ndarray, x_words: np.ndarray, cls: np.ndarray,
                   unblocked: np.ndarray, thl: np.ndarray, K: int, m: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Each sample's best potential and winner against the given weights (-1, -1 if none).

    With several classes, a sample only looks at its class's ``m`` neurons (``cls``), so
    only those potentials are computed; the ``unblocked`` rows (label -1) look at all.
    """
    if K == 1:
        best, win = _winners(_popcounts(w_words[None] & x_words[:, None]), thl[None])
    else:
        best, col = _winners(_popcounts(w_words.reshape(K, m, -1)[cls] & x_words[:, None]),
                             thl.reshape(K, m)[cls])
        win = cls * m + col
        if unblocked.size:
            best[unblocked], win[unblocked] = _winners(
                _popcounts(w_words[None] & x_words[unblocked, None]), thl[None])
    win[best < 0] = -1
    return best, win


def _learn(params: LearningParams, state: LearningState, spikes, labels=-1) -> FitHistory:
    """The rule itself: updates ``state``; returns what rebuilds the potentials."""
    x = np.asarray(spikes)
    F, N = state.weights.shape
    if x.ndim != 2 or x.shape[1] != F:
        raise ValueError(f"spikes must have shape (n, {F}), not {x.shape}")
    if x.size and ((x.dtype.kind not in "bu" and x.min() < 0) or x.max() > 1):
        raise ValueError("learning needs binary (1-bit) inputs: found values up to "
                         f"{x.max()}")
    n = x.shape[0]
    K = params.num_classes
    if N % K:
        raise ValueError(f"{N} neurons cannot be split evenly into {K} classes")
    m = N // K
    lab_arr = _check_labels(labels, n, K)
    lab = lab_arr.tolist()

    x_words = pack_words(x)
    xs = ints_from_words(x_words)
    w_words = pack_words(state.weights.T)  # in step with ws at each chunk start
    start_words = w_words.copy()
    nw = w_words.shape[1]
    ws = ints_from_words(w_words)
    thl = [int(v) for v in state.threshold_learning]
    thl_np = np.array(thl, np.int32)  # in step with thl
    thswap = [int(v) for v in state.thswap]
    offset = int(state.offset)
    decay, thswap_min, cap = params.decay, params.thswap_min, params.thl_cap
    changes: list[tuple[int, int, int]] = []  # (sample, neuron, new weights), in order

    # A sample chooses among its group's neurons: its class's block, or all neurons for
    # the group K of unblocked samples (label -1, or a single class). The samples of
    # each chunk and group, ascending, are members[ends[key]:ends[key + 1]] with
    # key = chunk * (K + 1) + group: one stable sort for the whole run.
    blocked = K > 1
    group = np.where(lab_arr >= 0, lab_arr, K) if blocked else np.full(n, K, np.int64)
    key = np.arange(n) // _CHUNK * (K + 1) + group
    # Small integer keys sort in linear time (radix sort).
    small = np.uint16 if n // _CHUNK * (K + 1) + K < 1 << 16 else np.int64
    members = np.argsort(key.astype(small), kind="stable").tolist()
    ends = [0] + np.cumsum(np.bincount(key, minlength=1)).tolist()
    ends += [ends[-1]] * (K + 1)  # keys of groups after the last sample
    cls = np.maximum(lab_arr, 0)
    unblocked = np.flatnonzero(lab_arr < 0) if blocked else np.zeros(0, np.int64)
    unblocked_at = np.searchsorted(unblocked, np.arange(0, n + _CHUNK, _CHUNK)).tolist()

    for c, c0 in enumerate(range(0, n, _CHUNK)):
        c1 = min(n, c0 + _CHUNK)
        # Winner of every sample from the chunk-start weights and thresholds, in one
        # vectorised pass. It stays exact for a sample as long as no neuron of its group
        # has learned since; once some have, only those few are re-evaluated.
        pre_best, pre_win = _chunk_winners(
            w_words, x_words[c0:c1], cls[c0:c1],
            unblocked[unblocked_at[c]:unblocked_at[c + 1]] - c0, thl_np, K, m)
        # Only two kinds of sample need the sequential rule: those with a winner at the
        # chunk start, and the later samples of a group once one of its neurons learned.
        # The other samples of the chunk are never touched in Python.
        visit = (np.flatnonzero(pre_best >= 0) + c0).tolist()  # ascending: a heap
        pre_best = pre_best.tolist()
        pre_win = pre_win.tolist()
        learned: dict[int, list[int]] = {}  # group -> its neurons that learned in the chunk
        key0 = c * (K + 1)
        last = -1
        while visit:
            t = heappop(visit)
            if t == last:
                continue
            last = t
            label = lab[t]
            g = label if blocked and label >= 0 else K
            xv = xs[t]
            best, win = pre_best[t - c0], pre_win[t - c0]
            new = learned.get(g)
            if new:
                if win in new:  # the chunk-start winner changed: all candidates again
                    lo, hi = (label * m, label * m + m) if g < K else (0, N)
                    best, win = -1, -1
                    for j in range(lo, hi):
                        pj = (xv & ws[j]).bit_count()
                        if pj > thl[j] and pj > best:
                            best, win = pj, j
                else:  # the other neurons' potentials and thresholds are as they were
                    for j in new:
                        pj = (xv & ws[j]).bit_count()
                        if pj > thl[j] and (pj > best or pj == best and j < win):
                            best, win = pj, j
                if win < 0:
                    continue
            w = ws[win]
            r_bits = w & ~xv
            a_bits = xv & ~w
            nr, na = r_bits.bit_count(), a_bits.bit_count()
            s = nr if nr < na else na
            if thswap[win] < s:
                s = thswap[win]
            if s > 0:
                w, offset = _swap(w, r_bits, a_bits, nr, na, s, offset)
                ws[win] = w
                thl[win] = thl_np[win] = min(best, cap)
                changes.append((t, win, w))
                for gg in ((win // m, K) if blocked else (K,)):
                    new = learned.get(gg)
                    if new is None:
                        learned[gg] = [win]
                        mem = members[ends[key0 + gg]:ends[key0 + gg + 1]]
                        for later in mem[bisect_right(mem, t):]:
                            heappush(visit, later)
                    elif win not in new:
                        new.append(win)
            thswap[win] = max(thswap[win] - decay, thswap_min)
        if K in learned:  # every neuron that learned is in group K's list
            w_words[learned[K]] = words_from_ints([ws[j] for j in learned[K]], nw)

    state.weights = np.ascontiguousarray(unpack_words(w_words, F).T)
    state.threshold_learning = np.asarray(thl, np.int32)
    state.thswap = np.asarray(thswap, np.int32)
    state.offset = offset
    return FitHistory(num_inputs=F, spikes=x_words, weights=start_words,
                      change_sample=np.array([c[0] for c in changes], np.int64),
                      change_neuron=np.array([c[1] for c in changes], np.int64),
                      change_weights=words_from_ints([c[2] for c in changes], nw))


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
