"""The MFCC front end: the fast path against today's implementation (``mfcc_reference``)
and TensorFlow's ``AudioSpectrogram`` + ``Mfcc``, and the streaming front end's real-time
factor against recomputing every window."""
from __future__ import annotations

import time

import numpy as np

from edgekws.bench import RUNS, Row, Timings, ratios, spread, timed

TITLE = "MFCC front end (host software)"


def _clips(n, seed=0) -> np.ndarray:
    """``n`` one-second float32 clips: noise at random levels under tone bursts."""
    rng = np.random.default_rng(seed)
    t = np.arange(16000) / 16000
    level = 10.0 ** rng.uniform(-4, -1, (n, 1))
    tone = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 3000, (n, 1)) * t) \
        * (np.sin(2 * np.pi * rng.uniform(1, 4, (n, 1)) * t) > 0)
    return np.clip(tone + level * rng.standard_normal((n, 16000)), -1, 1).astype(np.float32)


def _tf_mfcc():
    """TensorFlow's ops on a batch (the clips as the channels of one spectrogram call)."""
    import tensorflow as tf

    def run(waves):
        spec = tf.raw_ops.AudioSpectrogram(input=tf.constant(waves.T), window_size=640,
                                           stride=320, magnitude_squared=True)
        return tf.raw_ops.Mfcc(spectrogram=spec, sample_rate=16000, upper_frequency_limit=4000,
                               lower_frequency_limit=20, filterbank_channel_count=40,
                               dct_coefficient_count=10).numpy()
    return run


def _batch_rows(quick):
    from edgekws.data.mfcc import default_threads, mfcc, mfcc_reference
    n = 200 if quick else 1000
    threads = default_threads(n)
    waves = _clips(n)
    try:
        tf_run = _tf_mfcc()
        tf_run(waves[:2])  # graph set-up and thread pools outside the timing
    except ImportError:
        tf_run = None
    fast, one, ref, tf = Timings(), Timings(), Timings(), Timings()
    for _ in range(RUNS):  # interleaved, so that a change of machine load hits them all
        ours = fast(lambda: mfcc(waves))
        single = one(lambda: mfcc(waves, threads=1))
        theirs = ref(lambda: mfcc_reference(waves))
        if tf_run is not None:
            tf_out = tf(lambda: tf_run(waves))
    same = np.array_equal(ours, theirs) and np.array_equal(single, theirs)
    cmd = "edgekws bench --only mfcc"
    rows = [Row(f"MFCC of {n:,} one-second clips, s", spread(fast.wall, "{:.3f}"),
                f"today's mfcc_reference {spread(ref.wall, '{:.2f}')} s",
                ratios(ref.wall, fast.wall), cmd,
                f"{n / np.median(fast.wall):,.0f} clips/s (median), {threads} thread"
                f"{'s' if threads > 1 else ''} (the default: the cores this process may "
                f"use); CPU time {spread(fast.cpu, '{:.3f}')} s vs "
                f"{spread(ref.cpu, '{:.2f}')} s, {ratios(ref.cpu, fast.cpu)}; float32 "
                f"features bit-identical to the reference (both thread counts): "
                f"{'yes' if same else 'NO'}; min / median / max of {RUNS} runs"),
            Row(f"the same in one thread (mfcc(..., threads=1)), s", spread(one.wall, "{:.3f}"),
                f"today's mfcc_reference {spread(ref.wall, '{:.2f}')} s",
                ratios(ref.wall, one.wall), cmd,
                f"{n / np.median(one.wall):,.0f} clips/s (median); what each worker "
                f"process of the feature cache runs")]
    if tf_run is not None:
        err = float(np.abs(tf_out - ours).max())
        rows.append(Row(f"MFCC of {n:,} clips vs TensorFlow's ops, s",
                        spread(fast.wall, "{:.3f}"),
                        f"AudioSpectrogram + Mfcc {spread(tf.wall, '{:.3f}')} s",
                        ratios(tf.wall, fast.wall), cmd,
                        f"CPU time {spread(fast.cpu, '{:.3f}')} s vs "
                        f"{spread(tf.cpu, '{:.3f}')} s, {ratios(tf.cpu, fast.cpu)}; largest "
                        f"difference from TensorFlow {err:.1e}; both may use every "
                        "core"))
    return rows


def _stream_rows(quick):
    from edgekws.data.mfcc import mfcc
    from edgekws.data.mfcc_stream import StreamingMfcc
    seconds = 20 if quick else 60
    audio = (_clips(seconds, seed=1).reshape(-1) * 32767).astype(np.int16)
    chunk = 1600  # 100 ms, a typical audio callback
    clip, hop = 16000, 320

    def stream():
        s = StreamingMfcc()
        return sum(len(s.push(audio[i:i + chunk])) for i in range(0, len(audio), chunk))

    def every_window():  # the same windows, each computed from scratch, 100 ms at a time
        starts = np.arange(0, len(audio) - clip + 1, hop)
        return sum(len(mfcc(np.stack([audio[s:s + clip] for s in starts[i:i + 5]])))
                   for i in range(0, len(starts), 5))

    ours, ref = [], []
    for _ in range(RUNS):
        t, count = timed(stream, time.process_time)
        ours.append(t / seconds)
        t, count_ref = timed(every_window, time.process_time)
        ref.append(t / seconds)
    assert count == count_ref
    return [Row(f"streaming MFCC real-time factor (CPU s per s of audio), {seconds} s in "
                "100 ms chunks", spread(ours, "{:.4f}"),
                f"mfcc() of every window {spread(ref, '{:.3f}')}", ratios(ref, ours),
                "edgekws bench --only mfcc",
                f"{count:,} windows of 49x10, one per 20 ms hop; CPU time of this process")]


def run(quick: bool = False):
    return _batch_rows(quick) + _stream_rows(quick)
