"""``edgekws train``: train, quantize and convert the DS-CNN on a corpus folder.

Needs the train extra (TensorFlow): pip install 'edgekws[train]'.

Examples::

    edgekws train --root build/corpus                        # full run (make train)
    edgekws train --root build/corpus-small --float-epochs 2 --qat-epochs 1 \\
        --out-dir build/train-small --model build/train-small/kws.ekws
    # fine-tune a quantized model with the prototype head (spikes for native learning)
    edgekws train --root build/corpus --init-qat build/train/keras --qat-epochs 5 \\
        --qat-lr 2e-4 --prototype-weight 1 --out-dir build/train-proto
"""
from __future__ import annotations

from edgekws.cliargs import nonneg_int as _nonneg_int
from edgekws.cliargs import positive_int as _positive_int
from edgekws.cliargs import nonneg_float as _nonneg_float
from edgekws.cliargs import positive_float as _positive_float

__all__ = ["add_cli"]


def add_cli(subparsers) -> None:
    """Register ``train`` on an argparse ``subparsers`` object."""
    from .dataset import EDGE_WORDS
    from .pipeline import SELECT

    p = subparsers.add_parser(
        "train", help="train + quantize the DS-CNN and write the golden .ekws model",
        description=__doc__)
    p.add_argument("--root", required=True, nargs="+",
                   help="corpus folder(s) in the Speech Commands layout; several are trained "
                        "on together (e.g. an eSpeak corpus and an 'edgekws data mix' corpus)")
    p.add_argument("--level", choices=("none", "c0-max", "c0-max-cmn"), default="none",
                   help="loudness normalisation of the model input: c0-max moves each "
                        "window's loudest frame to one level; c0-max-cmn also subtracts each "
                        "coefficient's mean over the window (a channel's colouration)")
    p.add_argument("--out-dir", default="build/train",
                   help="reports, Keras weights and feature cache")
    p.add_argument("--model", default=None,
                   help="output .ekws (default: OUT_DIR/ds_cnn_kws.ekws)")
    p.add_argument("--cache", default=None, help="feature cache (default: OUT_DIR/features)")
    p.add_argument("--words", nargs="+", default=None, help="words to learn (default: all)")
    p.add_argument("--exclude", nargs="*", default=list(EDGE_WORDS),
                   help=f"words left out for edge learning (default: {' '.join(EDGE_WORDS)})")
    p.add_argument("--silence-percentage", type=float, default=10.0,
                   help="silence clips per split, as a percentage of its word clips")
    p.add_argument("--float-epochs", type=_nonneg_int, default=20,
                   help="epochs of float training")
    p.add_argument("--qat-epochs", type=_nonneg_int, default=12,
                   help="epochs of quantization-aware training")
    p.add_argument("--batch-size", type=_positive_int, default=100, help="training batch size")
    p.add_argument("--lr", type=_positive_float, default=1e-3, help="float learning rate")
    p.add_argument("--qat-lr", type=_positive_float, default=5e-4, help="QAT learning rate")
    p.add_argument("--filters", type=_positive_int, default=64,
                   help="channels per layer (the shipped model has 64)")
    p.add_argument("--max-train", type=_positive_int, default=None,
                   help="use at most this many training samples (quick runs)")
    p.add_argument("--seed", type=_nonneg_int, default=0,
                   help="seed of the initial weights, the silence cuts and the --max-train subset")
    p.add_argument("--threads", type=_positive_int, default=None,
                   help="TensorFlow threads (default: all CPUs)")
    p.add_argument("--workers", type=_positive_int, default=None,
                   help="processes for MFCC features (default: all CPUs)")
    p.add_argument("--init-float", default=None, metavar="DIR",
                   help="skip float training: start QAT from a saved float model "
                        "(OUT_DIR/keras-float of an earlier run)")
    p.add_argument("--init-qat", default=None, metavar="DIR",
                   help="skip float training and QAT preparation: fine-tune a saved "
                        "quantized model (OUT_DIR/keras of an earlier run)")
    p.add_argument("--prototype-weight", type=_nonneg_float, default=0.0,
                   help="weight of the binary-prototype head's loss during QAT, which "
                        "trains the spikes for the edge-learning layer (0: off)")
    p.add_argument("--prototype-per-class", type=_positive_int, default=15,
                   help="prototypes per class of that head")
    p.add_argument("--select", choices=SELECT, default="val_accuracy",
                   help="which QAT epoch to keep: best Dense-head validation accuracy, or "
                        "best accuracy of the tutorial's native learning on its spikes "
                        "(val_native, measured every epoch)")
    p.add_argument("--spec-augment", type=_nonneg_int, nargs=4, default=None,
                   metavar=("TM", "TW", "FM", "FW"),
                   help="mask every training window: TM time masks of up to TW frames and "
                        "FM coefficient masks of up to FW coefficients, filled with the "
                        "window's mean (e.g. 2 6 1 2; default: off)")
    p.add_argument("--eager", action="store_true",
                   help="run Keras eagerly (no graph tracing; for tiny corpora)")
    p.set_defaults(func=_cmd_train)


def _cmd_train(args) -> int:
    import sys

    from edgekws.extras import require

    require("tensorflow", "train", "edgekws train", "TensorFlow")
    from . import tfsetup
    from .pipeline import TrainConfig, run
    from .specaugment import SpecAugment

    tfsetup.set_verbosity(args.verbose)

    root = args.root[0] if len(args.root) == 1 else tuple(args.root)
    config = TrainConfig(root=root, level=args.level, out_dir=args.out_dir, model_path=args.model,
                         cache_dir=args.cache, words=tuple(args.words) if args.words else None,
                         exclude=tuple(args.exclude), silence_percentage=args.silence_percentage,
                         float_epochs=args.float_epochs, qat_epochs=args.qat_epochs,
                         batch_size=args.batch_size, learning_rate=args.lr,
                         qat_learning_rate=args.qat_lr, filters=args.filters,
                         max_train=args.max_train, seed=args.seed, threads=args.threads,
                         workers=args.workers, verbose=_keras_verbose(args.quiet, sys.stdout),
                         eager=args.eager, init_float=args.init_float,
                         init_qat=args.init_qat, prototype_weight=args.prototype_weight,
                         prototype_per_class=args.prototype_per_class,
                         select=args.select,
                         spec_augment=SpecAugment.from_list(args.spec_augment)
                         if args.spec_augment else None)
    res = run(config)
    acc = res["accuracy"]

    def pct(v):
        return "-" if v is None else f"{100 * v:.2f}%"

    print(f"float {pct(acc.get('float', {}).get('val'))} / quantized {pct(acc['quantized']['val'])} / "
          f"golden {pct(acc['golden']['val'])} (validation); golden test "
          f"{pct(acc['golden']['test'])}; Keras-golden class agreement "
          f"{pct(res['conversion']['class_agreement'])}; model {res['model_path']}")
    return 0


def _keras_verbose(quiet: bool, stream) -> int:
    """Keras ``fit`` verbosity: 0 when quiet; the live progress bar (1) on a terminal;
    else one plain line per epoch (2), since the bar's colour codes and carriage returns
    would fill a log file."""
    if quiet:
        return 0
    return 1 if getattr(stream, "isatty", lambda: False)() else 2
