"""Time shift and background-noise augmentation."""
import numpy as np
import pytest

from edgekws.data.augment import augment, augment_batch, mix_noise, time_shift


def _impulse(at=8000, n=16000):
    w = np.zeros(n, np.float32)
    w[at] = 0.5
    return w


def test_time_shift_moves_and_zero_fills():
    w = np.arange(1, 6, dtype=np.float32)
    assert time_shift(w, 2).tolist() == [0, 0, 1, 2, 3]
    assert time_shift(w, -2).tolist() == [3, 4, 5, 0, 0]
    assert time_shift(w, 0).tolist() == w.tolist()
    assert not time_shift(w, 9).any()


def test_shifts_stay_within_100_ms_and_vary():
    copies = augment(_impulse(), 200, rng=1, noises=())
    assert copies.shape == (200, 16000) and copies.dtype == np.float32
    positions = np.argmax(copies, axis=1)
    assert np.all(np.abs(positions - 8000) <= 1600)
    assert positions.min() < 8000 - 1000 and positions.max() > 8000 + 1000
    assert len(set(positions.tolist())) > 150


def test_same_seed_same_copies_other_seed_other_copies():
    noise = [np.random.default_rng(0).standard_normal(40000).astype(np.float32)]
    a = augment(_impulse(), 10, np.random.default_rng(5), noise)
    b = augment(_impulse(), 10, np.random.default_rng(5), noise)
    c = augment(_impulse(), 10, np.random.default_rng(6), noise)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_noise_volume_and_probability():
    const = [np.full(30000, 1.0, np.float32)]
    w = np.zeros(16000, np.float32)
    copies = augment(w, 300, rng=2, noises=const, noise_probability=0.5, noise_volume=0.1)
    levels = copies.max(axis=1)
    assert np.all(levels <= 0.1 + 1e-6)
    noisy = np.mean(levels > 0)
    assert 0.4 < noisy < 0.6
    none = augment(w, 20, rng=2, noises=const, noise_probability=0.0)
    assert not none.any()


def test_mix_noise_clips_and_pads():
    out = mix_noise(np.full(10, 0.95, np.float32), np.ones(4, np.float32), 0.1, start=0)
    np.testing.assert_allclose(out, [1.0] * 4 + [0.95] * 6)
    with pytest.raises(ValueError, match="noise volume must be a finite number >= 0, not -1"):
        mix_noise(np.zeros(10), np.ones(4), -1)


def test_augment_batch_one_copy_each():
    waves = np.stack([_impulse(4000), _impulse(12000)])
    out = augment_batch(waves, rng=0)
    assert out.shape == waves.shape
    assert abs(int(np.argmax(out[0])) - 4000) <= 1600 and abs(int(np.argmax(out[1])) - 12000) <= 1600


@pytest.mark.parametrize("kwargs, message", [
    ({"n_copies": 0}, "n_copies must be a positive integer, not 0"),
    ({"noise_probability": 1.5}, r"noise_probability must be in \[0, 1\], not 1.5"),
    ({"time_shift_ms": -1}, "time_shift_ms must be >= 0, not -1"),
    ({"rng": "seed"}, "rng must be a numpy Generator, an int seed or None, not 'seed'"),
])
def test_augment_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        augment(_impulse(), **kwargs)
    with pytest.raises(ValueError, match=r"non-empty 1-D array, not shape \(2, 3\)"):
        augment(np.zeros((2, 3)))
