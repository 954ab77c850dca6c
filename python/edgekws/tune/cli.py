"""``edgekws tune ...``: choose num_weights and neurons per class from data."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekws import limits
from edgekws.cliargs import class_index, nonneg_int, positive_int


def add_cli(sub) -> None:
    p = sub.add_parser("tune", help="learning-parameter tools (num_weights, neurons per class)")
    tsub = p.add_subparsers(dest="tune_command", metavar="TOOL")
    tsub.required = True

    nw = tsub.add_parser("num-weights", help="spike statistics and the suggested num_weights")
    _source_args(nw)
    nw.add_argument("--fraction", type=float, default=0.1,
                    help="random fraction of the samples to use (default: 0.1, as the "
                    "tutorial)")
    nw.add_argument("--plot", metavar="PNG", help="save the spike-count histogram here")
    nw.set_defaults(func=_num_weights)

    npc = tsub.add_parser("neurons-per-class",
                          help="loss and learned neurons against neurons per class, one class")
    _source_args(npc)
    npc.add_argument("--labels", metavar="NPY",
                     help="labels of the samples (.npy), when --inputs/--spikes hold several classes")
    npc.add_argument("--class", dest="cls", metavar="CLASS",
                     help="the class to analyse: its number, or its name (from --words)")
    npc.add_argument("--words", default=None,
                     help="class names in label order, comma-separated (default: the "
                     "LABELS.words.txt that 'tune spikes' writes beside its labels)")
    npc.add_argument("--num-weights", type=positive_int,
                     help="num_weights of the learning layer (default: suggested from the "
                     "spike statistics)")
    npc.add_argument("--neurons", default=None,
                     help="comma-separated neuron counts (default: the tutorial's 2..500)")
    npc.add_argument("--repetitions", type=positive_int, default=1,
                     help="learning runs per neuron count; the best is kept")
    npc.add_argument("--learning-competition", type=float, default=0.1,
                     help="learning_competition of the learning layer")
    npc.add_argument("--seed", type=nonneg_int, default=0,
                     help="seed of the sample order and the initial weights")
    npc.add_argument("--plot", metavar="PNG", help="save the two curves here")
    npc.add_argument("--name", help="the class's name for the plot (default: the "
                     "--class name)")
    npc.set_defaults(func=_neurons_per_class)

    sp = tsub.add_parser("spikes", help="the extractor's spikes (and labels) on a corpus split, "
                         "as the tutorial's native learning sees them")
    sp.add_argument("--model", metavar="EKWS", required=True,
                    help="trained model (.ekws) whose extractor ends in 1-bit spikes")
    sp.add_argument("--corpus", metavar="ROOT", required=True, help="Speech Commands layout folder")
    sp.add_argument("--split", choices=("train", "validation", "test"), default="train",
                    help="corpus split")
    sp.add_argument("--cache", metavar="DIR", default=None,
                    help="feature cache folder (default: the tutorial's, .ekws-cache)")
    sp.add_argument("--seed", type=nonneg_int, default=None,
                    help="silence-cut seed (default: the tutorial's, 0)")
    sp.add_argument("--out", metavar="NPY", required=True, help="spikes, uint8 (n, inputs)")
    sp.add_argument("--labels-out", metavar="NPY",
                    help="labels, int32 (n,); the class names go to NPY.words.txt beside it")
    sp.set_defaults(func=_corpus_spikes)


def _source_args(p):
    p.add_argument("--spikes", metavar="NPY", help="binary spikes (.npy, or .npz with 'x')")
    p.add_argument("--model", metavar="EKWS", help="feature extractor (.ekws) to run on --inputs")
    p.add_argument("--inputs", metavar="NPY", help="uint8 model inputs (.npy, or .npz with 'x')")


def _load_array(path, key="x"):
    """Array ``key`` of a .npz file or the array of a .npy file: a regular file within
    ``limits.NPY_MAX_BYTES`` holding at least one dimension (one row per sample)."""
    from edgekws.safeopen import open_regular
    try:
        with open_regular(path, "array file", limits.NPY_MAX_BYTES) as f:
            data = np.load(f, allow_pickle=False)
            if isinstance(data, np.lib.npyio.NpzFile):
                if key not in data:
                    raise ValueError(f"{path!r} has no array {key!r}; it has "
                                     f"{list(data.keys())}")
                data = data[key]
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file: {path!r}") from None
    except (ValueError, EOFError, OSError) as exc:
        raise ValueError(f"{path!r} is not a numpy .npy/.npz file: {exc}") from None
    if data.ndim == 0:
        raise ValueError(f"{path!r} holds a single value (a 0-d array); expected one row "
                         "per sample")
    return data


def _words_path(labels) -> Path:
    """The class-name file beside a labels file: labels.npy -> labels.words.txt."""
    labels = Path(labels)
    return labels.with_name(labels.stem + ".words.txt")


def _class_names(words, labels):
    """Class names in label order: ``--words`` (comma-separated), else the words file
    beside ``labels``, else None (then a class is given by number only)."""
    if words is not None:
        return [w.strip() for w in words.split(",") if w.strip()]
    path = _words_path(labels)
    if path.exists():
        return path.read_text(encoding="utf-8").split()
    return None


def _spikes(args, fraction=1.0):
    from .spikes import random_subset

    if args.spikes:
        s = _load_array(args.spikes)
        s = s[random_subset(len(s), fraction)]
    elif args.model and args.inputs:
        from edgekws.golden import Model
        model = Model(args.model)
        x = _load_array(args.inputs)
        s = model.forward(x[random_subset(len(x), fraction)])
    else:
        raise ValueError("give --spikes, or --model with --inputs")
    return s.reshape(s.shape[0], -1)


def _num_weights(args) -> int:
    from .spikes import spike_statistics
    if not 0 < args.fraction <= 1:
        raise ValueError(f"--fraction must be in (0, 1], not {args.fraction!r}")
    spikes = _spikes(args, args.fraction)
    stats = spike_statistics(spikes)
    print(stats.report())
    if args.plot:
        stats.plot(args.plot)
        print(f"histogram: {args.plot}")
    return 0


def _neurons_per_class(args) -> int:
    from .neurons import DEFAULT_NEURONS, neurons_per_class_analysis
    from .spikes import spike_statistics
    spikes = _spikes(args)
    cls = name = None
    if args.labels is not None or args.cls is not None:
        if args.labels is None or args.cls is None:
            raise ValueError("--labels and --class go together")
        words = _class_names(args.words, args.labels)
        cls = class_index(args.cls, words)
        name = args.cls if not args.cls.strip().isdigit() else None
        y = _load_array(args.labels, "y").reshape(-1)
        if len(y) != len(spikes):
            raise ValueError(f"{len(y)} labels for {len(spikes)} samples")
        spikes = spikes[y == cls]
        if len(spikes) == 0:
            raise ValueError(f"no sample has class {args.cls}")
    k = args.num_weights
    if k is None:
        k = spike_statistics(spikes).suggested_num_weights
    neurons = DEFAULT_NEURONS if args.neurons is None else [
        int(v) for v in args.neurons.split(",") if v.strip()]
    res = neurons_per_class_analysis(spikes, k, neurons, args.learning_competition,
                                     args.repetitions, args.seed, progress=not args.quiet)
    print(f"{res.num_samples} samples, num_weights {k}")
    print(res.table())
    if args.plot:
        name = args.name or name
        label = (f"'{name}'" if name else
                 f"class {cls}" if cls is not None else "the class")
        res.plot(args.plot, label)
        print(f"plot: {args.plot}")
    return 0


def _corpus_spikes(args) -> int:
    from edgekws.tutorial.corpus_spikes import corpus_spikes, save_npy
    res = corpus_spikes(args.model, args.corpus, args.split, args.cache, args.seed,
                        progress=not args.quiet)
    save_npy(args.out, res.spikes)
    if args.labels_out:
        from edgekws.atomicio import atomic_write
        save_npy(args.labels_out, res.labels)
        atomic_write(_words_path(args.labels_out), "".join(f"{w}\n" for w in res.words).encode())
    counts = res.spikes.sum(axis=1)
    print(f"{len(res.spikes)} {args.split} samples, {len(res.words)} classes, "
          f"{res.spikes.shape[1]} spikes wide ({res.layer}), mean {counts.mean():.2f} per sample")
    print(f"spikes: {args.out}" + (f"; labels: {args.labels_out}" if args.labels_out else ""))
    return 0
