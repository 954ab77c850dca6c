"""MFCC front end: agreement with TensorFlow's ops, shapes, errors, uint8 scaling."""
import json
from pathlib import Path

import numpy as np
import pytest

from edgekws.data.mfcc import (MfccParams, MfccScaling, fit_scaling, frames_to_mfcc, mfcc,
                               mfcc_reference, pad_or_crop)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def _test_waves():
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    return np.stack([
        np.clip(0.3 * rng.standard_normal(16000), -1, 1),
        1e-4 * rng.standard_normal(16000),
        0.5 * np.sin(2 * np.pi * 440 * t) * np.hanning(16000),
        np.zeros(16000),
        0.2 * np.sin(2 * np.pi * (200 + 3000 * t) * t),  # chirp across the filterbank
    ]).astype(np.float32)


def _tf_mfcc(wave):
    tf = pytest.importorskip("tensorflow")
    spec = tf.raw_ops.AudioSpectrogram(input=wave[:, None], window_size=640, stride=320,
                                       magnitude_squared=True)
    out = tf.raw_ops.Mfcc(spectrogram=spec, sample_rate=16000, upper_frequency_limit=4000,
                          lower_frequency_limit=20, filterbank_channel_count=40,
                          dct_coefficient_count=10)
    return out.numpy()[0]


def test_matches_tensorflow_audio_spectrogram_and_mfcc():
    waves = _test_waves()
    ref = np.stack([_tf_mfcc(w) for w in waves])
    ours = mfcc(waves)
    assert ours.shape == ref.shape == (5, 49, 10)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=2e-5)


def test_single_equals_batch_and_shape():
    waves = _test_waves()
    batch = mfcc(waves)
    assert batch.dtype == np.float32
    for i in range(len(waves)):
        np.testing.assert_array_equal(mfcc(waves[i]), batch[i])
    assert MfccParams().shape == (49, 10)
    assert MfccParams().fft_length == 1024


def test_int16_input_is_scaled_like_decode_wav():
    w = _test_waves()[0]
    as_int = np.round(w * 32767).astype(np.int16)
    np.testing.assert_allclose(mfcc(as_int), mfcc(as_int.astype(np.float32) / 32768.0),
                               atol=1e-5)


def test_short_and_long_inputs_are_padded_or_cropped():
    w = _test_waves()[0]
    short = w[:8000]
    padded = np.concatenate([short, np.zeros(8000, np.float32)])
    np.testing.assert_array_equal(mfcc(short), mfcc(padded))
    long = np.concatenate([w, np.ones(500, np.float32)])
    np.testing.assert_array_equal(mfcc(long), mfcc(w))
    assert pad_or_crop(np.ones((2, 3)), 5).shape == (2, 5)


@pytest.mark.parametrize("bad, message", [
    (np.zeros((1, 2, 16000), np.float32), r"shape \(samples,\) or \(batch, samples\)"),
    (np.zeros(100, np.int32), "float in .* or int16, not dtype int32"),
    (np.zeros(0, np.float32), "empty"),
    (np.full(100, np.nan, np.float32), "NaN"),
])
def test_bad_waveforms_are_rejected(bad, message):
    with pytest.raises(ValueError, match=message):
        mfcc(bad)


@pytest.mark.parametrize("kwargs, message", [
    ({"stride": 0}, "stride must be a positive integer, not 0"),
    ({"window": 20000}, r"window \(20000\) must not exceed clip_samples"),
    ({"upper_hz": 9000.0}, "upper_hz=9000.0"),
    ({"coefficients": 41}, r"coefficients \(41\) must not exceed mel_channels"),
])
def test_bad_params_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MfccParams(**kwargs)


# ------------------------------------------------------------ fast path == reference


def _shipped_scaling():
    from edgekws.golden import Model
    extra = Model(str(REPO / "python" / "edgekws" / "models" / "ds_cnn_kws.ekws")).extra
    return MfccScaling.from_dict(extra["mfcc_scaling"])


def _assert_same_features(waves, params=None):
    fast, ref = mfcc(waves, params), mfcc_reference(waves, params)
    assert fast.dtype == ref.dtype == np.float32
    np.testing.assert_array_equal(fast, ref)
    if params is None:
        scaling = _shipped_scaling()
        np.testing.assert_array_equal(scaling.to_uint8(fast), scaling.to_uint8(ref))


def test_fast_path_equals_reference_on_synthetic_clips():
    rng = np.random.default_rng(7)
    t = np.arange(16000) / 16000
    levels = 10.0 ** rng.uniform(-5, -0.5, (21, 1))
    noise = np.clip(levels * rng.standard_normal((21, 16000)), -1, 1)
    tones = 0.3 * np.sin(2 * np.pi * rng.uniform(50, 7000, (6, 1)) * t)
    # 29 clips: not a multiple of the internal chunk, with silence and a full-scale square.
    waves = np.concatenate([noise, tones, np.zeros((1, 16000)),
                            np.sign(np.sin(2 * np.pi * 300 * t))[None]]).astype(np.float32)
    _assert_same_features(waves)
    _assert_same_features(waves[3])
    _assert_same_features((waves[:5] * 32767).astype(np.int16))
    _assert_same_features(waves[:4, :9000].astype(np.float64))  # short, float64
    _assert_same_features(waves[:3], MfccParams(window=400, stride=160, mel_channels=32,
                                                 lower_hz=60.0, upper_hz=7600.0,
                                                 coefficients=13))
    _assert_same_features(waves[:2], MfccParams(lower_hz=20.0, upper_hz=21.0))  # no bin


