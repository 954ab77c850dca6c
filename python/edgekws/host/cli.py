"""``edgekws board ...``: emulate a board, load it, infer WAV files, enrol new words.

The board holds the model; the host keeps a copy of it (``--state``, a ``.ekws`` file
with the word list and the MFCC scaling in its metadata) written by ``load`` and
``enrol`` and read by ``infer``::

    edgekws board emulate --tcp 7777 &                      # prints socket://127.0.0.1:7777
    edgekws board simulate --port 7777 &                    # the same, the gateware in Verilator
    edgekws board load --port socket://127.0.0.1:7777 --state board.ekws
    edgekws board enrol --port socket://127.0.0.1:7777 --state board.ekws --word hello a.wav b.wav
    edgekws board infer --port socket://127.0.0.1:7777 --state board.ekws c.wav
    arecord -f S16_LE -r 16000 -c 1 -t raw | \\
        edgekws board listen --port socket://127.0.0.1:7777 --state board.ekws --stdin

``listen`` and ``enrol --stdin/--mic/--wav`` cut a live stream into utterances
(:mod:`edgekws.host.listen`). ``soak`` sends a board many requests and checks every
answer against the golden model; with ``--fault RATE`` it damages some on the way
(:mod:`edgekws.host.soak`)::

    edgekws board soak --target simulated --frames 10000 --out build/soak-simulated.json
    edgekws board soak --target emulator --frames 2000 --fault 0.05
"""
from __future__ import annotations

import sys

from edgekws import limits
from edgekws.cliargs import (fraction, int_range, nonneg_int, output_file, positive_int,
                             tcp_port, timeout_seconds, word)

#: IDENTIFY and the learning registers count neurons in u16.
_MAX_NEURONS = 0xFFFF
#: ``board simulate --waves`` without a file name: under the (git-ignored) build folder.
WAVES_DEFAULT = "build/waves/board.vcd"


