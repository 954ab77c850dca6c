"""``edgekws train`` end to end on a tiny fake corpus: files, metadata, agreement, errors."""
import json

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from edgekws import cli  # noqa: E402
from edgekws.data.fake import make_fake_speech_commands  # noqa: E402
from edgekws.data.mfcc import MfccScaling  # noqa: E402
from edgekws.golden import Model  # noqa: E402


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("train")
    root = tmp / "corpus"
    make_fake_speech_commands(root, words=("yes", "no", "up"), speakers=6, per_speaker=4,
                              val_speakers=1, test_speakers=1)
    out = tmp / "out"
    model = tmp / "kws.ekws"
    rc = cli.main(["train", "--root", str(root), "--out-dir", str(out), "--model", str(model),
                   "--float-epochs", "5", "--qat-epochs", "1", "--filters", "8",
                   "--batch-size", "16", "--lr", "3e-3", "--qat-lr", "1e-3", "--threads", "1",
                   "--workers", "1", "--eager", "--quiet"])
    return rc, out, model


def test_registered():
    assert "edgekws.train.cli" in cli.COMMAND_MODULES


def test_outputs_written(trained):
    rc, out, model = trained
    assert rc == 0
    for name in ("report.json", "report.md", "confusion.png", "keras/model.weights.h5",
                 "keras/model.json"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    assert "golden integer model (converted)" in (out / "report.md").read_text()


def test_report_and_agreement(trained):
    _, out, _ = trained
    rep = json.loads((out / "report.json").read_text())
    assert rep["num_classes"] == 4 and rep["words"] == ["_silence_", "no", "up", "yes"]
    assert rep["conversion"]["class_agreement"] == 1.0
    assert rep["conversion"]["logits_equal"] == 1.0
    assert all(v["activation_agreement"] == 1.0 for v in rep["conversion"]["layers"].values())
    acc = rep["accuracy"]
    assert acc["golden"]["val"] == acc["quantized"]["val"]
    assert acc["golden"]["test"] == acc["quantized"]["test"]
    hist = rep["history"]["float"]["loss"]
    assert len(hist) == 5 and hist[-1] < hist[0]      # it learns
    assert np.array(rep["confusion"]).sum() == rep["samples"]["test"]


def test_model_file_metadata(trained):
    _, _, model = trained
    m = Model(str(model))
    extra = m.extra
    assert extra["format"] == "edgekws-kws-model"
    assert extra["words"] == ["_silence_", "no", "up", "yes"]
    scaling = MfccScaling.from_dict(extra["mfcc_scaling"])
    assert len(scaling.scale) == 10               # per MFCC coefficient
    assert extra["mfcc"]["coefficients"] == 10
    assert [l.name for l in m.layers][-1] == "dense_5"
    x = np.random.default_rng(0).integers(0, 256, (4, 49, 10, 1), dtype=np.uint8)
    assert m.predict_classes(x, num_classes=4).shape == (4,)


def test_fine_tune_with_the_prototype_head(trained, tmp_path):
    """--init-qat + --prototype-weight: QAT resumes from the saved quantized model with the
    prototype loss added; conversion stays exact and the Dense head still predicts."""
    _, out, _ = trained
    root = out.parent / "corpus"
    ft = tmp_path / "ft"
    rc = cli.main(["train", "--root", str(root), "--out-dir", str(ft), "--cache",
                   str(out / "features"), "--init-qat", str(out / "keras"), "--qat-epochs", "1",
                   "--prototype-weight", "1", "--prototype-per-class", "3", "--filters", "8",
                   "--batch-size", "16", "--qat-lr", "1e-3", "--threads", "1", "--workers", "1",
                   "--eager", "--quiet"])
    assert rc == 0
    rep = json.loads((ft / "report.json").read_text())
    assert rep["config"]["init_qat"] == str(out / "keras")
    assert rep["config"]["prototype_weight"] == 1.0
    assert "float" not in rep["accuracy"] and not (ft / "keras-float").exists()
    before = json.loads((out / "report.json").read_text())["accuracy"]["quantized"]["val"]
    assert rep["accuracy"]["quantized_before_qat"]["val"] == before   # the same model resumed
    hist = rep["history"]["qat"]
    assert len(hist["proto_loss"]) == 1 and hist["proto_loss"][0] > 0
    assert rep["conversion"]["class_agreement"] == 1.0
    assert rep["conversion"]["logits_equal"] == 1.0
    assert [l.name for l in Model(str(ft / "ds_cnn_kws.ekws")).layers][-1] == "dense_5"


def test_spec_augment_fine_tune_stays_exact(trained, tmp_path):
    """--spec-augment masks the training windows; the converted model is still exact."""
    _, out, _ = trained
    ft = tmp_path / "sa"
    rc = cli.main(["train", "--root", str(out.parent / "corpus"), "--out-dir", str(ft),
                   "--cache", str(out / "features"), "--init-qat", str(out / "keras"),
                   "--qat-epochs", "1", "--spec-augment", "2", "6", "1", "2", "--filters", "8",
                   "--batch-size", "16", "--threads", "1", "--workers", "1", "--eager",
                   "--quiet"])
    assert rc == 0
    rep = json.loads((ft / "report.json").read_text())
    assert rep["config"]["spec_augment"] == {"time_masks": 2, "time_width": 6,
                                             "freq_masks": 1, "freq_width": 2}
    assert len(rep["history"]["qat"]["loss"]) == 1
    assert rep["conversion"]["class_agreement"] == 1.0
    assert rep["conversion"]["logits_equal"] == 1.0


def test_spec_augment_wider_than_the_window_is_refused_before_work(tmp_path, capsys):
    rc = cli.main(["train", "--root", str(tmp_path / "nope"), "--out-dir", str(tmp_path / "o"),
                   "--spec-augment", "1", "60", "0", "0", "--quiet"])
    assert rc == 2
    assert "time_width must be at most the window's 49 frames, not 60" in \
        capsys.readouterr().err


def test_init_qat_needs_a_quantized_model(trained, tmp_path, capsys):
    _, out, _ = trained
    rc = cli.main(["train", "--root", str(out.parent / "corpus"), "--out-dir",
                   str(tmp_path / "o"), "--cache", str(out / "features"), "--init-qat",
                   str(out / "keras-float"), "--filters", "8", "--threads", "1", "--workers",
                   "1", "--quiet"])
    assert rc == 2
    assert "a quantized model with 4 classes and 8 filters is needed" in capsys.readouterr().err


def test_missing_corpus_is_a_clear_error(tmp_path, capsys):
    rc = cli.main(["train", "--root", str(tmp_path / "nope"), "--out-dir", str(tmp_path / "o"),
                   "--quiet"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "edgekws train: error:" in err and "nope" in err


def test_bad_option_values(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--root", "x", "--float-epochs", "-1"])
    assert "expected an integer >= 0, not '-1'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["train", "--root", "x", "--lr", "0"])
    assert "expected a positive number, not '0'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["train", "--root", "x", "--prototype-weight", "-1"])
    assert "expected a number >= 0, not '-1'" in capsys.readouterr().err


def test_distribution_is_the_default_strategy_without_several_gpus():
    from edgekws.train.tfsetup import distribution, tensorflow
    tf = tensorflow()
    strategy = distribution()
    if len(tf.config.list_physical_devices("GPU")) > 1:
        assert isinstance(strategy, tf.distribute.MirroredStrategy)
        assert strategy.num_replicas_in_sync == len(tf.config.list_physical_devices("GPU"))
    else:
        assert strategy is tf.distribute.get_strategy()
        assert strategy.num_replicas_in_sync == 1
