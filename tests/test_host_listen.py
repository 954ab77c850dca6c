"""Streaming keyword spotting (``edgekws board listen``, ``enrol --stdin/--mic/--wav``)
against the golden-backed emulator.

Streams are real FSDD utterances (synthetic tone words when the recordings are absent)
separated by silence with a -60 dBFS noise floor. What is checked: the segmenter that cuts
enrolment utterances gives one centred window per utterance and none in silence; the
listener's windows carry the MFCC of the streaming front end, equal bit for bit to the
per-window path (``mfcc()`` and ``board infer``'s frames), also in digital silence; each
detection is what the golden host copy gives on the frame sent, at most one per
utterance, and what ``board infer`` says of that window saved as a WAV file; enrolling
from a stream learns exactly what enrolling from the cut clips as WAV files learns; bad
streams, bad listener options and a missing microphone stack give errors that name the
problem.
"""
from __future__ import annotations

import io
import re
import sys
import types
import wave

import numpy as np
import pytest

from edgekws.cli import main
from edgekws.data.shifts import DEFAULT_SHIFTS, DEFAULT_SPEEDS, shifted_windows
from edgekws.data.wavio import write_wav
from edgekws.golden import Model
from edgekws.golden.fileformat import save
from edgekws.host import listen as L
from edgekws.host.board import Board
from edgekws.host.emulator import serve_tcp

from test_host_board import assert_same_model

RATE = 16000


def _words():
    """``{word: [utterance waves]}``: FSDD digits one/five of one speaker, or tone words."""
    try:
        from edgekws.data.fsdd import list_fsdd
        from edgekws.data.wavio import read_wav
        out = {}
        for digit, word in ((1, "one"), (5, "five")):
            samples = list_fsdd(speakers=["jackson"], digits=[digit])[:7]
            out[word] = [read_wav(s.path) for s in samples]
        return out
    except (FileNotFoundError, ValueError):
        t = np.arange(int(0.45 * RATE)) / RATE
        env = np.sin(np.pi * t / t[-1])
        rng = np.random.default_rng(5)

        def tone(f0, k):
            f = f0 * (1 + 0.03 * k)
            return (0.2 * env * (np.sin(2 * np.pi * f * t) + 0.5 * np.sin(4 * np.pi * f * t))
                    + 0.01 * rng.standard_normal(t.size)).astype(np.float32)
        return {"one": [tone(300, k) for k in range(7)],
                "five": [tone(1500, k) for k in range(7)]}


WORDS = _words()


def make_stream(utterances, seed=0, lead=0.5):
    """int16 stream: ``lead`` s of silence, then each utterance followed by 1.2-1.8 s of
    silence; a -60 dBFS noise floor throughout. Returns the stream and each utterance's
    (first, last) sample."""
    rng = np.random.default_rng(seed)
    parts, spans, at = [np.zeros(int(lead * RATE), np.float32)], [], int(lead * RATE)
    for u in utterances:
        parts.append(u)
        spans.append((at, at + u.size))
        gap = int(RATE * rng.uniform(1.2, 1.8))
        parts.append(np.zeros(gap, np.float32))
        at += u.size + gap
    x = np.concatenate(parts)
    x = x + rng.standard_normal(x.size).astype(np.float32) * 10 ** (-60 / 20)
    return np.clip(np.rint(x * 32768), -32768, 32767).astype(np.int16), spans


def listen_utterances():
    """The utterances listen is tested on: 2 of each word, interleaved."""
    return [WORDS["one"][4], WORDS["five"][4], WORDS["five"][5], WORDS["one"][5]]


def chunks_of(x, n=1000):
    return [x[i:i + n] for i in range(0, x.size, n)]