def add_cli(sub) -> None:
    from edgekws.protocol import DEFAULT_BAUDRATE
    p = sub.add_parser("board", help="drive a board (or its emulator) over the UART protocol",
                       description=__doc__)
    bsub = p.add_subparsers(dest="board_command", metavar="ACTION")
    bsub.required = True

    _add_server_commands(bsub)
    _add_soak_command(bsub)

    def port_args(q):
        q.add_argument("--port", required=True,
                       help="pyserial URL: /dev/ttyUSB1, socket://127.0.0.1:7777, a pty "
                       "path, or unix://PATH")
        q.add_argument("--token-file", metavar="FILE", default=None,
                       help="the token file of a board server started with --token-file")
        q.add_argument("--baudrate", type=positive_int, default=None,
                       help=f"serial speed (default: {DEFAULT_BAUDRATE}; not used by "
                       "socket://)")
        q.add_argument("--timeout", type=timeout_seconds, default=2.0,
                       help="seconds to wait for each reply before a retry")
        q.add_argument("--retries", type=int_range(0, 100), default=3,
                       help="extra attempts after a timeout or a damaged reply")

    i = bsub.add_parser("identify", help="print the board's build parameters and counters")
    port_args(i)
    i.set_defaults(func=_identify)

    lo = bsub.add_parser("load", help="load a model onto the board and save the host copy")
    port_args(lo)
    lo.add_argument("--model", default=None,
                    help="model (.ekws); a model without a learning layer (default: the "
                         "shipped one) gets its extractor and a fresh learning layer")
    lo.add_argument("--state", default="board.ekws", help="host copy to write")
    lo.add_argument("--neurons-per-class", type=int_range(1, _MAX_NEURONS), default=15,
                    help="neurons per class of a fresh learning layer")
    lo.add_argument("--num-weights", type=positive_int, default=12,
                    help="num_weights of a fresh learning layer")
    lo.add_argument("--competition", type=float, default=0.1, help="learning_competition")
    lo.add_argument("--first-word", type=word, default="_unknown_",
                    help="name of the fresh layer's single initial class")
    lo.add_argument("--seed", type=int, default=0, help="seed of the fresh layer's weights")
    lo.set_defaults(func=_load)

    def score_args(q):
        from edgekws.cliargs import fraction

        from .listen import DEFAULT_MIN_MARGIN, DEFAULT_MIN_SCORE
        q.add_argument("--min-score", type=fraction, default=DEFAULT_MIN_SCORE, metavar="FRACTION",
                       help="reject (print _unknown_) a match whose best neuron sees less "
                            "than this fraction of its num_weights spikes (default "
                            f"{DEFAULT_MIN_SCORE:g}, chosen on real streams: "
                            "docs/real-speech.md)")
        q.add_argument("--min-margin", type=fraction, default=DEFAULT_MIN_MARGIN,
                       metavar="FRACTION",
                       help="reject a match that beats the next class by less than this "
                            f"fraction of num_weights (default {DEFAULT_MIN_MARGIN:g})")

    inf = bsub.add_parser("infer", help="print the word the board hears in each WAV file, "
                                        "with its score and margin")
    port_args(inf)
    inf.add_argument("--state", default="board.ekws", help="host copy written by load/enrol")
    score_args(inf)
    from edgekws.data.shifts import add_window_args
    add_window_args(inf, "send")
    inf.add_argument("files", nargs="+", metavar="FILE.wav",
                     help="16-bit PCM WAV files (any rate: resampled to 16 kHz), one "
                     "utterance each")
    inf.set_defaults(func=_infer)

    def stream_args(q, required, hop=0.25):
        g = q.add_mutually_exclusive_group(required=required)
        g.add_argument("--wav", metavar="FILE",
                       help="a 16 kHz mono 16-bit WAV recording, streamed as if live")
        g.add_argument("--stdin", action="store_true",
                       help="raw 16 kHz mono s16le audio on standard input "
                            "(arecord -f S16_LE -r 16000 -c 1 -t raw | ...)")
        g.add_argument("--mic", action="store_true",
                       help="the microphone (needs pip install 'edgekws[mic]' and PortAudio)")
        q.add_argument("--device", default=None,
                       help="with --mic: sounddevice input device number or name")
        q.add_argument("--window-hop", type=float, default=hop, metavar="SECONDS",
                       help="look at the last second of audio every SECONDS")
        from .listen import DEFAULT_GATE_DB
        q.add_argument("--threshold", type=float, default=DEFAULT_GATE_DB, metavar="DBFS",
                       help="energy gate: 20 ms blocks quieter than this are silence "
                            f"(default {DEFAULT_GATE_DB:g})")
        q.add_argument("--refractory", type=float, default=1.0, metavar="SECONDS",
                       help="after a detection, ignore the stream for SECONDS")

    en = bsub.add_parser("enrol", help="learn a new word on the board from a few WAV files "
                                       "or utterances cut from a live stream")
    port_args(en)
    en.add_argument("--state", default="board.ekws", help="host copy (read, then updated)")
    en.add_argument("--word", type=word, required=True, help="the new word's name")
    en.add_argument("--copies", type=int_range(1, limits.ENROL_MAX_COPIES), default=40,
                    help="augmented copies per utterance")
    en.add_argument("--seed", type=int, default=0,
                    help="seed of the augmentation and the new neurons")
    en.add_argument("--utterances", type=int_range(1, 100), default=4,
                    help="from a stream: how many utterances to capture")
    stream_args(en, required=False)
    en.add_argument("files", nargs="*", metavar="FILE.wav", help="one utterance per file")
    en.set_defaults(func=_enrol)

    from . import listen as L
    li = bsub.add_parser("listen", help="spot words in a live stream: print time and word "
                                        "of each utterance")
    port_args(li)
    li.add_argument("--state", default="board.ekws", help="host copy written by load/enrol")
    stream_args(li, required=True, hop=L.DEFAULT_HOP)
    from edgekws.cliargs import fraction, seconds_or_any
    h = li.add_argument_group("hit rule (docs/real-speech.md): a word fires when it wins "
                              "--wins of the last --of windows with --min-score and "
                              "--min-margin, then nothing for --refractory seconds")
    h.add_argument("--wins", type=positive_int, default=L.DEFAULT_WINS, metavar="N",
                   help=f"votes a word needs (default {L.DEFAULT_WINS})")
    h.add_argument("--of", type=positive_int, default=L.DEFAULT_OF, metavar="M",
                   help=f"windows looked back over (default {L.DEFAULT_OF})")
    h.add_argument("--min-score", type=fraction, default=L.LISTEN_MIN_SCORE,
                   metavar="FRACTION", help="a window votes only when its best neuron sees "
                   "at least this fraction of its num_weights spikes (default "
                   f"{L.LISTEN_MIN_SCORE:g})")
    h.add_argument("--min-margin", type=fraction, default=L.LISTEN_MIN_MARGIN,
                   metavar="FRACTION", help="... and beats the next class by this fraction "
                   f"of num_weights (default {L.LISTEN_MIN_MARGIN:g})")
    h.add_argument("--centre", type=seconds_or_any, default=L.DEFAULT_CENTRE,
                   metavar="SECONDS", help="classify only windows whose sound is centred "
                   "within SECONDS of their middle, or 'any' (default "
                   f"{'any' if L.DEFAULT_CENTRE is None else f'{L.DEFAULT_CENTRE:g}'})")
    from edgekws.data.shifts import add_speed_arg
    add_speed_arg(li, "each heard window (one INFER per speed)")
    li.set_defaults(func=_listen)