def _real_clips(count):
    from edgekws.data.wavio import read_wav
    files = sorted(SHARED_DATA.glob("sc-v2-test-dev/*/*.wav"))
    files += sorted(SHARED_DATA.glob("kokoro/*/*.wav"))
    if not files:
        pytest.skip(f"no real clips under {SHARED_DATA} (sc-v2-test-dev/, kokoro/)")
    pick = files[::max(1, len(files) // count)][:count]
    return np.stack([pad_or_crop(read_wav(f), 16000) for f in pick]).astype(np.float32)


def test_fast_path_equals_reference_on_real_clips():
    _assert_same_features(_real_clips(150))


def test_threads_share_a_batch_without_changing_it():
    rng = np.random.default_rng(3)
    # 77 clips: above the threaded default's threshold, not a multiple of the chunk.
    waves = np.clip(10.0 ** rng.uniform(-4, -1, (77, 1)) * rng.standard_normal((77, 16000)),
                    -1, 1).astype(np.float32)
    ref = mfcc_reference(waves)
    for threads in (1, 2, 3, 200, None):
        np.testing.assert_array_equal(mfcc(waves, threads=threads), ref)
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match=f"threads must be a positive integer or None, "
                                             f"not {bad!r}"):
            mfcc(waves[:2], threads=bad)


def test_frames_to_mfcc_is_the_per_frame_half_of_mfcc():
    wave = _test_waves()[0].astype(np.float64)
    p = MfccParams()
    frames = np.stack([wave[i * p.stride:i * p.stride + p.window] for i in range(p.frames)])
    np.testing.assert_array_equal(frames_to_mfcc(frames), mfcc(wave))


# ------------------------------------------------------------------ uint8 scaling


def test_scaling_round_trip_error_is_at_most_half_a_step():
    s = MfccScaling(offset=-30.0, scale=0.25)
    x = np.random.default_rng(1).uniform(-30, -30 + 255 * 0.25, size=(100, 49, 10))
    codes = s.to_uint8(x)
    assert codes.dtype == np.uint8
    back = s.from_uint8(codes)
    assert back.dtype == np.float32
    assert np.max(np.abs(back - x)) <= 0.125 + 1e-6


def test_scaling_saturates_and_rounds_half_up():
    s = MfccScaling(offset=0.0, scale=2.0)
    codes = s.to_uint8(np.array([-100.0, 0.99, 1.0, 3.0, 509.0, 511.0, 1e9]))
    assert codes.tolist() == [0, 0, 1, 2, 255, 255, 255]


def test_scaling_json_round_trip_scalar_and_per_coefficient():
    for s in (MfccScaling(-12.5, 0.3),
              MfccScaling(tuple(np.linspace(-5, 4, 10)), tuple(np.linspace(0.1, 1, 10)))):
        text = s.to_json()
        assert json.loads(text)["offset"] == (list(s.offset) if isinstance(s.offset, tuple)
                                               else s.offset)
        assert MfccScaling.from_json(text) == s


def test_per_coefficient_scaling_applies_per_column():
    s = MfccScaling(offset=(0.0, 10.0), scale=(1.0, 2.0))
    assert s.to_uint8(np.array([[5.0, 20.0]])).tolist() == [[5, 5]]
    with pytest.raises(ValueError, match="2 values but features have shape"):
        s.to_uint8(np.zeros((4, 3)))


def test_fit_scaling_puts_percentiles_at_the_ends():
    x = mfcc(np.random.default_rng(2).uniform(-0.5, 0.5, (20, 16000)).astype(np.float32))
    s = fit_scaling(x, 1.0, 99.0)
    codes = s.to_uint8(x)
    assert 0.005 < np.mean(codes == 0) < 0.02
    assert 0.005 < np.mean(codes == 255) < 0.02
    per = fit_scaling(x, 1.0, 99.0, per_coefficient=True)
    assert len(per.offset) == 10
    pc = per.to_uint8(x)
    for c in range(10):  # every coefficient uses most of the code range
        assert pc[..., c].max() == 255 and pc[..., c].min() == 0


@pytest.mark.parametrize("kwargs, message", [
    ({"offset": 0.0, "scale": 0.0}, "scale must be > 0, not 0.0"),
    ({"offset": float("nan"), "scale": 1.0}, "offset must be finite"),
    ({"offset": (1.0, 2.0), "scale": (1.0, 2.0, 3.0)}, "lengths differ: 2 != 3"),
])
def test_bad_scaling_is_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MfccScaling(**kwargs)


def test_bad_scaling_inputs_are_rejected():
    with pytest.raises(ValueError, match="not valid JSON"):
        MfccScaling.from_json("{offset")
    with pytest.raises(ValueError, match="keys 'offset', 'scale' and optionally 'level'"):
        MfccScaling.from_dict({"offset": 1})
    with pytest.raises(ValueError, match="codes must be uint8, not dtype int64"):
        MfccScaling().from_uint8(np.array([1, 2]))
    with pytest.raises(ValueError, match="low_percentile < high_percentile"):
        fit_scaling(np.ones((2, 10)), 50, 40)
    with pytest.raises(ValueError, match="empty features"):
        fit_scaling(np.zeros((0, 10)))
