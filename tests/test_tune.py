"""Learning-parameter tools: spike statistics, num_weights, neurons-per-class analysis."""
from __future__ import annotations

import numpy as np
import pytest

from edgekws.cli import main
from edgekws.tune import neurons_per_class_analysis, spike_statistics, suggest_num_weights

PNG = b"\x89PNG\r\n\x1a\n"


def spikes_with_counts(counts, width=64, seed=0):
    rng = np.random.default_rng(seed)
    s = np.zeros((len(counts), width), np.uint8)
    for row, c in zip(s, counts):
        row[rng.choice(width, c, replace=False)] = 1
    return s


def test_spike_statistics_and_suggestion(tmp_path):
    counts = [10, 20, 22, 23, 30, 40, 41]
    st = spike_statistics(spikes_with_counts(counts))
    assert st.median == 23 and st.mean == pytest.approx(np.mean(counts))
    assert st.suggested_num_weights == 27  # int(1.2 * 23), the tips tutorial's figure
    values, hist = st.histogram()
    assert hist.sum() == len(counts) and hist[23] == 1 and values[-1] == 64
    st.plot(tmp_path / "h.png")
    assert (tmp_path / "h.png").read_bytes()[:8] == PNG
    assert "suggested num_weights: int(1.2 x median) = 27" in st.report()


def test_suggestion_is_clamped():
    assert suggest_num_weights(0.4) == 1
    assert suggest_num_weights(60, num_inputs=64) == 64


def test_spike_statistics_refuses_non_binary():
    with pytest.raises(ValueError, match="binary .* act_bits 1"):
        spike_statistics(np.full((3, 8), 2))
    with pytest.raises(ValueError, match="either spikes, or a model and its inputs"):
        spike_statistics()


def clustered_class(n=240, prototypes=6, width=64, seed=0):
    rng = np.random.default_rng(seed)
    protos = rng.random((prototypes, width)) < 0.35
    pick = rng.integers(0, prototypes, n)
    return (protos[pick] ^ (rng.random((n, width)) < 0.04)).astype(np.uint8)


def test_more_neurons_lower_loss_and_learned_bounded():
    x = clustered_class()
    res = neurons_per_class_analysis(x, num_weights=26, neurons=[1, 2, 6, 20, 300],
                                     repetitions=2, seed=1)
    assert res.loss[0] > res.loss[2] > 0 or res.loss[2] == 0
    assert res.loss[-1] <= res.loss[0]
    assert (res.learned <= np.minimum(res.neurons, len(x))).all()
    assert res.learned[2] >= 3, "six prototypes should recruit several of six neurons"
    again = neurons_per_class_analysis(x, 26, [1, 2, 6, 20, 300], repetitions=2, seed=1)
    np.testing.assert_array_equal(res.loss, again.loss)  # seeded: reproducible


def test_neurons_analysis_checks_arguments():
    x = clustered_class(10)
    with pytest.raises(ValueError, match="neuron counts must be positive"):
        neurons_per_class_analysis(x, 5, [0, 2])
    with pytest.raises(ValueError, match="repetitions must be a positive integer"):
        neurons_per_class_analysis(x, 5, [2], repetitions=0)


def test_cli_num_weights_and_neurons(tmp_path, capsys):
    x = clustered_class(200)
    y = np.repeat([0, 1], 100)
    np.save(tmp_path / "s.npy", x)
    np.save(tmp_path / "y.npy", y)
    assert main(["tune", "num-weights", "--spikes", str(tmp_path / "s.npy"), "--fraction", "1",
                 "--plot", str(tmp_path / "h.png")]) == 0
    out = capsys.readouterr().out
    assert "suggested num_weights" in out and (tmp_path / "h.png").exists()
    assert main(["tune", "neurons-per-class", "--spikes", str(tmp_path / "s.npy"),
                 "--labels", str(tmp_path / "y.npy"), "--class", "1", "--neurons", "2,5,10",
                 "--plot", str(tmp_path / "n.png")]) == 0
    out = capsys.readouterr().out
    assert "100 samples" in out and (tmp_path / "n.png").read_bytes()[:8] == PNG