def _add_server_commands(bsub) -> None:
    """``board emulate`` and ``board simulate``: the two board servers."""
    e = bsub.add_parser("emulate", help="serve a golden-model emulated board; prints its URL")
    g = e.add_mutually_exclusive_group()
    g.add_argument("--tcp", type=tcp_port, metavar="PORT", default=None,
                   help="listen on socket://127.0.0.1:PORT (loopback only; 0 = any free)")
    g.add_argument("--pty", action="store_true", help="serve on a pseudo-terminal (default; "
                   "mode 0600: this user only)")
    _unix_arg(g)
    _token_arg(e)
    e.add_argument("--max-neurons", type=int_range(1, _MAX_NEURONS), default=1024,
                   help="neurons of the emulated learning core")
    _idle_arg(e)
    e.set_defaults(func=_emulate)

    sm = bsub.add_parser("simulate", help="serve the Verilator-simulated gateware top "
                         "(rtl/edgekws_board.v) on loopback TCP; prints its URL")
    g = sm.add_mutually_exclusive_group()
    g.add_argument("--port", type=tcp_port, default=0,
                   help="listen on socket://127.0.0.1:PORT (0 = any free)")
    _unix_arg(g)
    _token_arg(sm)
    sm.add_argument("--reset-on-connect", action="store_true",
                    help="reset the design whenever a client connects")
    sm.add_argument("--waves", nargs="?", const=WAVES_DEFAULT, default=None, metavar="VCD",
                    help="write a VCD of every simulated cycle (a traced build; default "
                    f"file {WAVES_DEFAULT}); complete when the board stops")
    _idle_arg(sm)
    sm.set_defaults(func=_simulate)


def _add_soak_command(bsub) -> None:
    """``board soak``: many requests to a board, every answer checked; the fault mode."""
    from . import soak
    s = bsub.add_parser("soak", help="send a board many requests and check every answer "
                        "against the golden model; --fault damages some (make soak, make "
                        "fault)", description=soak.__doc__)
    s.add_argument("--target", default="emulator",
                   help=f"{' or '.join(soak.TARGETS)} (served for the run), or the "
                   "pyserial URL of a running board (socket://127.0.0.1:7777, /dev/ttyUSB1)")
    s.add_argument("--frames", type=positive_int, default=10000, help="requests to send")
    s.add_argument("--fault", type=fraction, default=0.0, metavar="RATE",
                   help="probability that an attempt is damaged (0 = plain soak)")
    s.add_argument("--infer-every", type=nonneg_int, default=50, metavar="N",
                   help="every Nth request is a full INFER (0 = spikes only)")
    s.add_argument("--check-every", type=nonneg_int, default=500, metavar="N",
                   help="read the learned state back every N requests and at the end "
                   "(0 = only at the end)")
    s.add_argument("--timeout", type=timeout_seconds, default=None, metavar="SECONDS",
                   help="per attempt of a spikes request (default: 10x the measured time "
                   "of one, at least 0.5)")
    s.add_argument("--infer-timeout", type=timeout_seconds, default=None, metavar="SECONDS",
                   help="per attempt of a full INFER (default: 5x the measured time of "
                   "one, at least 5)")
    s.add_argument("--retries", type=int_range(0, 100), default=6,
                   help="extra attempts after a timeout or a damaged reply")
    s.add_argument("--seed", type=nonneg_int, default=0,
                   help="seed of the requests, the model and the damage")
    s.add_argument("--out", type=output_file, default=None, metavar="FILE",
                   help="also write the result as JSON (its folder is created)")
    s.set_defaults(func=_soak)


