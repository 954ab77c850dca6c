"""``edgekws model summary``: the shipped model and a corrupted file."""
from edgekws.cli import main
from edgekws.models import shipped_model_path


def test_summary_of_the_shipped_model(capsys):
    assert main(["model", "summary", shipped_model_path()]) == 0
    out = capsys.readouterr().out
    assert "conv_0 (InputConv.)" in out and "separable_4 (Sep.Conv.)" in out
    from edgekws.golden import Model
    words = Model(shipped_model_path()).extra["words"]
    assert words[0] == "_silence_" and "yes" in words
    assert f"classes ({len(words)}): _silence_, {words[1]}" in out


def test_summary_refuses_a_corrupted_file(tmp_path, capsys):
    data = open(shipped_model_path(), "rb").read()
    bad = tmp_path / "bad.ekws"
    bad.write_bytes(data[:-100])
    assert main(["model", "summary", str(bad)]) == 2
    assert "corrupted or truncated" in capsys.readouterr().err
