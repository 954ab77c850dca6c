"""Streaming MFCC: each 20 ms hop's frame transformed once, the one-second window slid by a hop.

A host loop that recomputes :func:`~edgekws.data.mfcc.mfcc` on every one-second window
transforms each frame 49 times. :class:`StreamingMfcc` takes audio in chunks of any size,
computes the power spectrum of each hop's frame once, as soon as its 40 ms of samples are
in, and keeps the last 49: every hop completes a new window, equal to ``mfcc()`` of the
same second. The filterbank and DCT products run per window, on its 49 spectra: OpenBLAS
sums a product in an order that depends on its number of rows, so only a window-shaped
product gives ``mfcc()``'s features bit for bit (a product of the few new frames alone
differs in the last bits, visibly so in digital silence).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from edgekws.checks import check_int
from edgekws.data.mfcc import MfccParams, frames_to_power, power_to_mfcc

__all__ = ["StreamingMfcc", "chunk_samples"]


class StreamingMfcc:
    """MFCC windows of an audio stream, one per hop.

    Window ``k`` covers samples ``k * stride`` to ``k * stride + clip_samples`` of the
    stream, and equals ``mfcc(stream[k * stride:k * stride + clip_samples], params)``.

    Parameters
    ----------
    params : MfccParams, optional
        Front-end parameters; the defaults give 49 x 10 windows every 20 ms.
    every : int
        Return only the windows ``k`` that are multiples of ``every`` (one every ``every``
        hops): a listener that looks every 0.1 s needs no others, and their products cost
        more than their frames.

    Attributes
    ----------
    params : MfccParams
    windows_out : int
        Windows returned so far; the next one starts at sample
        ``windows_out * every * stride``.

    Examples
    --------
    >>> stream = StreamingMfcc()
    >>> stream.push(np.zeros(15_000, np.int16)).shape    # not a full second yet
    (0, 49, 10)
    >>> stream.push(np.zeros(1_000, np.int16)).shape     # 16,000 samples: window 0
    (1, 49, 10)
    >>> stream.push(np.zeros(3 * 320, np.int16)).shape   # three hops: windows 1 to 3
    (3, 49, 10)
    """

    def __init__(self, params: MfccParams | None = None, every: int = 1):
        if params is not None and not isinstance(params, MfccParams):
            raise TypeError(f"params must be an MfccParams, not {params!r}")
        self.every = check_int("every", every, expected="a positive number of hops")
        self.params = params or MfccParams()
        self.reset()

    def reset(self) -> None:
        """Forget the stream: the next sample pushed is sample 0."""
        p = self.params
        self._samples = np.zeros(0)      # from the start of the next frame to compute
        self._power = frames_to_power(np.zeros((0, p.window)), p)  # the last frames - 1
        self.windows_out = 0
        self._hops = 0                   # windows completed, returned or not

    def push(self, chunk) -> np.ndarray:
        """Append audio; the windows that it completed.

        Parameters
        ----------
        chunk : array_like
            1-D; int16 (scaled by 1/32768, as ``mfcc`` does) or float in [-1, 1]. Any
            length, including 0.

        Returns
        -------
        numpy.ndarray
            float32, ``(windows, frames, coefficients)``: one window per hop completed, in
            stream order. The first completes with the last sample of its last frame:
            sample ``clip_samples`` with the default parameters (the samples of a clip
            after its last frame, if any, do not change its features).
        """
        p = self.params
        x = chunk_samples(chunk)
        data = np.concatenate([self._samples, x])
        ready = 0 if len(data) < p.window else 1 + (len(data) - p.window) // p.stride
        power = self._power
        if ready:
            step = data.strides[0]
            frames = np.lib.stride_tricks.as_strided(
                data, (ready, p.window), (p.stride * step, step), writeable=False)
            power = np.concatenate([power, frames_to_power(frames, p)])
        self._samples = data[ready * p.stride:].copy()
        self._power = power[max(0, len(power) - (p.frames - 1)):].copy()
        if len(power) < p.frames:
            return np.zeros((0,) + p.shape, np.float32)
        windows = np.lib.stride_tricks.sliding_window_view(power, p.frames, axis=0)
        # Only the windows whose index is a multiple of `every`.
        first = -self._hops % self.every
        self._hops += len(windows)
        windows = windows[first::self.every]
        self.windows_out += len(windows)
        # sliding_window_view puts the window axis last: back to (windows, frames, bins).
        return power_to_mfcc(np.ascontiguousarray(windows.transpose(0, 2, 1)), p)

    def windows(self, chunks: Iterable) -> Iterator[np.ndarray]:
        """Each ``(frames, coefficients)`` window of a stream of chunks, as it completes."""
        for chunk in chunks:
            yield from self.push(chunk)


def chunk_samples(chunk, dtype=np.float64) -> np.ndarray:
    """One audio chunk (int16, or float in [-1, 1]) as ``dtype`` samples, int16 scaled as
    ``read_wav`` scales it, checked as ``mfcc`` checks waveforms."""
    x = np.asarray(chunk)
    if x.ndim != 1:
        raise ValueError(f"audio chunks must be 1-D (mono), not shape {x.shape}")
    if x.dtype == np.int16:
        return (x.astype(np.float64) / 32768.0).astype(dtype, copy=False)
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"audio chunks must be float in [-1, 1] or int16, not dtype {x.dtype}")
    if not np.all(np.isfinite(x)):
        raise ValueError("audio chunk contains NaN or infinite values")
    return x.astype(dtype, copy=False)