def _soak(args) -> int:
    import json
    import os
    from dataclasses import asdict

    from edgekws.atomicio import atomic_write
    from edgekws.extras import require

    from .soak import soak
    needs = [("serial", None, "pyserial")]
    if args.target == "simulated":
        needs += [("amaranth", "sim", "Amaranth"), ("verilator", "sim", "Verilator")]
    for module, extra, name in needs:
        require(module, extra, "edgekws board soak", name)
    if args.out:     # before the run: a soak of the simulated board takes minutes
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    res = soak(args.target, args.frames, fault=args.fault, infer_every=args.infer_every,
               check_every=args.check_every, seed=args.seed, timeout=args.timeout,
               infer_timeout=args.infer_timeout, retries=args.retries,
               progress=sys.stderr.isatty() and not args.quiet)
    print(res.table())
    if res.simulator:
        print("simulator: " + ", ".join(f"{k}={v}" for k, v in res.simulator.items()))
    if args.out:
        atomic_write(args.out, json.dumps(asdict(res), indent=2).encode())
    return 0 if res.undetected_errors == 0 and res.hangs == 0 else 1


def _unix_arg(group) -> None:
    group.add_argument("--unix", metavar="PATH", default=None,
                       help="listen on a Unix-domain socket (mode 0600: this user only); "
                       "clients use --port unix://PATH")


def _token_arg(q):
    q.add_argument("--token-file", metavar="FILE", default=None,
                   help="serve only clients that hold the token in FILE (created, mode "
                   "0600, if missing; clients give the same --token-file)")


def _access(args):
    """``(token or None, what to tell the user)`` of a server's --token-file/--unix."""
    from .access import load_or_create_token
    tcp = args.unix is None and (args.board_command == "simulate" or args.tcp is not None)
    if args.token_file is None:
        return None, ("any local user can use this board: on a shared machine serve with "
                      "--unix PATH or --token-file FILE") if tcp else None
    if not tcp and args.unix is None:
        raise ValueError("--token-file applies to --tcp or --unix, not to a pty")
    token = load_or_create_token(args.token_file)
    return token, f"clients need --token-file {args.token_file}"


def _idle_arg(q):
    q.add_argument("--idle-timeout", type=timeout_seconds, default=limits.SERVER_IDLE_SECONDS,
                   metavar="SECONDS", help="TCP: disconnect a client silent this long "
                   f"(default {limits.SERVER_IDLE_SECONDS:g})")


def _board(args):
    from edgekws import protocol as p
    from edgekws.extras import require
    from .board import Board
    require("serial", None, f"edgekws board {args.board_command}", "pyserial")
    return Board(args.port, baudrate=args.baudrate or p.DEFAULT_BAUDRATE,
                 timeout=args.timeout, retries=args.retries,
                 progress=sys.stderr.isatty() and not args.quiet,
                 token_file=args.token_file)


def _emulate(args) -> int:
    from .emulator import Emulator, serve_pty, serve_tcp, serve_unix
    token, note = _access(args)
    emu = Emulator(max_neurons=args.max_neurons)
    if args.unix is not None:
        server = serve_unix(args.unix, emu, idle=args.idle_timeout, token=token)
    elif args.tcp is not None:
        server = serve_tcp(args.tcp, emu, idle=args.idle_timeout, token=token)
    else:
        server = serve_pty(emu)
    print(server.url, flush=True)
    print("emulated board ready (Ctrl-C to stop)" + (f"; {note}" if note else ""),
          file=sys.stderr, flush=True)
    server.wait()
    return 0


def _simulate(args) -> int:
    from edgekws.extras import require
    from .simboard import serve_simulated
    for module, name in (("amaranth", "Amaranth"), ("verilator", "Verilator")):
        require(module, "sim", "edgekws board simulate", name)
    print("building the simulated board (cached after the first time) ...", file=sys.stderr,
          flush=True)
    token, note = _access(args)
    server = serve_simulated(args.port, reset_on_connect=args.reset_on_connect,
                             idle=args.idle_timeout, waves=args.waves, unix=args.unix,
                             token=token)
    print(server.url, flush=True)
    print("simulated board ready (Ctrl-C to stop)" + (f"; {note}" if note else ""),
          file=sys.stderr, flush=True)
    server.wait()
    st = server.stats
    if st:
        print(f"simulated {st['cycles']} cycles, {st['cycles_per_s']} cycles/s while "
              "clocking", file=sys.stderr)
    return 0


