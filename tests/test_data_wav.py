"""WAV reading/writing and polyphase resampling."""
import wave

import numpy as np
import pytest

from edgekws.data.wavio import read_wav, resample, wav_info, write_wav


def _write_raw(path, data: bytes, rate=16000, channels=1, width=2):
    with wave.open(str(path), "wb") as f:
        f.setnchannels(channels)
        f.setsampwidth(width)
        f.setframerate(rate)
        f.writeframes(data)


def test_round_trip_is_exact_for_int16_values(tmp_path):
    ints = np.random.default_rng(0).integers(-32768, 32768, 1000).astype(np.int16)
    write_wav(tmp_path / "a.wav", ints, 16000)
    back = read_wav(tmp_path / "a.wav")
    assert back.dtype == np.float32
    np.testing.assert_array_equal(np.round(back * 32768).astype(np.int16), ints)
    assert wav_info(tmp_path / "a.wav") == (1, 2, 16000, 1000)


def test_float_write_clips_to_int16_range(tmp_path):
    write_wav(tmp_path / "c.wav", np.array([-2.0, 0.5, 2.0], np.float32))
    assert read_wav(tmp_path / "c.wav").tolist() == [-1.0, 0.5, 32767 / 32768]


def test_stereo_is_averaged(tmp_path):
    frames = np.array([[1000, 3000], [-2000, 0]], dtype="<i2")
    _write_raw(tmp_path / "s.wav", frames.tobytes(), channels=2)
    np.testing.assert_allclose(read_wav(tmp_path / "s.wav"), [2000 / 32768, -1000 / 32768])


def test_8khz_is_resampled_to_16khz_keeping_the_tone(tmp_path):
    t = np.arange(4000) / 8000
    write_wav(tmp_path / "t.wav", (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32), 8000)
    y = read_wav(tmp_path / "t.wav")
    assert y.size == 8000
    spec = np.abs(np.fft.rfft(y[1000:7000] * np.hanning(6000)))
    peak_hz = np.argmax(spec) * 16000 / 6000
    assert abs(peak_hz - 1000) < 5
    assert abs(np.max(np.abs(y[1000:7000])) - 0.5) < 0.01
    assert read_wav(tmp_path / "t.wav", target_rate=None).size == 4000


@pytest.mark.parametrize("orig, target, n", [(22050, 16000, 3001), (8000, 16000, 1234),
                                             (48000, 16000, 999), (16000, 11025, 500),
                                             (23000, 16000, 7)])
def test_resample_matches_scipy_resample_poly(orig, target, n):
    signal = pytest.importorskip("scipy.signal")
    from math import gcd

    x = np.random.default_rng(n).standard_normal(n)
    g = gcd(orig, target)
    ref = signal.resample_poly(x, target // g, orig // g)
    ours = resample(x, orig, target)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=1e-12)


def test_resample_batch_and_identity():
    x = np.random.default_rng(1).standard_normal((3, 441)).astype(np.float32)
    y = resample(x, 22050, 16000)
    assert y.shape == (3, 320) and y.dtype == np.float32
    np.testing.assert_allclose(y[1], resample(x[1], 22050, 16000), atol=1e-6)
    z = resample(x, 16000, 16000)
    np.testing.assert_array_equal(z, x)
    assert z is not x


