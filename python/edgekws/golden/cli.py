"""``edgekws model ...``: look at and check golden model files."""
from __future__ import annotations


def add_cli(sub) -> None:
    p = sub.add_parser("model", help="inspect a golden model file (.ekws)")
    msub = p.add_subparsers(dest="model_command", metavar="ACTION")
    msub.required = True
    s = msub.add_parser("summary", help="print the layers, shapes and learning parameters")
    s.add_argument("path", help="model file (.ekws)")
    s.set_defaults(func=_summary)


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
