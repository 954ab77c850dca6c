"""The host side of ``board listen``: CPU seconds per second of audio (real-time factor) of
the listener's windows and uint8 frames, with the streaming MFCC (each 20 ms hop once)
against today's per-window path (``mfcc()`` of every heard window, as ``board infer``
makes a frame), on the same windows; and what ``listen``'s default speeds add (each heard
window also played at four other speeds, their MFCC computed per window). The board's
classification is not included."""
from __future__ import annotations

import time

import numpy as np

from edgekws.bench import RUNS, Row, ratios, spread, timed

TITLE = "board listen, host side (windows, gate, MFCC, uint8 frames)"


def _speech_like(seconds: int, seed: int = 2) -> np.ndarray:
    """int16: half-second tone bursts (harmonics, a rough syllable envelope) every 1.2 s
    over a -60 dBFS floor, so that the gate hears about half the windows."""
    rng = np.random.default_rng(seed)
    rate = 16000
    x = rng.standard_normal(seconds * rate) * 1e-3
    t = np.arange(int(0.5 * rate)) / rate
    for start in range(int(0.3 * rate), x.size - t.size, int(1.2 * rate)):
        f0 = rng.uniform(100, 250)
        burst = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6))
        x[start:start + t.size] += 10 ** rng.uniform(-2, -0.7) * np.hanning(t.size) * burst
    return np.clip(np.rint(x * 32768), -32768, 32767).astype(np.int16)


def run(quick: bool = False):
    from edgekws.golden import Model
    from edgekws.host.edge import front_end
    from edgekws.data.shifts import DEFAULT_SPEEDS
    from edgekws.host.listen import DEFAULT_HOP, Listener, _block_power, heard_views
    from edgekws.models import shipped_model_path

    seconds = 20 if quick else 60
    audio = _speech_like(seconds)
    chunk = 1600          # 100 ms, a typical audio callback
    params, scaling, to_frames = front_end(Model(shipped_model_path()))

    def streaming(speeds=(1.0,)):
        """The listener: uint8 frames of every heard window at each of ``speeds`` (at 1,
        from its streaming features)."""
        listener = Listener(params, hop=DEFAULT_HOP, centre=None)
        frames = []
        for i in range(0, audio.size, chunk):
            for w in listener.feed(audio[i:i + chunk]):
                if w.features is not None:
                    frames += [scaling.to_uint8(f)[..., None] for f in heard_views(
                        w.features[None], w.samples[None], speeds, params)]
        return np.concatenate(frames)

    def per_window():
        """Today's path on the same windows: the last second every hop, the same gate, and
        the frame ``board infer`` makes of the window's samples."""
        gate = Listener(params, hop=DEFAULT_HOP, centre=None)   # its parameters only
        clip, hop = params.clip_samples, gate.hop
        ring = np.zeros(clip, np.float32)
        pending = np.zeros(0, np.float32)
        frames = []
        for i in range(0, audio.size, chunk):
            pending = np.concatenate([pending, audio[i:i + chunk].astype(np.float32) / 32768])
            while pending.size >= hop:
                ring = np.concatenate([ring[hop:], pending[:hop]])
                pending = pending[hop:]
                if gate._centre(_block_power(ring, gate.block)) is not None:
                    frames.append(to_frames(ring[None]))
        return np.concatenate(frames)

    ours, ref, fives = [], [], []
    for _ in range(RUNS):   # interleaved, so that a change of machine load hits all
        t, got = timed(streaming, time.process_time)
        ours.append(t / seconds)
        t, want = timed(per_window, time.process_time)
        ref.append(t / seconds)
        t, views = timed(lambda: streaming(DEFAULT_SPEEDS), time.process_time)
        fives.append(t / seconds)
    same = np.array_equal(got, want)
    return [Row(f"board listen host real-time factor (CPU s per s of audio), {seconds} s in "
                f"100 ms chunks, a window every {DEFAULT_HOP:g} s",
                spread(ours, "{:.4f}"),
                f"per-window mfcc() {spread(ref, '{:.4f}')}", ratios(ref, ours),
                "edgekws bench --only listen",
                f"{len(got):,} of {int(seconds / DEFAULT_HOP):,} windows through the gate, "
                f"each with its uint8 frame; uint8 frames bit-identical to the per-window "
                f"path: {'yes' if same else 'NO'}; each 20 ms frame is transformed once, but "
                f"the filterbank and DCT products still run per window on its 49 frames (as "
                f"mfcc() sums them: the price of bit-identity) and are most of what remains; "
                f"min / median / max of {RUNS} runs, CPU time of this process"),
            Row(f"the same at listen's default speeds ({len(DEFAULT_SPEEDS)} views of "
                "each heard window)", spread(fives, "{:.4f}"),
                f"one speed (the row above) {spread(ours, '{:.4f}')}", ratios(ours, fives),
                "edgekws bench --only listen",
                f"{len(views):,} uint8 frames ({len(DEFAULT_SPEEDS)} per heard window); the "
                "other speeds' MFCC are computed per window from its samples (a resampled "
                "window has no streaming frames to reuse); a ratio below 1 is the price; "
                f"min / median / max of {RUNS} runs")]
