"""On-disk feature cache: keys, reuse, invalidation, corruption, augmentation."""
import os

import numpy as np
import pytest

from edgekws.data import features as F
from edgekws.data.fake import make_fake_speech_commands
from edgekws.data.fsdd import FsddSample
from edgekws.data.mfcc import MfccParams, mfcc
from edgekws.data.speech_commands import load_speech_commands, load_waves


@pytest.fixture
def dataset(tmp_path):
    root = tmp_path / "sc"
    make_fake_speech_commands(root, words=("yes", "no"), speakers=3, per_speaker=2)
    return load_speech_commands(root, silence_percentage=20, seed=1)


def test_build_then_reuse(dataset, tmp_path):
    items = dataset.train
    first = F.cached_features(items, tmp_path / "cache", name="train")
    assert first.built and first.path.exists()
    assert first.x.shape == (len(items), 49, 10) and first.x.dtype == np.float32
    np.testing.assert_array_equal(first.y, [s.label for s in items])
    np.testing.assert_array_equal(first.x, mfcc(load_waves(items)))
    second = F.cached_features(items, tmp_path / "cache", name="train")
    assert not second.built and second.path == first.path
    np.testing.assert_array_equal(second.x, first.x)
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [first.path.name]  # no temp left


def test_changed_file_or_params_change_the_key(dataset, tmp_path):
    items = dataset.val
    key = F.feature_key(items)
    assert F.feature_key(items) == key
    assert F.feature_key(items, params=MfccParams(coefficients=8)) != key
    assert F.feature_key(items, augment_copies=2, augment_seed=1) != \
        F.feature_key(items, augment_copies=2, augment_seed=2)
    first = F.cached_features(items, tmp_path / "c")
    st = os.stat(items[0].path)
    os.utime(items[0].path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert F.feature_key(items) != key
    again = F.cached_features(items, tmp_path / "c")
    assert again.built and again.path != first.path


def test_corrupt_cache_is_rebuilt(dataset, tmp_path):
    items = dataset.val
    first = F.cached_features(items, tmp_path / "c")
    first.path.write_bytes(b"PK\x03\x04 definitely not a zip")
    again = F.cached_features(items, tmp_path / "c")
    assert again.built
    np.testing.assert_array_equal(again.x, first.x)
    assert not F.cached_features(items, tmp_path / "c").built  # and it is valid again


def test_cache_with_wrong_contents_is_rebuilt(dataset, tmp_path):
    items = dataset.val
    first = F.cached_features(items, tmp_path / "c")
    np.savez(first.path, x=first.x[:1], y=first.y[:1], key=np.array(first.key))
    again = F.cached_features(items, tmp_path / "c")
    assert again.built and again.x.shape[0] == len(items)


def test_augmented_copies(dataset, tmp_path):
    items = dataset.train
    fs = F.cached_features(items, tmp_path / "c", augment_copies=3, augment_seed=4,
                           noise_files=dataset.noise_files)
    n = len(items)
    assert fs.x.shape == (4 * n, 49, 10)
    np.testing.assert_array_equal(fs.y[n:], np.repeat(fs.y[:n], 3))
    assert not np.array_equal(fs.x[n], fs.x[0])
    x2, _ = F.compute_features(items, augment_copies=3, augment_seed=4,
                               noise_files=dataset.noise_files)
    np.testing.assert_array_equal(x2, fs.x)


def test_parallel_equals_serial(dataset, monkeypatch):
    monkeypatch.setattr(F, "_CHUNK", 3)
    items = dataset.train
    serial, y1 = F.compute_features(items, workers=1)
    parallel, y2 = F.compute_features(items, workers=2)
    np.testing.assert_array_equal(serial, parallel)
    np.testing.assert_array_equal(y1, y2)


def test_errors(dataset, tmp_path):
    fsdd_item = FsddSample(dataset.train[0].path, 3, "x", 0)
    with pytest.raises(ValueError, match="labels are required"):
        F.feature_key([fsdd_item])
    with pytest.raises(ValueError, match=r"labels must be 1 integers, not shape \(2,\)"):
        F.feature_key([fsdd_item], labels=[1, 2])
    with pytest.raises(ValueError, match="items must be Sample or FsddSample, not str"):
        F.feature_key(["a.wav"], labels=[0])
    with pytest.raises(ValueError, match="cache name must be a plain file name stem"):
        F.cached_features(dataset.val, tmp_path, name="../x")
    with pytest.raises(ValueError, match="augment_copies must be an integer >= 0, not -1"):
        F.compute_features(dataset.val, augment_copies=-1)
    missing = [dataset.val[0].__class__("/nonexistent/a_nohash_0.wav", "yes", 1)]
    with pytest.raises(ValueError, match="a_nohash_0.wav: file does not exist"):
        F.feature_key(missing)
