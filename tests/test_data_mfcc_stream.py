"""Streaming MFCC: every window equals mfcc() of the same second, whatever the chunking."""
import numpy as np
import pytest

from edgekws.data.mfcc import MfccParams, mfcc
from edgekws.data.mfcc_stream import StreamingMfcc


def _stream(seconds, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    burst = (np.sin(2 * np.pi * 3 * t) > 0.6) * np.sin(2 * np.pi * 700 * t)
    noise = 10.0 ** rng.uniform(-4, -1) * rng.standard_normal(t.size)
    return np.clip(0.4 * burst + noise, -1, 1).astype(np.float32)


def _expected(audio, params):
    starts = range(0, len(audio) - params.clip_samples + 1, params.stride)
    return mfcc(np.stack([audio[s:s + params.clip_samples] for s in starts]), params)


@pytest.mark.parametrize("chunking", ["one_piece", "hops", "odd", "random"])
def test_windows_equal_mfcc_of_the_same_second(chunking):
    audio = _stream(2.3)
    stream = StreamingMfcc()
    sizes = {"one_piece": [len(audio)], "hops": [320] * (len(audio) // 320 + 1),
             "odd": [1, 639, 7, 16001, 333] * 10,
             "random": np.random.default_rng(1).integers(0, 3000, 100)}[chunking]
    got, pos = [], 0
    for n in sizes:
        got.append(stream.push(audio[pos:pos + n]))
        pos += n
    got = np.concatenate(got)
    want = _expected(audio, MfccParams())
    assert got.shape == want.shape == (1 + (len(audio) - 16000) // 320, 49, 10)
    np.testing.assert_array_equal(got, want)
    assert stream.windows_out == len(want)


def test_int16_chunks_other_params_and_reset():
    params = MfccParams(clip_samples=8000, window=400, stride=160, coefficients=13)
    audio = (_stream(1.2, seed=3) * 32767).astype(np.int16)
    stream = StreamingMfcc(params)
    got = np.stack(list(stream.windows(np.array_split(audio, 37))))
    np.testing.assert_array_equal(got, _expected(audio, params))
    stream.reset()
    assert stream.windows_out == 0
    # The 48 frames of 400 samples every 160 end at sample 7,920, before the 8,000 of a clip.
    assert params.shape == (48, 13)
    assert stream.push(audio[:7919]).shape == (0, 48, 13)
    np.testing.assert_array_equal(stream.push(audio[7919:7920])[0], mfcc(audio[:8000], params))


@pytest.mark.parametrize("bad, message", [
    (np.zeros((2, 320), np.float32), r"1-D \(mono\), not shape \(2, 320\)"),
    (np.zeros(320, np.int32), "float in .* or int16, not dtype int32"),
    (np.array([0.0, np.inf]), "NaN or infinite"),
])
def test_bad_chunks_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        StreamingMfcc().push(bad)


def test_params_must_be_mfcc_params():
    with pytest.raises(TypeError, match="params must be an MfccParams, not 16000"):
        StreamingMfcc(16000)


@pytest.mark.parametrize("chunk", [320, 1600, 4000])
def test_digital_silence_and_one_hop_at_a_time_are_bit_identical(chunk):
    """Exact zeros give coefficients of about 1e-15 whose last bits depend on how many rows
    OpenBLAS multiplies at once: the window-shaped products keep them equal to mfcc()'s."""
    audio = _stream(2.5, seed=4)
    audio[8000:24000] = 0.0
    stream = StreamingMfcc()
    got = np.concatenate([stream.push(audio[i:i + chunk]) for i in range(0, len(audio), chunk)])
    want = _expected(audio, MfccParams())
    assert np.any(np.abs(want[25]) < 1e-12)     # the silent second is in the test
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("every", [1, 3, 5, 12])
def test_every_kth_window(every):
    audio = _stream(2.7, seed=5)
    stream = StreamingMfcc(every=every)
    got = np.concatenate([stream.push(c) for c in np.array_split(audio, 23)])
    want = _expected(audio, MfccParams())[::every]
    np.testing.assert_array_equal(got, want)
    assert stream.windows_out == len(want)


@pytest.mark.parametrize("every", [0, -2, 1.5, True])
def test_every_must_be_a_positive_integer(every):
    with pytest.raises(ValueError, match=f"every must be a positive number of hops, not "
                                         f"{every!r}"):
        StreamingMfcc(every=every)
