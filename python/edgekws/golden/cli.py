"""``edgekws model ...``: look at and check golden model files."""
from __future__ import annotations


def add_cli(sub) -> None:
    p = sub.add_parser("model", help="inspect a golden model file (.ekws)")
    msub = p.add_subparsers(dest="model_command", metavar="ACTION")
    msub.required = True
    s = msub.add_parser("summary", help="print the layers, shapes and learning parameters")
    s.add_argument("path", help="model file (.ekws)")
    s.set_defaults(func=_summary)
    i = msub.add_parser("import", help="convert an Akida 1.0 model file (.fbz, needs the akida "
                                       "package) to a golden model file (.ekws)")
    i.add_argument("source", help="Akida model file (.fbz) saved by akida.Model.save")
    i.add_argument("target", help="golden model file to write (.ekws)")
    i.add_argument("--front-end", metavar="MODEL.ekws", default=None,
                   help="golden model file whose MFCC front end (metadata 'mfcc' and "
                        "'mfcc_scaling': how audio becomes the uint8 input) the imported "
                        "model takes, or 'shipped' for the shipped model's; `board load` "
                        "needs one (default: none)")
    i.set_defaults(func=_import)
    e = msub.add_parser("export", help="convert a golden model file (.ekws) to an Akida model "
                                       "file (.fbz, needs the akida package)")
    e.add_argument("source", help="golden model file (.ekws)")
    e.add_argument("target", help="Akida model file to write (.fbz)")
    e.set_defaults(func=_export)


def _summary(args) -> int:
    from .model import Model
    model = Model(args.path)
    model.summary()
    extra = model.extra
    if extra.get("words"):
        words = extra["words"]
        print(f"\nclasses ({len(words)}): {', '.join(words)}")
    if "mfcc_scaling" in extra:
        print("input: MFCC 49x10 mapped to uint8 by the stored scaling (metadata 'mfcc_scaling')")
    return 0


def _akida_or_hint(fn, *a):
    """``fn(*a)``, turning a missing akida package into one line on stderr (exit 2)."""
    import sys
    try:
        return fn(*a)
    except ImportError as exc:
        print(f"edgekws model: error: {exc}", file=sys.stderr)
        return None


#: Metadata of a model's MFCC front end (what ``--front-end`` copies).
FRONT_END_KEYS = ("mfcc", "mfcc_scaling")


def _front_end(path) -> dict:
    """The front-end metadata of the golden model file ``path`` (or 'shipped')."""
    from .model import Model
    if path == "shipped":
        from edgekws.models import shipped_model_path
        path = shipped_model_path()
    extra = Model(path).extra or {}
    if "mfcc_scaling" not in extra:
        raise ValueError(f"--front-end: {path} has no MFCC front end (metadata "
                         "'mfcc_scaling')")
    return {k: extra[k] for k in FRONT_END_KEYS if k in extra}


def _import(args) -> int:
    from .interop import from_akida
    # The front end is read first: a bad --front-end fails before the import's work.
    front = _front_end(args.front_end) if args.front_end is not None else {}
    model = _akida_or_hint(from_akida, args.source)
    if model is None:
        return 2
    model.extra = {**(model.extra or {}), **front}
    model.save(args.target)
    print(f"{args.source} -> {args.target}: {model.layer_count} layers, input "
          f"{model.input_shape}, output {model.output_shape}")
    return 0


def _export(args) -> int:
    from .interop import to_akida
    from .model import Model
    model = Model(args.source)
    if _akida_or_hint(to_akida, model, args.target) is None:
        return 2
    print(f"{args.source} -> {args.target}: {model.layer_count} layers")
    return 0