def test_cli_errors_are_one_clear_line(tmp_path, capsys):
    assert main(["tune", "num-weights", "--spikes", str(tmp_path / "nope.npy")]) == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "bad.npy").write_text("hello")
    assert main(["tune", "num-weights", "--spikes", str(tmp_path / "bad.npy")]) == 2
    assert "is not a numpy .npy/.npz file" in capsys.readouterr().err
    assert main(["tune", "num-weights"]) == 2
    assert "give --spikes, or --model with --inputs" in capsys.readouterr().err


# -- edgekws tune spikes: the tutorial's spikes of a corpus split -----------------------------
@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    from edgekws.data.fake import make_fake_speech_commands
    root = tmp_path_factory.mktemp("tune_spikes")
    # "backward" is one of the tutorial's new words: it must not appear in the labels.
    make_fake_speech_commands(root / "corpus", words=("yes", "no", "up", "backward"),
                              speakers=4, per_speaker=2, seed=3)
    return root


def _expected(model_path, corpus, split_attr):
    """Spikes and labels computed without the command: MFCCs of the split's samples,
    scaled with the model's stored scaling, through the extractor."""
    from edgekws.data.features import compute_features
    from edgekws.data.mfcc import MfccScaling
    from edgekws.data.speech_commands import load_speech_commands
    from edgekws.tutorial.edge_learning import NEW_WORDS, extractor_of, spike_encoder
    ext, _, extra = extractor_of(model_path)
    ds = load_speech_commands(corpus, exclude=NEW_WORDS)
    items = getattr(ds, split_attr)
    x, y = compute_features(items)
    enc = spike_encoder(ext, MfccScaling.from_dict(extra["mfcc_scaling"]))
    return enc(x).reshape(len(x), -1), y, items, ds


@pytest.mark.parametrize("split,attr", [("train", "train"), ("validation", "val")])
def test_cli_spikes_equal_the_encoder_and_labels_match(tiny_corpus, split, attr, capsys):
    from edgekws.models import shipped_model_path
    model = shipped_model_path()
    corpus = tiny_corpus / "corpus"
    out, lab = tiny_corpus / f"s-{split}.npy", tiny_corpus / f"y-{split}.npy"
    assert main(["tune", "spikes", "--model", str(model), "--corpus", str(corpus),
                 "--split", split, "--cache", str(tiny_corpus / "cache"),
                 "--out", str(out), "--labels-out", str(lab)]) == 0
    assert "(separable_4)" in capsys.readouterr().out
    spikes, labels = np.load(out), np.load(lab)
    want_s, want_y, items, ds = _expected(model, corpus, attr)
    assert spikes.dtype == np.uint8 and spikes.shape == (len(items), 64)
    np.testing.assert_array_equal(spikes, want_s)
    assert labels.dtype == np.int32
    np.testing.assert_array_equal(labels, want_y)
    # The labels are the tutorial's classes: the new words are left out, silence is in.
    assert "backward" not in ds.word_to_index
    words = [s.word for s in items]
    assert "backward" not in words and any(w == "yes" for w in words)
    np.testing.assert_array_equal(labels, [ds.word_to_index[w] for w in words])
    # The class names beside the labels, in label order (for neurons-per-class --class).
    names = (tiny_corpus / f"y-{split}.words.txt").read_text().split()
    assert names == sorted(ds.word_to_index, key=ds.word_to_index.get)
    assert not list(tiny_corpus.glob("*.tmp"))  # atomic writes leave nothing behind


def test_cli_spikes_errors(tiny_corpus, tmp_path, capsys):
    from edgekws.golden import Model, fileformat
    from edgekws.models import shipped_model_path
    model = shipped_model_path()
    out = str(tmp_path / "s.npy")
    assert main(["tune", "spikes", "--model", str(model), "--corpus", str(tmp_path / "none"),
                 "--out", out]) == 2
    assert "does not exist" in capsys.readouterr().err and not (tmp_path / "s.npy").exists()
    # A model that ends in 4-bit activations (separable_3) has no spike layer to learn on.
    m = Model(model)
    extra = m.extra
    m.pop_layer()
    m.pop_layer()
    fileformat.save(m, tmp_path / "no_spikes.ekws", extra=extra)
    assert main(["tune", "spikes", "--model", str(tmp_path / "no_spikes.ekws"),
                 "--corpus", str(tiny_corpus / "corpus"), "--out", out]) == 2
    err = capsys.readouterr().err
    assert "'separable_3' outputs 4-bit values" in err and "1-bit spikes" in err
    assert not (tmp_path / "s.npy").exists()
