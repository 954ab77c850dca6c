"""``edgekws tutorial``: the Akida KWS edge-learning tutorial, end to end."""
from __future__ import annotations


def add_cli(sub) -> None:
    from .edge_learning import NEURONS_TABLE, TutorialConfig
    d = TutorialConfig(corpus="", model="")
    p = sub.add_parser("tutorial", help="offline native learning of 33 classes, then edge "
                       "learning of 3 new words from 4 utterances of one speaker")
    p.add_argument("--corpus", required=True, help="Speech Commands layout folder")
    p.add_argument("--model", default=None,
                   help="trained model (.ekws); default: the model shipped with edgekws")
    p.add_argument("--out", default="build/tutorial",
                   help="report folder (the committed report is docs/tutorial)")
    p.add_argument("--cache", default=d.cache_dir, help="feature cache folder")
    p.add_argument("--neurons-per-class", type=int, default=d.neurons_per_class,
                   help="neurons per class of the learning layer")
    p.add_argument("--num-weights", type=int, default=None,
                   help="num_weights of the learning layer (default: int(1.2 x median "
                   "spikes))")
    p.add_argument("--speaker", default=None, help="enrolment speaker (default: automatic)")
    p.add_argument("--enrol-corpus", default=None,
                   help="corpus with the enrolment speaker's repetitions of the new words")
    p.add_argument("--table", default=",".join(map(str, NEURONS_TABLE)),
                   help="neurons-per-class values of the report's table ('' to skip)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the silence cuts, sample order and augmentation")
    p.set_defaults(func=_run)

    w = sub.add_parser("enrol-sweep", help="the tutorial's new-word accuracy for every "
                       "enrolment speaker, one learning setting changed at a time")
    w.add_argument("--corpus", required=True, help="Speech Commands layout folder")
    w.add_argument("--model", default=None, help="trained model (.ekws); default: shipped")
    w.add_argument("--enrol-corpus", default=None,
                   help="corpus with the enrolment speakers' repetitions of the new words")
    w.add_argument("--speakers", default=None,
                   help="comma-separated enrolment speakers (default: every one with enough "
                   "repetitions)")
    w.add_argument("--num-weights", type=int, default=None,
                   help="the unchanged setting's num_weights (default: int(1.2 x median "
                   "spikes)); the sweep tries it -20 %% and +20 %%")
    w.add_argument("--cache", default=d.cache_dir, help="feature cache folder")
    w.add_argument("--num-weights-values", default=None,
                   help="comma-separated num_weights values: instead of the one-change "
                   "sweep, for each value the tutorial's setting over 4 orders of the "
                   "training samples and 4 draws of the augmentation, one column each")
    w.add_argument("--out", default=None, help="write the markdown table here")
    w.add_argument("--seed", type=int, default=0,
                   help="seed of the silence cuts, sample order and augmentation")
    w.set_defaults(func=_sweep)

    r = sub.add_parser("real-speech", help="the model on real FSDD digits, and enrolment of "
                       "left-out digits from 4 real utterances of one speaker")
    r.add_argument("--corpus", required=True,
                   help="Speech Commands layout folder for the offline learning; build one "
                   "first, e.g. edgekws data synth --out build/corpus-s500 --speakers 500")
    r.add_argument("--model", default=None, help="trained model (.ekws); default: shipped")
    r.add_argument("--fsdd", default=None, help="FSDD recordings folder "
                   "(default: ../shared/data/fsdd/recordings or $EDGEKWS_FSDD)")
    r.add_argument("--speaker", default="jackson", help="enrolment speaker")
    r.add_argument("--digits", default="one,five,nine",
                   help="digits to enrol, comma-separated")
    r.add_argument("--cache", default=d.cache_dir, help="feature cache folder")
    r.add_argument("--out", default=None, help="write the result as JSON here")
    r.set_defaults(func=_real)


def _run(args) -> int:
    from .edge_learning import TutorialConfig, run
    model = _model(args)
    cfg = TutorialConfig(corpus=args.corpus, model=model, cache_dir=args.cache,
                         out_dir=args.out, neurons_per_class=args.neurons_per_class,
                         num_weights=args.num_weights, speaker=args.speaker,
                         enrol_corpus=args.enrol_corpus,
                         neurons_table=tuple(int(v) for v in args.table.split(",") if v),
                         seed=args.seed)
    run(cfg)
    print(f"report: {args.out}/tutorial.md")
    return 0


def _real(args) -> int:
    import json

    from .real_speech import run_real_speech
    model = _model(args)
    res = run_real_speech(model, args.corpus, args.fsdd, args.cache,
                          enrol_digits=tuple(args.digits.split(",")), enrol_speaker=args.speaker)
    if args.out:
        from edgekws.golden.fileformat import atomic_write
        atomic_write(args.out, json.dumps(res.to_dict(), indent=2).encode())
    return 0


def _sweep(args) -> int:
    import shlex

    from .edge_learning import TutorialConfig
    from .enrol_sweep import num_weights_report, num_weights_settings, report, sweep
    model = _model(args)
    cfg = TutorialConfig(corpus=args.corpus, model=model, cache_dir=args.cache,
                         enrol_corpus=args.enrol_corpus, seed=args.seed,
                         num_weights=args.num_weights)
    speakers = [s for s in args.speakers.split(",") if s] if args.speakers else None
    command = "edgekws " + shlex.join(args.argv)
    if args.num_weights_values:
        try:
            values = [int(v) for v in args.num_weights_values.split(",") if v]
        except ValueError:
            raise ValueError("--num-weights-values must be comma-separated integers, not "
                             f"{args.num_weights_values!r}") from None
        rows = sweep(cfg, settings=num_weights_settings(values), speakers=speakers)
        text = num_weights_report(rows, command=command)
    else:
        rows = sweep(cfg, speakers=speakers)
        text = report(rows, command=command)
    print(text)
    if args.out:
        from edgekws.atomicio import atomic_write
        atomic_write(args.out, text.encode())
    return 0


def _model(args) -> str:
    """``--model``, else the model shipped with edgekws."""
    if args.model is not None:
        return args.model
    from edgekws.models import shipped_model_path
    return shipped_model_path()