def _identify(args) -> int:
    from .board import BoardError
    try:
        with _board(args) as board:
            for k, v in vars(board.info).items():
                print(f"{k}: {v}")
            for k, v in board.counters().items():
                print(f"{k}: {v}")
            for k, v in board.registers().items():
                print(f"reg {k}: {v}")
    except BoardError as exc:
        print(f"edgekws board: error: {exc}", file=sys.stderr)
        return 1
    return 0


def _read_state(path):
    from edgekws.golden import Model
    model = Model(path)
    extra = model.extra or {}
    for key in ("words", "mfcc_scaling"):
        if key not in extra:
            raise ValueError(f"{path}: no {key!r} in its metadata; write it with "
                             "`edgekws board load`")
    return model


def _load(args) -> int:
    from edgekws.golden import Model
    from edgekws.models import shipped_model_path
    from .board import BoardError
    from .edge import edge_model
    path = args.model or shipped_model_path()
    model = edge_model(Model(path), args.neurons_per_class, args.num_weights,
                       args.competition, args.first_word, args.seed, source=path)
    from .enrolment import discard_journal, save_state
    try:
        with _board(args) as board:
            # The board and the host copy start anew: an interrupted enrolment is void.
            dropped = discard_journal(args.state)
            if dropped is not None:
                print(f"edgekws board: discarded the journal of the interrupted enrolment "
                      f"of {dropped.word!r} (the board and {args.state} are loaded anew)",
                      file=sys.stderr)
            board.load(model)
            save_state(board.to_golden(), args.state)
    except BoardError as exc:
        print(f"edgekws board: error: {exc}", file=sys.stderr)
        return 1
    print(f"loaded {path} ({model.learning.num_classes} classes); host copy {args.state}")
    return 0


def _frames(model, files):
    from edgekws.data.wavio import read_wav
    from .edge import front_end
    params, scaling, to_frames = front_end(model)
    waves = [read_wav(f, params.sample_rate) for f in files]
    return waves, params, scaling, to_frames


def _segmenter(args, params):
    from .listen import Segmenter
    return Segmenter(params, hop=args.window_hop, threshold_db=args.threshold,
                     refractory=args.refractory)


def _stream(args, seg):
    """``(chunks, description)`` of the stream the arguments name (checked at once)."""
    from .listen import mic_chunks, raw_chunks, wav_chunks
    if args.device is not None and not args.mic:
        raise ValueError(f"--device {args.device!r} applies to --mic only")
    if args.wav:
        return wav_chunks(args.wav, seg.hop, seg.rate), args.wav
    if args.stdin:
        return raw_chunks(sys.stdin.buffer, seg.hop), "standard input"
    device = int(args.device) if args.device and args.device.isdigit() else args.device
    name = "the default microphone" if device is None else f"microphone {device!r}"
    return mic_chunks(seg.hop, device, seg.rate), name


def _infer(args) -> int:
    import numpy as np

    from edgekws.data.mfcc import pad_or_crop
    from edgekws.data.shifts import shifted_windows, window_shifts_of

    from .board import BoardError
    shifts = window_shifts_of(args)
    model = _read_state(args.state)
    waves, params, _, to_frames = _frames(model, args.files)
    clips = np.stack([pad_or_crop(w[None], params.clip_samples)[0] for w in waves])
    windows = [to_frames(w) for w in shifted_windows(clips, shifts, params.sample_rate,
                                                     args.speeds)]
    try:
        with _board(args) as board:
            model = _attach(board, model, args.state)
            scored = _scorer(model, board, args.min_score, args.min_margin)(*windows)
    except BoardError as exc:
        print(f"edgekws board: error: {exc}", file=sys.stderr)
        return 1
    words = model.extra["words"]
    from .listen import word_of
    for f, c, sc, mg in zip(args.files, scored.label, scored.score, scored.margin):
        print(f"{f}\t{word_of(int(c), words)}\tscore {sc:.2f}\tmargin {mg:.2f}")
    return 0


