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