def run_cli(argv, capsys, stdin: bytes | None = None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def board_state(tmp_path_factory):
    """An emulated board, loaded, with 'one' and 'five' enrolled from streams; yields
    (url, host copy path)."""
    tmp = tmp_path_factory.mktemp("listen")
    state = str(tmp / "board.ekws")
    with serve_tcp(0) as server:
        common = ["--port", server.url, "--state", state]
        assert main(["board", "load", *common]) == 0
        for word in ("one", "five"):
            stream, _ = make_stream(WORDS[word][:4], seed=1)
            old = sys.stdin
            sys.stdin = io.TextIOWrapper(io.BytesIO(stream.tobytes()))
            try:
                assert main(["board", "enrol", *common, "--word", word, "--copies", "10",
                             "--stdin"]) == 0
            finally:
                sys.stdin = old
        yield server.url, state


# -- segmentation alone --------------------------------------------------------------------
@pytest.mark.parametrize("hop", [0.1, 0.25, 0.5])
def test_segmenter_one_centred_window_per_utterance(hop):
    utts = listen_utterances()
    stream, spans = make_stream(utts, seed=2)
    seg = L.Segmenter(hop=hop)
    windows = [w for c in chunks_of(stream, 777) for w in seg.feed(c)] + seg.flush()
    assert len(windows) == len(utts)
    for w, (a, b) in zip(windows, spans):
        # Centred to within half a hop (plus the energy centre's distance from the middle
        # of the recording); with a hop up to 0.25 s the whole utterance is inside.
        assert abs(w.time - (a + b) / 2 / RATE) <= hop / 2 + 0.1
        if hop <= 0.25:
            assert w.start <= a and b <= w.start + RATE, (w.start, a, b)
        np.testing.assert_array_equal(
            w.samples, stream[w.start:w.start + RATE].astype(np.float32) / 32768)


def test_segmenter_silence_and_refractory():
    seg = L.Segmenter()
    rng = np.random.default_rng(0)
    noise = (rng.standard_normal(5 * RATE) * 10 ** (-60 / 20) * 32768).astype(np.int16)
    assert seg.feed(noise) == [] and seg.flush() == []
    # The refractory period is what makes one utterance one window: without it every hop
    # that still has the utterance in the window's first half fires again.
    u = WORDS["one"][0]
    seg = L.Segmenter()
    assert len(seg.feed(u) + seg.flush()) == 1
    seg = L.Segmenter(refractory=0.25)
    assert len(seg.feed(u) + seg.flush()) > 1
    # Two utterances 0.3 s apart: both heard by default, one within a 2 s refractory period.
    close = np.concatenate([u, np.zeros(int(0.3 * RATE), np.float32), u])
    seg = L.Segmenter()
    assert len(seg.feed(close) + seg.flush()) == 2
    seg = L.Segmenter(refractory=2.0)
    assert len(seg.feed(close) + seg.flush()) == 1
    # A louder gate hears nothing.
    seg = L.Segmenter(threshold_db=-3.0)
    assert seg.feed(close) + seg.flush() == []


def test_segmenter_errors():
    with pytest.raises(ValueError, match=r"hop must be a positive number of seconds, not -1"):
        L.Segmenter(hop=-1)
    with pytest.raises(ValueError, match=r"hop must be between .* not 2"):
        L.Segmenter(hop=2)
    with pytest.raises(ValueError, match=r"threshold must be a level in dBFS \(<= 0\), not 6"):
        L.Segmenter(threshold_db=6)
    with pytest.raises(ValueError, match=r"refractory must be .* not nan"):
        L.Segmenter(refractory=float("nan"))
    with pytest.raises(ValueError, match=r"\(mono\), not shape \(10, 2\)"):
        L.Segmenter().feed(np.zeros((10, 2), np.int16))
    with pytest.raises(ValueError, match=r"float in \[-1, 1\] or int16, not dtype int32"):
        L.Segmenter().feed(np.zeros(10, np.int32))
    with pytest.raises(ValueError, match=r"ended after 0 of 2 utterances"):
        L.capture([np.zeros(RATE, np.int16)], L.Segmenter(), 2)
    with pytest.raises(ValueError, match=r"positive integer, not 0"):
        L.capture([], L.Segmenter(), 0)


class _Trickle(io.RawIOBase):
    """A pipe that returns fewer bytes than asked, odd counts included."""

    def __init__(self, data, rng):
        self.data, self.pos, self.rng = data, 0, rng

    def readable(self):
        return True

    def read(self, n=-1):
        k = min(n, int(self.rng.integers(1, 700)))
        out = self.data[self.pos:self.pos + k]
        self.pos += len(out)
        return out


def test_raw_chunks_reassembles_partial_reads(capsys):
    x = np.random.default_rng(3).integers(-32768, 32767, 5001).astype(np.int16)
    data = x.astype("<i2").tobytes()
    got = list(L.raw_chunks(_Trickle(data, np.random.default_rng(4)), 400))
    np.testing.assert_array_equal(np.concatenate(got), x)
    assert max(c.size for c in got) <= 400
    got = list(L.raw_chunks(io.BytesIO(data + b"\x01"), 400))
    np.testing.assert_array_equal(np.concatenate(got), x)
    assert "1 odd byte dropped" in capsys.readouterr().err


# -- the listener's windows ----------------------------------------------------------------
def _silent_stream():
    """Utterances with digital silence (exact zeros) between them, where the per-window
    products' last bits are most fragile."""
    stream, spans = make_stream(listen_utterances(), seed=8)
    quiet = np.ones(stream.size, bool)
    for a, b in spans:
        quiet[max(0, a - 3000):b + 3000] = False
    return np.where(quiet, 0, stream).astype(np.int16), spans


@pytest.mark.parametrize("hop, chunk", [(0.1, 1600), (0.1, 777), (0.02, 4000), (0.24, 333)])
def test_listener_features_equal_the_per_window_path(hop, chunk):
    """Each window's MFCC from the streaming front end equals mfcc() of its second, and its
    uint8 frame the frame `board infer` makes of the same samples, bit for bit."""
    from edgekws.data.mfcc import mfcc
    from edgekws.host.edge import front_end
    from edgekws.models import shipped_model_path
    stream, _ = _silent_stream()
    listener = L.Listener(hop=hop, centre=None)
    windows = [w for c in chunks_of(stream, chunk) for w in listener.feed(c)] + \
        listener.flush()
    step = int(round(hop * RATE))
    assert [w.start for w in windows] == [e - RATE for e in range(
        step, stream.size + RATE + 1, step)]
    heard = [w for w in windows if w.features is not None]
    assert 0 < len(heard) < len(windows)
    padded = np.concatenate([np.zeros(RATE), stream / 32768, np.zeros(RATE)]).astype(np.float32)
    for w in windows:
        np.testing.assert_array_equal(w.samples, padded[w.start + RATE:w.start + 2 * RATE])
    np.testing.assert_array_equal(np.stack([w.features for w in heard]),
                                  mfcc(np.stack([w.samples for w in heard])))
    _, scaling, to_frames = front_end(Model(shipped_model_path()))
    np.testing.assert_array_equal(scaling.to_uint8(np.stack([w.features for w in heard])),
                                  to_frames(np.stack([w.samples for w in heard]))[..., 0])


def test_listener_gate_and_centring():
    stream, spans = _silent_stream()
    gate = L.Listener()

    def centred_at(samples):
        return gate._centre(L._block_power(samples, gate.block))
    every = [w for w in L.Listener(centre=None).feed(stream)]
    centred = [w for w in L.Listener(centre=0.1).feed(stream)]
    assert [w.start for w in every] == [w.start for w in centred]
    for a, b in zip(every, centred):
        # The offset from the block powers computed once equals the window's own.
        centre = centred_at(a.samples)
        assert a.offset == (centre - RATE / 2) / RATE if centre is not None else \
            np.isnan(a.offset)
        assert np.isnan(a.offset) == (a.features is None)      # heard = through the gate
        assert b.offset == a.offset or (np.isnan(a.offset) and np.isnan(b.offset))
        assert (b.features is not None) == (abs(a.offset) <= 0.1)
    # Each utterance is heard, centred, in a few windows around its middle.
    for a, b in spans:
        near = [w for w in centred if w.features is not None and
                abs(w.time - (a + b) / 2 / RATE) < 0.5]
        assert 1 <= len(near) <= 5, (a, b, [w.time for w in near])
    assert all(w.features is None for w in L.Listener(threshold_db=-3.0).feed(stream))


def test_spot_classifies_every_speed_and_keeps_the_heard_frame():
    """classify gets one frame per speed, in the speeds' order (the others from the
    window's samples played at them); a detection's frame is the window as heard, speed 1,
    even when 1 is not among the speeds."""
    from edgekws.data.mfcc import mfcc
    from edgekws.data.shifts import speed_changed
    stream, _ = make_stream(listen_utterances()[:2])
    calls = []

    def classify(*views):
        calls.append(views)
        return L.Scored(np.array([1]), np.array([1.0]), np.array([1.0]))
    listener = L.Listener()
    dets = list(L.spot(chunks_of(stream, 4000), listener, lambda f: f, classify, ["a", "b"],
                       speeds=(1.08, 0.92)))
    assert dets and calls and all(len(v) == 2 for v in calls)
    for d in dets:
        np.testing.assert_array_equal(d.frame, d.window.features)
        want = [mfcc(speed_changed(d.window.samples[None], s), listener.params)
                for s in (1.08, 0.92)]
        assert any(all(np.array_equal(v, w) for v, w in zip(c, want)) for c in calls)


def test_listener_errors():
    with pytest.raises(ValueError, match=r"hop must be a multiple of the 20 ms MFCC stride, "
                                         r"not 0.25"):
        L.Listener(hop=0.25)
    with pytest.raises(ValueError, match=r"hop must be a positive number of seconds, not 0"):
        L.Listener(hop=0)
    with pytest.raises(ValueError, match=r"centre must be a number of seconds >= 0 \(or None: "
                                         r"any\), not -0.1"):
        L.Listener(centre=-0.1)
    with pytest.raises(ValueError, match=r"float in \[-1, 1\] or int16, not dtype int32"):
        L.Listener().feed(np.zeros(10, np.int32))
    with pytest.raises(ValueError, match=r"refractory must be a number of seconds >= 0, "
                                         r"not -1"):
        L.refractory_windows(-1, L.Listener())
    assert L.refractory_windows(1.0, L.Listener(hop=0.1)) == 10
    with pytest.raises(TypeError, match="classify must return a Scored"):
        list(L.spot([make_stream(listen_utterances()[:1])[0]], L.Listener(),
                    lambda f: f, lambda x: np.zeros(len(x), int), ["a"]))
    with pytest.raises(ValueError, match="a speed must be a number between 0.5 and 2 times "
                                         "the recorded rate, not 3.0"):
        list(L.spot([], L.Listener(), lambda f: f, lambda x: None, ["a"], speeds=(1, 3)))


# -- against the emulated board -------------------------------------------------------------
def test_listen_matches_board_golden_and_infer(board_state, capsys, monkeypatch, tmp_path):
    url, state = board_state
    utts = listen_utterances()
    stream, spans = make_stream(utts, seed=3)
    argv = ["board", "listen", "--port", url, "--state", state, "--stdin"]
    code, out, err = run_cli(argv, capsys, stream.tobytes(), monkeypatch)
    assert code == 0, err
    lines = [l.split("\t") for l in out.splitlines()]
    assert f"{len(lines)} detections" in err

    # The same stream through the library, with the frames the board was sent.
    model = Model(state)
    words = model.extra["words"]
    lp = model.learning
    from edgekws.host.edge import front_end
    params, scaling, to_frames = front_end(model)
    with Board(url) as board:
        board.attach(model)

        def classify(*views):
            pots = [board.infer(x, potentials=True, progress=False)[2] for x in views]
            return L.score_windows(pots, lp.num_classes, lp.num_weights)
        dets = list(L.spot(chunks_of(stream, 4000), L.Listener(params),
                           lambda f: scaling.to_uint8(f)[..., None], classify, words,
                           speeds=DEFAULT_SPEEDS))
    assert [[f"{d.time:.2f}", d.word, f"score {d.score:.2f}", f"margin {d.margin:.2f}"]
            for d in dets] == lines
    assert dets, "the default rule heard none of the enrolled words"
    frames = np.stack([d.frame for d in dets])
    # The frames sent are the per-window path's (`board infer`'s to_frames) bit for bit, and
    # the golden host copy, on each window played at each speed as an isolated clip is,
    # gives the printed class, score and margin.
    heard = np.stack([d.window.samples for d in dets])
    np.testing.assert_array_equal(frames, to_frames(heard))
    pots = [model.forward(to_frames(w)).reshape(len(frames), -1)
            for w in shifted_windows(heard, (0.0,), RATE, DEFAULT_SPEEDS)]
    scored = L.score_windows(pots, lp.num_classes, lp.num_weights)
    np.testing.assert_array_equal(scored.label, [d.label for d in dets])
    np.testing.assert_array_equal(scored.score, [d.score for d in dets])
    assert all(d.score >= L.LISTEN_MIN_SCORE and d.margin >= L.LISTEN_MIN_MARGIN for d in dets)
    # At most one detection per utterance (the refractory period), each near one.
    mids = np.array([(a + b) / 2 / RATE for a, b in spans])
    near = [int(np.argmin(np.abs(mids - d.time))) for d in dets]
    assert len(set(near)) == len(near)
    assert all(abs(mids[k] - d.time) <= L.DEFAULT_CENTRE + 0.3 for k, d in zip(near, dets))

    # `board infer` on the fired windows saved as WAV files says the same words.
    wavs = []
    for i, d in enumerate(dets):
        wavs.append(str(tmp_path / f"w{i}.wav"))
        write_wav(wavs[-1], d.window.samples)
    code, out, err = run_cli(["board", "infer", "--port", url, "--state", state,
                              "--min-margin", "0", "--windows", "1", *wavs], capsys)
    assert code == 0, err
    assert [l.split("\t")[1:] for l in out.splitlines()] == [l[1:] for l in lines]
    # By default each file is sent in five windows 50 ms apart, each at five speeds: the
    # golden model's class potentials of the 25 windows, averaged.
    code, out, err = run_cli(["board", "infer", "--port", url, "--state", state,
                              "--min-score", "0", "--min-margin", "0", *wavs], capsys)
    assert code == 0, err
    clips = np.stack([d.window.samples for d in dets])
    windows = [model.forward(to_frames(w)).reshape(len(dets), -1)
               for w in shifted_windows(clips, DEFAULT_SHIFTS, 16000, DEFAULT_SPEEDS)]
    avg = L.score_windows(windows, lp.num_classes, lp.num_weights)
    assert [l.split("\t")[1:] for l in out.splitlines()] == [
        [L.word_of(int(c), words), f"score {sc:.2f}", f"margin {mg:.2f}"]
        for c, sc, mg in zip(avg.label, avg.score, avg.margin)]
    assert not np.array_equal(avg.score, scored.score)
    code, out, err = run_cli(["board", "infer", "--port", url, "--state", state,
                              "--windows", "11", "--window-step", "0.1", *wavs], capsys)
    assert code == 2 and "11 windows 0.1 s apart reach 0.5 s from the clip" in err
    with pytest.raises(SystemExit):
        run_cli(["board", "infer", "--port", url, "--state", state, "--speeds", "0.2", *wavs],
                capsys)
    assert "--speeds: a speed must be a number between 0.5 and 2" in capsys.readouterr().err
    # (Not asserted, as it is the model's quality rather than the listener's: the words.)
    truth = ["one", "five", "five", "one"]
    print("detected", [(d.word, truth[k]) for d, k in zip(dets, near)])


def test_listen_wav_equals_stdin_and_silence_gives_nothing(board_state, capsys, monkeypatch,
                                                           tmp_path):
    url, state = board_state
    stream, _ = make_stream(listen_utterances(), seed=3)
    common = ["board", "listen", "--port", url, "--state", state]
    _, by_stdin, _ = run_cli([*common, "--stdin"], capsys, stream.tobytes(), monkeypatch)
    path = tmp_path / "s.wav"
    write_wav(path, stream)
    code, by_wav, err = run_cli([*common, "--wav", str(path), "--window-hop", "0.1"], capsys)
    assert code == 0, err
    assert by_wav == by_stdin and by_wav.count("\n") >= 1

    quiet, _ = make_stream([], seed=4, lead=6.0)
    code, out, err = run_cli([*common, "--stdin"], capsys, quiet.tobytes(), monkeypatch)
    assert code == 0 and out == "" and "0 detections" in err


def test_stream_enrol_learns_what_wav_enrol_learns(board_state, tmp_path, capsys, monkeypatch):
    """enrol --stdin on a stream == enrol FILE.wav... on the clips the segmenter cut."""
    _, state = board_state
    base = str(tmp_path / "base.ekws")
    model = Model(state)
    save(model, base, extra=model.extra)   # any loaded host copy will do as the start
    stream, _ = make_stream(WORDS["five"][4:7], seed=6)
    seg = L.Segmenter()
    windows = L.capture(chunks_of(stream), seg, 3)
    wavs = []
    for i, w in enumerate(windows):
        wavs.append(str(tmp_path / f"u{i}.wav"))
        write_wav(wavs[-1], w.samples)
    results = []
    for how in ("stream", "files"):
        st = str(tmp_path / f"{how}.ekws")
        with serve_tcp(0) as server:
            common = ["--port", server.url, "--state", st]
            assert main(["board", "load", *common, "--model", base]) == 0
            args = ["board", "enrol", *common, "--word", "again", "--copies", "5"]
            if how == "stream":
                code, out, err = run_cli([*args, "--stdin", "--utterances", "3"], capsys,
                                         stream.tobytes(), monkeypatch)
                assert [l.strip() for l in err.splitlines()[1:]] == [
                    f"utterance {i + 1}/3 at {w.time:.2f} s" for i, w in enumerate(windows)]
            else:
                code, out, err = run_cli([*args, *wavs], capsys)
            assert code == 0, err
            assert "from 18 frames" in out
        results.append(Model(st))
    assert results[0].extra["words"] == results[1].extra["words"] == words_plus(model, "again")
    assert_same_model(results[0], results[1])
    assert results[0].layers[-1].learning.num_classes == model.layers[-1].learning.num_classes + 1


def words_plus(model, word):
    return list(model.extra["words"]) + [word]


# -- errors ----------------------------------------------------------------------------------
def _write(path, channels=1, rate=RATE, width=2):
    with wave.open(str(path), "wb") as f:
        f.setnchannels(channels)
        f.setsampwidth(width)
        f.setframerate(rate)
        f.writeframes(b"\0" * (width * channels * rate))
    return str(path)


def test_stream_errors_name_the_problem(board_state, tmp_path, capsys, monkeypatch):
    url, state = board_state
    common = ["board", "listen", "--port", url, "--state", state]
    cases = [
        (["--wav", _write(tmp_path / "st.wav", channels=2)], r"2 channels; a stream must be mono"),
        (["--wav", _write(tmp_path / "cd.wav", rate=44100)],
         r"sample rate 44100 Hz; a stream must be 16000 Hz"),
        (["--wav", _write(tmp_path / "b8.wav", width=1)], r"8-bit samples; a stream must be 16"),
        (["--stdin", "--device", "2"], r"--device '2' applies to --mic only"),
        (["--stdin", "--window-hop", "0"], r"hop must be a positive number of seconds, not 0.0"),
        (["--stdin", "--window-hop", "0.25"], r"hop must be a multiple of the 20 ms MFCC "
                                              r"stride, not 0.25"),
        (["--stdin", "--wins", "3", "--of", "2"], r"of must be an integer >= wins \(3\)"),
    ]
    for extra, message in cases:
        code, out, err = run_cli([*common, *extra], capsys, b"", monkeypatch)
        assert code == 2 and out == ""
        assert err.startswith("edgekws board: error: ") and re.search(message, err), (extra, err)
    with pytest.raises(SystemExit):
        run_cli([*common, "--stdin", "--centre", "-1"], capsys)
    assert ("argument --centre: expected a number of seconds >= 0 or 'any', not '-1'"
            in capsys.readouterr().err)
    enrol = ["board", "enrol", "--port", url, "--state", state, "--word", "new"]
    code, _, err = run_cli([*enrol, "--stdin", _write(tmp_path / "a.wav")], capsys, b"",
                           monkeypatch)
    assert code == 2 and "not both" in err
    code, _, err = run_cli(enrol, capsys)
    assert code == 2 and "give one" in err
    stream, _ = make_stream(WORDS["one"][:2], seed=7)
    code, _, err = run_cli([*enrol, "--stdin", "--utterances", "3"], capsys, stream.tobytes(),
                           monkeypatch)
    assert code == 2 and "the stream ended after 2 of 3 utterances" in err
    assert Model(state).extra["words"] == ["_unknown_", "one", "five"]   # nothing enrolled


def test_mic_without_sounddevice_or_portaudio(board_state, tmp_path, capsys, monkeypatch):
    url, state = board_state
    argv = ["board", "listen", "--port", url, "--state", state, "--mic"]
    monkeypatch.setitem(sys.modules, "sounddevice", None)     # import fails: not installed
    code, _, err = run_cli(argv, capsys)
    assert code == 2
    assert "no sounddevice package" in err and "pip install 'edgekws[mic]'" in err
    assert "PortAudio" in err
    # Installed, but its import cannot find PortAudio (what sounddevice raises then).
    monkeypatch.delitem(sys.modules, "sounddevice")
    (tmp_path / "sounddevice.py").write_text(
        "raise OSError('PortAudio library not found')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    code, _, err = run_cli(argv, capsys)
    assert code == 2
    assert "cannot load PortAudio (PortAudio library not found)" in err
    assert "pip install 'edgekws[mic]'" in err


def test_mic_stream_through_a_fake_sounddevice(board_state, capsys, monkeypatch):
    """--mic reads blocks from sounddevice.InputStream: same detections as --stdin; Ctrl-C
    ends the listening cleanly and closes the stream."""
    url, state = board_state
    stream, _ = make_stream(listen_utterances(), seed=3)
    opened = []

    class InputStream:
        def __init__(self, **kwargs):
            self.kwargs, self.pos, self.closed = kwargs, 0, False
            opened.append(self)

        def start(self):
            self.started = True

        def read(self, n):
            if self.pos >= stream.size:
                raise KeyboardInterrupt          # the user stops it
            block = stream[self.pos:self.pos + n]
            self.pos += n
            return block.reshape(-1, 1), False

        def stop(self):
            pass

        def close(self):
            self.closed = True

    monkeypatch.setitem(sys.modules, "sounddevice", types.SimpleNamespace(
        InputStream=InputStream))
    common = ["board", "listen", "--port", url, "--state", state]
    code, by_mic, err = run_cli([*common, "--mic", "--device", "3"], capsys)
    assert code == 0, err
    assert "listening to microphone 3" in err
    [s] = opened
    assert s.kwargs == dict(samplerate=16000, channels=1, dtype="int16", blocksize=1600,
                            device=3)
    assert s.started and s.closed
    _, by_stdin, _ = run_cli([*common, "--stdin"], capsys, stream.tobytes(), monkeypatch)
    assert by_mic == by_stdin and by_mic.count("\n") >= 1

    def no_such_device(**kwargs):
        raise ValueError(f"No input device matching {kwargs['device']!r}")
    monkeypatch.setitem(sys.modules, "sounddevice", types.SimpleNamespace(
        InputStream=no_such_device))
    code, out, err = run_cli([*common, "--mic", "--device", "usb"], capsys)
    assert code == 2 and out == ""
    assert "cannot open microphone usb at 16000 Hz mono: No input device matching 'usb'" in err