def _scorer(model, board, min_score=0.0, min_margin=0.0):
    """frames (one array per window of the same clips) ->
    :class:`~edgekws.host.listen.Scored`: the board's potentials, ranked per class,
    averaged over the windows and thresholded by ``min_score``/``min_margin``."""
    from .listen import score_windows
    lp = model.learning

    def classify(*windows):
        pots = [board.infer(frames, potentials=True, progress=False)[2] for frames in windows]
        return score_windows(pots, lp.num_classes, lp.num_weights, min_score, min_margin)
    return classify


def _enrol_clips(args, model):
    """One-second clips to enrol from: the WAV files, or utterances cut from a stream."""
    from edgekws.data.mfcc import pad_or_crop
    from .edge import front_end
    from .listen import capture
    streamed = bool(args.wav or args.stdin or args.mic)
    if bool(args.files) == streamed:
        raise ValueError("enrol from WAV files (one utterance each) or from a stream "
                         "(--wav, --stdin or --mic): " + ("not both" if streamed else
                                                           "give one"))
    if args.files:
        waves, params, _, _ = _frames(model, args.files)
        return [pad_or_crop(w[None], params.clip_samples)[0] for w in waves]
    seg = _segmenter(args, front_end(model)[0])
    chunks, what = _stream(args, seg)
    n = args.utterances
    print(f"say {args.word!r} {n} times, with a pause between ({what})", file=sys.stderr,
          flush=True)
    windows = capture(chunks, seg, n, on_window=lambda w, i: print(
        f"  utterance {i}/{n} at {w.time:.2f} s", file=sys.stderr, flush=True))
    return [w.samples for w in windows]


def _attach(board, model, state):
    """Finish an interrupted enrolment of ``state`` on ``board`` if there is one
    (:mod:`edgekws.host.enrolment`), then attach the host copy; returns it."""
    from .enrolment import recover
    model = recover(board, model, state,
                    say=lambda line: print(f"edgekws board: {line}", file=sys.stderr))
    board.attach(model)
    return model


def _check_new_word(word, model):
    words = list(model.extra["words"])
    if word in words:
        raise ValueError(f"the word {word!r} is already class {words.index(word)}")


def _enrol(args) -> int:
    import numpy as np
    from .board import BoardError
    from .edge import enrol_frames, front_end
    from .enrolment import enrol_and_save
    model = _read_state(args.state)
    _check_new_word(args.word, model)
    clips = _enrol_clips(args, model)
    frames = enrol_frames(clips, args.copies, np.random.default_rng(args.seed),
                          front_end(model)[2])
    try:
        with _board(args) as board:
            model = _attach(board, model, args.state)
            _check_new_word(args.word, model)
            _, label, learned = enrol_and_save(board, model, args.state, args.word, frames,
                                               args.seed)
    except BoardError as exc:
        print(f"edgekws board: error: {exc}", file=sys.stderr)
        return 1
    print(f"enrolled {args.word!r} as class {label} from {len(frames)} frames "
          f"({int(learned.sum())} learning steps); host copy {args.state}")
    return 0


def _listen(args) -> int:
    from .board import BoardError
    from .edge import front_end
    from .hitrule import HitRule
    from .listen import Listener, refractory_windows, spot
    model = _read_state(args.state)
    params, scaling, _ = front_end(model)
    listener = Listener(params, hop=args.window_hop, threshold_db=args.threshold,
                        centre=args.centre)
    rule = HitRule(args.wins, args.of, args.min_score, args.min_margin,
                   refractory_windows(args.refractory, listener))
    chunks, what = _stream(args, listener)
    count = 0
    try:
        with _board(args) as board:
            model = _attach(board, model, args.state)
            words = model.extra["words"]
            print(f"listening to {what} for {', '.join(words)} (Ctrl-C to stop)",
                  file=sys.stderr, flush=True)
            scorer = _scorer(model, board)   # thresholds: the hit rule's
            for d in spot(chunks, listener, lambda f: scaling.to_uint8(f)[..., None], scorer,
                          words, rule, args.speeds):
                print(f"{d.time:.2f}\t{d.word}\tscore {d.score:.2f}\tmargin {d.margin:.2f}",
                      flush=True)
                count += 1
    except BoardError as exc:
        print(f"edgekws board: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    print(f"{count} detections", file=sys.stderr)
    return 0