def _element_gather(x, orig, target):
    """resample's arithmetic written out plainly: every output's inputs gathered element
    by element, one einsum over all of them."""
    from edgekws.data.wavio import _polyphase, _reduced_ratio
    up, down = _reduced_ratio(orig, target)
    table, half = _polyphase(up, down)
    taps = table.shape[1]
    n_out = -(-x.shape[-1] * up // down)
    pos = np.arange(n_out) * down + half
    zeros = np.zeros(x.shape[:-1] + (taps,))
    tail = np.zeros(x.shape[:-1] + (max(0, pos[-1] // up + 1 - x.shape[-1]),))
    buf = np.concatenate([zeros, np.asarray(x, np.float64), tail], axis=-1)
    idx = (pos // up + taps)[:, None] - np.arange(taps)[None, :]
    return np.einsum("...nk,nk->...n", buf[..., idx], table[pos % up]).astype(x.dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(16000,), (1, 16000), (3, 5000), (2, 1, 777), (5,)])
@pytest.mark.parametrize("orig, target", [(14720, 16000), (18400, 16000), (8000, 16000),
                                          (44100, 16000), (16000, 13600)])
def test_resample_is_the_element_gather_bit_for_bit(shape, orig, target, dtype):
    """One signal takes rows of the reversed buffer's sliding windows, several an element
    gather; both must give exactly the sums of gathering every input on its own (the
    speed views of eval and listen rely on it; float64 shows a different summation order
    that float32 rounding can hide)."""
    x = np.random.default_rng(sum(shape)).standard_normal(shape).astype(dtype)
    np.testing.assert_array_equal(resample(x, orig, target), _element_gather(x, orig, target))


def test_resample_keeps_dc_gain():
    y = resample(np.ones(4000), 8000, 16000)
    np.testing.assert_allclose(y[200:-200], 1.0, atol=1e-3)


@pytest.mark.parametrize("args, message", [
    ((np.ones(10), 0, 16000), "original sample rate must be a positive integer, not 0"),
    ((np.ones(10), 8000, -1), "target sample rate must be a positive integer, not -1"),
    ((np.ones(10), 8000.0, 16000), "not 8000.0"),
    ((np.ones(0), 8000, 16000), "empty signal"),
    ((np.ones(10), 44101, 16000), "reduces to 16000/44101"),
])
def test_resample_errors(args, message):
    with pytest.raises(ValueError, match=message):
        resample(*args)


def test_not_a_wav_file(tmp_path):
    p = tmp_path / "x.wav"
    p.write_text("hello, I am text")
    with pytest.raises(ValueError, match=r"x\.wav: not a readable PCM WAV file"):
        read_wav(p)


def test_truncated_wav_header(tmp_path):
    p = tmp_path / "t.wav"
    p.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt ")
    with pytest.raises(ValueError, match="not a readable PCM WAV file"):
        read_wav(p)


def test_wrong_sample_width(tmp_path):
    _write_raw(tmp_path / "b.wav", bytes(range(100)), width=1)
    with pytest.raises(ValueError, match="sample width is 8 bits, expected 16-bit PCM"):
        read_wav(tmp_path / "b.wav")


def test_empty_wav(tmp_path):
    _write_raw(tmp_path / "e.wav", b"")
    with pytest.raises(ValueError, match="e.wav: WAV file holds no samples"):
        read_wav(tmp_path / "e.wav")


def test_write_errors(tmp_path):
    with pytest.raises(ValueError, match="sample rate must be a positive integer, not 0"):
        write_wav(tmp_path / "w.wav", np.zeros(4, np.float32), 0)
    with pytest.raises(ValueError, match=r"must be 1-D \(mono\), not shape \(2, 2\)"):
        write_wav(tmp_path / "w.wav", np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="not dtype int32"):
        write_wav(tmp_path / "w.wav", np.zeros(4, np.int32))


# -- bounded reading ----------------------------------------------------------------------

def _header(rate=16000, channels=1, bits=16, data_bytes=0):
    """A RIFF/WAVE header whose data chunk declares ``data_bytes`` (none follow)."""
    import struct
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * block, block, bits)
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE" + b"fmt "
            + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", data_bytes))


@pytest.mark.parametrize("kwargs, message", [
    ({"rate": 1}, r"sample rate in header is 1 Hz, expected 4000 to 192000 Hz"),
    ({"rate": 500000}, r"sample rate in header is 500000 Hz, expected 4000 to 192000 Hz"),
    ({"channels": 9}, r"header declares 9 channels, expected 1 to 8"),
    ({"bits": 24}, r"sample width is 24 bits, expected 16-bit PCM"),
    ({"data_bytes": 2**31}, r"header declares 1073741824 frames \(67108.9 s\), more than the "
                            r"limit of 300 s"),
])
def test_header_limits_are_checked_before_reading(tmp_path, kwargs, message):
    p = tmp_path / "h.wav"
    p.write_bytes(_header(**kwargs) + bytes(64))
    with pytest.raises(ValueError, match=message):
        read_wav(p)


def test_a_fifo_is_refused_without_blocking(tmp_path):
    import os
    fifo = tmp_path / "f.wav"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match=r"f\.wav: WAV file must be a regular file, not a FIFO"):
        read_wav(fifo)
    with pytest.raises(ValueError, match="not a FIFO"):
        wav_info(fifo)


@pytest.mark.parametrize("path, kind", [("/dev/zero", "a character device"), (".", "a folder")])
def test_devices_and_folders_are_refused(path, kind):
    with pytest.raises(ValueError, match=f"WAV file must be a regular file, not {kind}"):
        read_wav(path)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_wav(tmp_path / "missing.wav")


@pytest.mark.parametrize("rate, channels", [(44100, 1), (8000, 2), (16000, 1)])
def test_chunked_reading_equals_reading_at_once(tmp_path, monkeypatch, rate, channels):
    from edgekws import limits
    frames = np.random.default_rng(rate).integers(-32768, 32768, (5003, channels)).astype("<i2")
    _write_raw(tmp_path / "c.wav", frames.tobytes(), rate=rate, channels=channels)
    whole = frames.astype(np.float32) / 32768.0
    whole = whole[:, 0] if channels == 1 else whole.mean(axis=1)
    expected = whole if rate == 16000 else resample(whole, rate, 16000).astype(np.float32)
    monkeypatch.setattr(limits, "WAV_CHUNK_FRAMES", 97)  # many chunks, none aligned
    got = read_wav(tmp_path / "c.wav")
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    assert got.shape == expected.shape


def test_truncated_data_keeps_the_whole_frames(tmp_path):
    p = tmp_path / "t.wav"
    # The header declares 100 stereo frames; 10 and a half follow.
    p.write_bytes(_header(channels=2, data_bytes=400) + np.arange(21, dtype="<i2").tobytes())
    got = read_wav(p)
    assert got.size == 10
    assert got[0] == np.float32(0.5 / 32768)


def test_a_chunk_size_pointing_outside_the_file_is_a_clean_error(tmp_path):
    import struct
    p = tmp_path / "c.wav"
    # The fmt chunk declares 0x32fd6270 bytes: the reader would seek past the RIFF chunk.
    data = bytearray(_header(data_bytes=4) + bytes(4))
    struct.pack_into("<I", data, 16, 0x32FD6270)
    p.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"c\.wav: not a readable PCM WAV file"):
        read_wav(p)
