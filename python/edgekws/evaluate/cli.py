r"""``edgekws eval``: a trained model on real speech.

Scores the golden model (the shipped one by default) on a Speech Commands folder - the 12
classes of the canonical test, by class and by speaker, with a confusion matrix - and on
the FSDD digits. Report a Speech Commands figure only on speakers held out of the model's
training: ``--folds`` keeps the speakers of those folds (``edgekws data mix --holdout``
leaves the same folds out of a training corpus).

Examples:

  edgekws eval --speech-commands ../shared/data/sc-v2-test-dev --folds 0 1
  edgekws eval --speech-commands ../shared/data/sc-v2-test-dev --folds 0 1 \
      --calibrate-on ../shared/data/sc-v1-sample
  edgekws eval --fsdd --out build/eval
  edgekws eval --model build/train/ds_cnn_kws.ekws --fsdd --json
  edgekws eval --stream --fsdd --speech-commands ../shared/data/sc-v2-test-dev \
      --noise ../shared/data/sc-background-noise
  edgekws eval --enrolment --fsdd --corpus build/corpus-s200 --word-sets one,five,nine \
      two,six,zero

Isolated clips are scored in --windows windows --window-step apart (default 5, 50 ms),
each at every one of --speeds (default 0.85,0.92,1,1.08,1.15 times the recorded rate), their
scores averaged (edgekws.data.shifts); --windows 1 --speeds 1 scores the clip as it is.

With --stream, the listener's scenario instead: load, enrol --words from --enrol
utterances of one FSDD --speaker, then a keyword stream (that speaker's other recordings)
and a non-keyword stream (other digits, the whole Speech Commands folder, the noise
recordings) through board listen's windows (one every --hop, each heard at --speeds) and
hit rule; the detection rate and false alarms per hour for every centring tolerance
(--centres), rule (--votes N/M: a word wins N of the last M windows) and
--min-score/--min-margin pair, the best rule at each --max-false-alarms budget, and the
trade-off plot (--baseline: an earlier run's curve on it too). With --enrolment, only the
enrolment, for every FSDD --speakers and --word-sets, with the old classes' accuracy before
and after.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edgekws.cliargs import (nonneg_float, nonneg_int, positive_float, positive_int,
                             seconds_or_any)
from edgekws.data.shifts import add_window_args, window_shifts_of

__all__ = ["add_cli"]


def add_cli(subparsers) -> None:
    """Register ``eval`` on an argparse ``subparsers`` object."""
    p = subparsers.add_parser("eval", help="accuracy of a model on real speech (12 classes, "
                              "FSDD digits), per class and per speaker",
                              description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None,
                   help="trained .ekws (default: the shipped python/edgekws/models/"
                   "ds_cnn_kws.ekws)")
    p.add_argument("--speech-commands", metavar="DIR",
                   help="Speech Commands folder (canonical 12-folder test layout or word "
                   "folders), e.g. ../shared/data/sc-v2-test-dev")
    p.add_argument("--folds", type=nonneg_int, nargs="+", default=None,
                   help="only the speakers of these folds (default: every speaker)")
    p.add_argument("--num-folds", type=positive_int, default=5,
                   help="speaker folds of the split (default 5)")
    p.add_argument("--fsdd", nargs="?", const="", metavar="RECORDINGS",
                   help="the FSDD recordings (default: $EDGEKWS_FSDD or "
                   "../shared/data/fsdd/recordings)")
    p.add_argument("--limit", type=positive_int, default=None,
                   help="at most this many clips of each set (an even sample)")
    p.add_argument("--out", default="build/eval",
                   help="folder for the confusion-matrix PNGs and report.json "
                   "(default build/eval)")
    p.add_argument("--json", action="store_true", help="print the full report as JSON")
    add_window_args(p)
    c = p.add_mutually_exclusive_group()
    c.add_argument("--unknown-offset", type=float, default=0.0, metavar="SCORE",
                   help="lower the scores of the words outside the 12 classes by this much "
                   "before the 12-class decision (default 0: the plain argmax)")
    c.add_argument("--calibrate-on", metavar="DIR", default=None,
                   help="choose --unknown-offset on this Speech Commands folder of OTHER "
                   "speakers (best class-balanced 12-class accuracy), e.g. "
                   "../shared/data/sc-v1-sample")
    s = p.add_argument_group("streams (--stream) and enrolment (--enrolment)")
    mode = s.add_mutually_exclusive_group()
    mode.add_argument("--stream", action="store_true",
                      help="measure detection rate and false alarms per hour on long streams")
    mode.add_argument("--enrolment", action="store_true",
                      help="only the real-speaker enrolment, for every --speakers and "
                      "--word-sets: the speakers' other recordings, isolated")
    s.add_argument("--speakers", nargs="+", default=None, metavar="NAME",
                   help="with --enrolment: FSDD speakers who enrol (default: all)")
    s.add_argument("--word-sets", type=word_set_arg, nargs="+", default=None,
                   metavar="W1,W2,...",
                   help="with --enrolment: digit sets to enrol, e.g. one,five,nine "
                   "two,six,zero (default: --words)")
    s.add_argument("--corpus", metavar="DIR",
                   help="corpus whose words are learned natively first, as in the tutorial "
                   "(every word but the enrolled ones): what a non-keyword is matched to")
    s.add_argument("--cache", default="build/features",
                   help="feature cache of that corpus (default build/features)")
    s.add_argument("--noise", metavar="DIR", default=None,
                   help="real background-noise WAVs for the streams (../shared/data/"
                   "sc-background-noise)")
    s.add_argument("--speaker", default="jackson",
                   help="FSDD speaker who enrols (default jackson)")
    s.add_argument("--words", nargs="+", default=["one", "five", "nine"],
                   help="digits to enrol (default one five nine)")
    s.add_argument("--enrol", type=positive_int, default=4,
                   help="utterances per word to enrol from (default 4)")
    s.add_argument("--num-weights", type=positive_int, default=None,
                   help="num_weights of the learning layer (default: the tutorial's rule, "
                   "int(1.2 x median spikes))")
    s.add_argument("--gate", type=float, default=None, metavar="DBFS",
                   help="the listener's energy gate (default: board listen's)")
    s.add_argument("--hop", type=positive_float, default=None, metavar="SECONDS",
                   help="seconds between the listener's windows (default: board listen's)")
    s.add_argument("--refractory", type=nonneg_float, default=None, metavar="SECONDS",
                   help="no detection this long after one (default: board listen's)")
    s.add_argument("--centres", type=seconds_or_any, nargs="+", default=None, metavar="SECONDS",
                   help="centring tolerances to sweep, 'any' for none (default: 0.1 0.2 0.3 "
                   "0.4 any)")
    s.add_argument("--votes", type=votes_arg, nargs="+", default=None, metavar="N/M",
                   help="hit rules to sweep: a word wins N of the last M windows (default: "
                   "1/1 2/2 2/3 3/3 2/4 3/4 3/5 4/5 3/6 4/6 5/6 4/7 5/7)")
    s.add_argument("--filler", metavar="DIR", default=None,
                   help="learn a filler class from word clips of this Speech Commands folder "
                   "(other speech: windows it wins fire nothing), e.g. ../shared/data/"
                   "sc-v2-test-dev with --filler-folds 2 3 4")
    s.add_argument("--filler-folds", type=nonneg_int, nargs="+", default=None,
                   help="only the speakers of these folds for the filler (never --folds)")
    s.add_argument("--filler-clips", type=positive_int, default=600,
                   help="clips the filler class learns from (default 600)")
    s.add_argument("--filler-own", type=nonneg_int, default=0, metavar="N",
                   help="the filler also learns the enrolling speaker's first N recordings "
                   "of each digit not enrolled (they leave the non-keyword stream)")
    s.add_argument("--average", type=positive_int, nargs="*", default=None, metavar="M",
                   help="also sweep a rule of averaged scores: each class's score averaged "
                   "over the last M windows (default with no value: 1 to 7)")
    s.add_argument("--baseline", metavar="STREAM_JSON", default=None,
                   help="an earlier run's stream.json, drawn on the plot as 'before'")
    s.add_argument("--max-false-alarms", type=float, nargs="+", default=[1.0, 2.0, 10.0],
                   metavar="PER_HOUR",
                   help="false-alarm budgets: the best rule at each (the plot marks "
                   "the first) (default: 1 2 10)")
    p.set_defaults(func=_cmd_eval, mode_defaults={k: p.get_default(k)
                                                   for k in STREAM_ONLY + ENROLMENT_ONLY})


def word_set_arg(text):
    """``--word-sets`` value: comma-separated words."""
    words = tuple(w.strip() for w in text.split(","))
    if not all(words):
        raise argparse.ArgumentTypeError(f"expected comma-separated words (e.g. "
                                         f"one,five,nine), not {text!r}")
    return words


#: Options of one mode only: given with the other mode (or, for the enrolment's, without
#: it) they would do nothing, so they are refused.
STREAM_ONLY = ("noise", "speaker", "gate", "hop", "refractory", "centres", "votes", "filler",
               "filler_folds", "filler_clips", "filler_own", "average", "baseline",
               "max_false_alarms")
ENROLMENT_ONLY = ("speakers", "word_sets")


def _refuse_unused(args) -> None:
    """Refuse options that the chosen mode (``--stream``, ``--enrolment`` or neither)
    would ignore, naming the option and the mode it belongs to."""
    def given(names):
        return [k for k in names if getattr(args, k) != args.mode_defaults[k]]
    flag = lambda k: "--" + k.replace("_", "-")      # noqa: E731
    if not args.stream:
        for k in given(STREAM_ONLY):
            raise ValueError(f"{flag(k)} is an option of --stream; it does nothing "
                             f"{'with --enrolment' if args.enrolment else 'here'}")
    if not args.enrolment:
        for k in given(ENROLMENT_ONLY):
            raise ValueError(f"{flag(k)} is an option of --enrolment; it does nothing "
                             f"{'with --stream' if args.stream else 'here'}")


def votes_arg(text):
    """``--votes`` value ``N/M``: a word wins N of the last M windows (1 <= N <= M)."""
    try:
        wins, of = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N/M (e.g. 2/3), not {text!r}") from None
    if not 1 <= wins <= of:
        raise argparse.ArgumentTypeError(f"expected N/M with 1 <= N <= M, not {text!r}")
    return wins, of


def _model_path(arg):
    if arg:
        if not Path(arg).is_file():
            raise ValueError(f"--model {arg!r}: no such file")
        return arg
    from edgekws.models import shipped_model_path
    return shipped_model_path()


def _cmd_eval(args) -> int:
    from .real import choose_unknown_offset, fsdd_clips, score_model, speech_commands_clips
    from .report import fsdd_report, markdown, speech_commands_report

    if args.speech_commands is None and args.fsdd is None:
        raise ValueError("give --speech-commands DIR and/or --fsdd [DIR]")
    model = _model_path(args.model)
    shifts = window_shifts_of(args)
    _refuse_unused(args)
    if args.stream or args.enrolment:
        return _cmd_stream(args, model, shifts)
    if args.calibrate_on and args.speech_commands is None:
        raise ValueError("--calibrate-on chooses the 12-class decision's offset: give "
                         "--speech-commands DIR too")
    # Read every set before scoring any: a wrong folder fails in seconds, not minutes.
    sets = []
    if args.speech_commands is not None:
        sets.append(("speech_commands", speech_commands_clips(
            args.speech_commands, folds=args.folds, num_folds=args.num_folds,
            limit=args.limit)))
    if args.fsdd is not None:
        sets.append(("fsdd", fsdd_clips(args.fsdd or None, limit=args.limit)))
    calibration = speech_commands_clips(args.calibrate_on) if args.calibrate_on else None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {"model": model, "shifts": list(shifts), "speeds": list(args.speeds)}
    offset = args.unknown_offset
    if calibration is not None:
        offset, table = choose_unknown_offset(
            score_model(model, calibration, progress=not args.quiet, shifts=shifts,
                        speeds=args.speeds))
        report["calibration"] = {"set": calibration.name, "clips": len(calibration),
                                 "unknown_offset": offset, "balanced_accuracy": table}
        if not args.json:
            print(f"unknown-word offset {offset:g}, chosen on {calibration.name} "
                  f"({len(calibration)} clips): class-balanced 12-class accuracy "
                  f"{100 * dict(table)[0.0]:.1f} % at 0 -> {100 * dict(table)[offset]:.1f} %")
    for key, clips in sets:
        scores = score_model(model, clips, progress=not args.quiet, shifts=shifts,
                             speeds=args.speeds)
        png = out / f"{key}_confusion.png"
        report[key] = speech_commands_report(scores, png, offset) \
            if key == "speech_commands" else fsdd_report(scores, png)
        report[key]["confusion_png"] = str(png)
        report[key]["shifts"] = list(shifts)
        report[key]["speeds"] = list(args.speeds)
        if not args.json:
            print(markdown(report[key]))
            print(f"confusion matrix: {png}\n")
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
    else:
        print(f"report: {out / 'report.json'}")
    return 0


def _cmd_stream(args, model, shifts) -> int:
    from edgekws.host.listen import DEFAULT_GATE_DB, DEFAULT_HOP, DEFAULT_REFRACTORY

    from .stream import (AVERAGES, CENTRES, VOTES, StreamSetup, choose, listener_row,
                         plot_tradeoff, run_streams, sweep, sweep_average)

    flag = "--stream" if args.stream else "--enrolment"
    if args.fsdd is None:
        raise ValueError(f"{flag} enrols FSDD digits: give --fsdd [DIR]")
    if not args.corpus or not (Path(args.corpus) / "corpus.json").is_file():
        raise ValueError(f"{flag} needs --corpus, a corpus folder with a corpus.json (build "
                         f"one with 'edgekws data synth'), not {args.corpus!r}")
    baseline = None
    if args.baseline:
        try:
            baseline = json.loads(Path(args.baseline).read_text(encoding="utf-8"))["sweep"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"--baseline {args.baseline!r}: not a stream.json of 'edgekws "
                             f"eval --stream' ({exc})") from None
    setup = StreamSetup(model=model, corpus=args.corpus, cache_dir=args.cache,
                        folds=tuple(args.folds) if args.folds else None,
                        speech_commands=args.speech_commands,
                        noise_dir=args.noise, fsdd=args.fsdd or None, speaker=args.speaker,
                        words=tuple(args.words), enrol=args.enrol,
                        num_weights=args.num_weights, filler=args.filler,
                        filler_folds=tuple(args.filler_folds) if args.filler_folds else None,
                        filler_clips=args.filler_clips, filler_own=args.filler_own,
                        gate_db=DEFAULT_GATE_DB if args.gate is None else args.gate,
                        hop=DEFAULT_HOP if args.hop is None else args.hop,
                        shifts=shifts, speeds=args.speeds)
    if args.enrolment:
        return _print_enrolment(args, setup)
    # The listener checks the hop (a multiple of the 20 ms MFCC stride) before any work.
    from edgekws.host.listen import Listener
    Listener(hop=setup.hop, threshold_db=setup.gate_db)
    refractory = DEFAULT_REFRACTORY if args.refractory is None else args.refractory
    result = run_streams(setup, log=lambda m: print(m, file=sys.stderr))
    rows = sweep(result, result["num_weights"], centres=args.centres or CENTRES,
                 votes=args.votes or VOTES, refractory=refractory)
    budgets = {b: choose(rows, b) for b in args.max_false_alarms}
    averaged = None
    if args.average is not None:
        avg_rows = sweep_average(result, result["num_weights"], centres=args.centres or CENTRES,
                                 averages=args.average or AVERAGES, refractory=refractory)
        averaged = {"chosen": {str(b): choose(avg_rows, b) for b in args.max_false_alarms},
                    "sweep": avg_rows}
    best = budgets[args.max_false_alarms[0]]
    free = max((r for r in rows if r["min_score"] == 0 and r["min_margin"] == 0
                and r["of"] == 1 and r["centre"] is None), key=lambda r: r["detected"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    png = plot_tradeoff(rows, out / "stream_tradeoff.png", best,
                        f"enrolled {', '.join(args.words)} ({args.speaker}), "
                        f"num_weights {result['num_weights']}", baseline=baseline)
    hours = result["other"].seconds / 3600
    report = {"model": model, "setup": vars(setup), "refractory": refractory,
              "keywords": result["keywords"],
              "enrolment": result["enrolment"], "board_check": result["board_check"],
              "keyword_minutes": result["keyword"].seconds / 60,
              "non_keyword_hours": hours, "no_threshold": free,
              "listen_default": listener_row(rows),
              "chosen": {str(b): c for b, c in budgets.items()},
              "sweep": rows, "averaged": averaged, "plot": str(png)}
    (out / "stream.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
        return 0

    def line(name, r):
        centre = "any" if r["centre"] is None else f"{r['centre']:g} s"
        votes = f"mean of {r['of']}" if r.get("rule") == "average" else \
            f"{r['wins']} of {r['of']}"
        return (f"| {name} | {votes} | {centre} | {r['min_score']:.2f} | "
                f"{r['min_margin']:.2f} | {r['detected']}/{result['keywords']} "
                f"({100 * r['detection_rate']:.1f} %) | {r['false_alarms']} "
                f"({r['false_alarms_per_hour']:.2f}/h) |")
    e = result["enrolment"]
    print(f"enrolment: {e['correct']}/{e['total']} of {args.speaker}'s other recordings "
          f"({100 * e['correct'] / e['total']:.1f} %; scores averaged over "
          f"{len(e['shifts']) * len(e['speeds'])} windows); old classes "
          f"{100 * e['old_before']:.2f} % -> {100 * e['old_after']:.2f} %")
    b = result["board_check"]
    if b:
        print(f"emulated board: {b['frames']} keyword frames, classes and scores "
              f"{'equal to' if b['equal'] else 'DIFFERENT FROM'} the golden model's")
    print(f"non-keyword stream {hours:.2f} h, keyword stream "
          f"{result['keyword'].seconds / 60:.1f} min ({result['keywords']} keywords); a "
          f"window every {setup.hop:g} s, refractory {refractory:g} s\n")
    print("| rule | votes | centring | min score | min margin | keywords detected | "
          "false alarms |")
    print("|---|---|---|---:|---:|---:|---:|")
    print(line("no thresholds", free))
    if report["listen_default"] is not None:
        print(line("board listen's default", report["listen_default"]))
    for b, c in budgets.items():
        if c is not None:
            print(line(f"best at <= {b:g}/h", c))
        else:
            print(f"| no rule reaches {b:g} false alarms per hour | | | | | | |")
    for b, c in (averaged or {}).get("chosen", {}).items():
        if c is not None:
            print(line(f"averaged scores, best at <= {float(b):g}/h", c))
    print(f"\ntrade-off: {png}; report: {out / 'stream.json'}")
    return 0


def _print_enrolment(args, setup) -> int:
    from .enrolment import enrolment_table

    table = enrolment_table(setup, args.speakers, args.word_sets,
                            log=lambda m: print(m, file=sys.stderr))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    used = ("model", "corpus", "cache_dir", "fsdd", "enrol", "copies", "neurons_per_class",
            "num_weights", "seed", "shifts", "speeds")
    report = {"model": setup.model, "setup": {k: getattr(setup, k) for k in used}, **table}
    (out / "enrolment.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
        return 0
    print(f"enrolment from {setup.enrol} utterances, the speaker's other recordings scored "
          f"in {len(setup.shifts) * len(setup.speeds)} windows:\n")
    print("| words | speaker | recognised | old classes before -> after |")
    print("|---|---|---:|---|")
    for r in table["rows"]:
        print(f"| {'/'.join(r['words'])} | {r['speaker']} | {r['correct']}/{r['total']} "
              f"({100 * r['correct'] / r['total']:.1f} %) | {100 * r['old_before']:.2f} -> "
              f"{100 * r['old_after']:.2f} % |")
    # Two decimals: 745/828 is 89.98 %, which one decimal would show as 90.0.
    print(f"| all | | **{table['correct']}/{table['total']} "
          f"({100 * table['correct'] / table['total']:.2f} %)** | largest drop "
          f"{100 * table['largest_drop']:.2f} points |")
    print(f"\nreport: {out / 'enrolment.json'}")
    return 0
