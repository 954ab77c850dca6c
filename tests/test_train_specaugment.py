"""SpecAugment masking of training windows: where masks fall, what fills them, errors."""
import numpy as np
import pytest

from edgekws.train.specaugment import SpecAugment


def _windows(n=64, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 49, 10, 1)).astype(np.float32)


def test_masked_values_are_the_windows_rounded_coefficient_means():
    x = _windows()
    y = SpecAugment(2, 6, 1, 2).apply(x, np.random.default_rng(1))
    assert y.shape == x.shape and y.dtype == np.float32
    fill = np.rint(x.mean(axis=1, keepdims=True)) + np.zeros_like(x)
    changed = y != x
    assert changed.any()
    assert np.array_equal(y[changed], fill[changed])


def test_masks_are_bands_no_wider_than_asked():
    x = _windows(200)
    aug = SpecAugment(time_masks=1, time_width=5, freq_masks=0, freq_width=0)
    y = aug.apply(x, np.random.default_rng(2))
    masked_frames = (y != x).any(axis=(2, 3))            # (n, 49)
    assert masked_frames.sum(axis=1).max() <= 5
    for row in masked_frames:                            # one contiguous band per window
        idx = np.flatnonzero(row)
        assert len(idx) == 0 or idx[-1] - idx[0] + 1 == len(idx)
    assert masked_frames.sum(axis=1).max() >= 3          # widths are drawn, not all zero
    coef = SpecAugment(0, 0, 2, 3).apply(x, np.random.default_rng(3))
    assert (coef != x).any(axis=(1, 3)).sum(axis=1).max() <= 6


def test_no_masks_change_nothing_and_the_draw_is_seeded():
    x = _windows()
    assert np.array_equal(SpecAugment(0, 6, 0, 2).apply(x, np.random.default_rng(0)), x)
    a = SpecAugment().apply(x, np.random.default_rng(7))
    b = SpecAugment().apply(x, np.random.default_rng(7))
    c = SpecAugment().apply(x, np.random.default_rng(8))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize("args, message", [
    ((-1, 6, 1, 2), "time_masks must be an integer >= 0, not -1"),
    ((2, 2.5, 1, 2), "time_width must be an integer >= 0, not 2.5"),
    ((2, 6, True, 2), "freq_masks must be an integer >= 0, not True"),
])
def test_bad_parameters_are_named(args, message):
    with pytest.raises(ValueError, match=message):
        SpecAugment(*args)


def test_masks_wider_than_the_window_are_refused():
    with pytest.raises(ValueError, match="time_width must be at most the window's 49 frames, "
                                         "not 50"):
        SpecAugment(1, 50, 0, 0).apply(_windows(2), np.random.default_rng(0))
    with pytest.raises(ValueError, match="freq_width must be at most the window's 10 "
                                         "coefficients, not 11"):
        SpecAugment(0, 0, 1, 11).check_shape(49, 10)
    with pytest.raises(ValueError, match=r"must have shape \(n, frames, coefficients"):
        SpecAugment().apply(np.zeros((49, 10)), np.random.default_rng(0))
    with pytest.raises(ValueError, match="spec-augment takes 4 integers"):
        SpecAugment.from_list([1, 2, 3])


def test_batches_cover_every_window_once_per_epoch():
    pytest.importorskip("keras")
    from edgekws.train.specaugment import AugmentedBatches

    x = _windows(25)
    y = np.arange(25)
    batches = AugmentedBatches(x, y, 10, SpecAugment(1, 4, 0, 0), seed=0)
    assert len(batches) == 3
    for _ in range(2):
        seen = np.concatenate([batches[i][1] for i in range(len(batches))])
        assert sorted(seen) == list(range(25))
        xb, yb = batches[0]
        assert xb.shape == (10, 49, 10, 1)
        batches.on_epoch_end()
    with pytest.raises(ValueError, match="no training windows"):
        AugmentedBatches(x[:0], y[:0], 10, SpecAugment())
