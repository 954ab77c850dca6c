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
    p.add_argument("--out", default=d.out_dir, help=f"report folder (default {d.out_dir})")
    p.add_argument("--cache", default=d.cache_dir, help="feature cache folder")
    p.add_argument("--neurons-per-class", type=int, default=d.neurons_per_class)
    p.add_argument("--num-weights", type=int, default=None,
                   help="default: int(1.2 x median spikes)")
    p.add_argument("--speaker", default=None, help="enrolment speaker (default: automatic)")
    p.add_argument("--table", default=",".join(map(str, NEURONS_TABLE)),
                   help="neurons-per-class table ('' to skip)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_run)


def _run(args) -> int:
    from .edge_learning import TutorialConfig, run
    model = args.model
    if model is None:
        from edgekws.models import shipped_model_path
        model = shipped_model_path()
    cfg = TutorialConfig(corpus=args.corpus, model=model, cache_dir=args.cache,
                         out_dir=args.out, neurons_per_class=args.neurons_per_class,
                         num_weights=args.num_weights, speaker=args.speaker,
                         neurons_table=tuple(int(v) for v in args.table.split(",") if v),
                         seed=args.seed)
    run(cfg)
    print(f"report: {args.out}/tutorial.md")
    return 0
