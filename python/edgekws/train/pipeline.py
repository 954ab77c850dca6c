"""``edgekws train``: corpus -> float DS-CNN -> QAT -> golden ``.ekws`` + reports.

Steps of :func:`run`:

1. features of the corpus (cached), uint8 scaling fitted on the training split;
2. float training (Adam, cosine-decayed learning rate), then the batch-norm statistics are
   re-estimated on training data and the float model is evaluated;
3. :func:`~edgekws.train.model.prepare_qat` (equalisation, activation steps, batch-norm
   statistics under quantized inputs) and quantization-aware training; the weights of the
   epoch with the best validation accuracy are kept. With ``prototype_weight`` > 0 the QAT
   loss adds the cross-entropy of a binary-prototype head
   (:mod:`~edgekws.train.prototype`), which trains the spikes for native learning;
   ``init_qat`` resumes QAT from a saved quantized model (no float training, no
   ``prepare_qat``);
4. conversion to the golden model, checked against the quantized Keras model on the
   validation split (per-layer activations, logits, classes);
5. ``<model>.ekws`` with metadata (words, MFCC parameters and uint8 scaling, accuracies),
   the Keras weights, ``report.json``, ``report.md`` and ``confusion.png`` in ``out_dir``.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from edgekws.checks import check_int, check_number

from .dataset import EDGE_WORDS
from .specaugment import AugmentedBatches, SpecAugment

#: Epoch-selection metrics of QAT (:attr:`TrainConfig.select`).
SELECT = ("val_accuracy", "val_native")

#: Metadata format of the ``extra`` block of a trained model file.
METADATA_FORMAT = "edgekws-kws-model"
METADATA_VERSION = 1


@dataclasses.dataclass
class TrainConfig:
    """Everything :func:`run` needs (the ``edgekws train`` options)."""

    root: str | tuple
    out_dir: str = "build/train"
    model_path: str | None = None
    cache_dir: str | None = None
    words: tuple | None = None
    exclude: tuple = EDGE_WORDS
    silence_percentage: float = 10.0
    float_epochs: int = 20
    qat_epochs: int = 12
    batch_size: int = 100
    learning_rate: float = 1e-3
    qat_learning_rate: float = 5e-4
    filters: int = 64
    calibration_samples: int = 4000
    max_train: int | None = None
    seed: int = 0
    threads: int | None = None
    workers: int | None = None
    verbose: int = 1
    #: Run Keras eagerly: slower per step, but no graph tracing (~15 s per phase on a
    #: loaded 2-core machine); only worth it for tiny corpora (tests).
    eager: bool = False
    #: Start from the float model saved by an earlier run (``OUT_DIR/keras-float``) instead
    #: of training one: only QAT, conversion and reports run.
    init_float: str | None = None
    #: Start QAT from a quantized model saved by an earlier run (``OUT_DIR/keras``): no
    #: float training and no :func:`~edgekws.train.model.prepare_qat` (fine-tuning).
    init_qat: str | None = None
    #: Weight of the prototype head's cross-entropy in the QAT loss (0: Dense head only);
    #: see :mod:`edgekws.train.prototype`.
    prototype_weight: float = 0.0
    #: Prototypes per class of that head (the tutorial's neurons per class).
    prototype_per_class: int = 15
    #: Which QAT epoch is kept: the best Dense-head validation accuracy
    #: (``"val_accuracy"``) or the best accuracy of the tutorial's native learning on the
    #: epoch's spikes (``"val_native"``, :mod:`~edgekws.train.native_eval`; measured at
    #: every epoch's end, about 20 s each on the 500-speaker corpus).
    select: str = "val_accuracy"
    #: Loudness normalisation of the model's input (``MfccScaling.level``: "none" or
    #: "c0-max", which moves each window's loudest frame to one level).
    level: str = "none"
    #: Masks drawn on every training window (float and QAT), or None:
    #: :class:`~edgekws.train.specaugment.SpecAugment`.
    spec_augment: SpecAugment | None = None

    def __post_init__(self):
        for name in ("float_epochs", "qat_epochs"):
            check_int(name, getattr(self, name), 0)
        for name in ("batch_size", "filters", "calibration_samples", "prototype_per_class"):
            check_int(name, getattr(self, name))
        for name in ("learning_rate", "qat_learning_rate"):
            check_number(name, getattr(self, name), "> 0", above=0)
        check_number("prototype_weight", self.prototype_weight, ">= 0", minimum=0)
        if self.select not in SELECT:
            raise ValueError(f"select must be one of {SELECT}, not {self.select!r}")
        if self.init_float and self.init_qat:
            raise ValueError("give init_float or init_qat, not both")
        if self.max_train is not None:
            check_int("max_train", self.max_train)
        if self.spec_augment is not None and not isinstance(self.spec_augment, SpecAugment):
            raise ValueError(f"spec_augment must be a SpecAugment or None, not "
                             f"{self.spec_augment!r}")
        if self.spec_augment is not None:
            from edgekws.data.mfcc import MfccParams

            self.spec_augment.check_shape(*MfccParams().shape)
        if self.model_path is None:
            self.model_path = str(Path(self.out_dir) / "ds_cnn_kws.ekws")
        if self.cache_dir is None:
            self.cache_dir = str(Path(self.out_dir) / "features")


def _fit(model, data, epochs, lr, batch_size, verbose, keep_best, eager=False,
         monitor="val_accuracy", extra_callbacks=(), augment=None, seed=0):
    """Keras fit with a cosine-decayed Adam; optionally restore the epoch with the best
    ``monitor`` (a validation metric that ``extra_callbacks`` may add to the logs) and
    mask the training windows with ``augment`` (a :class:`SpecAugment`)."""
    import keras

    from .model import compile_model

    steps = max(1, -(-len(data.x_train) // batch_size)) * epochs
    schedule = keras.optimizers.schedules.CosineDecay(lr, decay_steps=steps, alpha=0.05)
    compile_model(model, schedule)
    model.run_eagerly = bool(eager)
    callbacks = list(extra_callbacks)      # before BestWeights: they fill in its metric
    best = _BestWeights(monitor) if keep_best else None
    if best is not None:
        callbacks.append(best)
    if augment is None:
        train = {"x": data.x_train.astype(np.float32), "y": data.y_train,
                 "batch_size": batch_size, "shuffle": True}
    else:
        train = {"x": AugmentedBatches(data.x_train, data.y_train, batch_size, augment, seed)}
    history = model.fit(**train, epochs=epochs, verbose=verbose,
                        validation_data=(data.x_val.astype(np.float32), data.y_val),
                        callbacks=callbacks)
    if best is not None and best.weights is not None:
        model.set_weights(best.weights)
    return {k: [float(v) for v in vals] for k, vals in history.history.items()}, \
        (best.epoch if best is not None else epochs - 1)


def _best_weights_callback():
    import keras

    class BestWeights(keras.callbacks.Callback):
        """Keep the weights of the epoch with the best ``monitor`` (higher is better)."""

        def __init__(self, monitor):
            super().__init__()
            self.monitor = monitor
            self.best, self.weights, self.epoch = -1.0, None, -1

        def on_epoch_end(self, epoch, logs=None):
            if self.monitor not in (logs or {}):
                raise KeyError(f"no {self.monitor!r} in the epoch's logs "
                               f"({sorted(logs or {})})")
            acc = float(logs[self.monitor])
            if acc > self.best:
                self.best, self.weights, self.epoch = acc, self.model.get_weights(), epoch

    return BestWeights


def _BestWeights(monitor="val_accuracy"):
    return _best_weights_callback()(monitor)


def _accuracy(model, x, y, batch_size=500) -> float | None:
    if len(x) == 0:
        return None
    pred = predict_classes(model, x, batch_size)
    return float(np.mean(pred == y))


def predict_classes(model, x, batch_size: int = 500) -> np.ndarray:
    """Argmax of the Keras model's logits (float or quantized mode, inference)."""
    out = []
    for i in range(0, len(x), batch_size):
        out.append(np.argmax(np.asarray(model(x[i:i + batch_size].astype(np.float32),
                                              training=False)), axis=1))
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def recalibrate_float_bn(model, x) -> None:
    """Float mode: set every batch-norm's moving statistics to their values on ``x``."""
    from .model import INPUT_SCALE, _set_bn_statistics

    if model.quantized:
        raise ValueError("recalibrate_float_bn needs a float-mode model")
    hs = [x[i:i + 500].astype(np.float32) * INPUT_SCALE for i in range(0, len(x), 500)]
    for block in model.blocks:
        _set_bn_statistics(block, hs)
        hs = [block(h, training=False) for h in hs]


def model_metadata(data, results: dict | None = None) -> dict:
    """The ``extra`` block of the model file: what a user of the model needs to run it."""
    meta = {
        "format": METADATA_FORMAT,
        "version": METADATA_VERSION,
        "words": data.words,
        "word_to_index": data.word_to_index,
        "mfcc": data.mfcc.to_dict(),
        "mfcc_scaling": data.scaling.to_dict(),
        "input": "uint8 MFCC codes (49, 10, 1) = mfcc_scaling.to_uint8(mfcc(wave))",
    }
    if results:
        meta["training"] = {k: results[k] for k in ("corpus", "accuracy", "conversion_summary",
                                                     "config", "samples") if k in results}
    return meta


def run(config: TrainConfig) -> dict:
    """Train, quantize, convert and report; returns the results written to report.json.

    Everything runs inside :func:`~edgekws.train.tfsetup.distribution`'s scope, so a
    machine with several GPUs trains on all of them; nothing here assumes a CPU.
    """
    from .tfsetup import distribution, tensorflow

    tensorflow(config.threads)
    with distribution().scope():
        return _run(config)


def _run(config: TrainConfig) -> dict:
    from edgekws.convert import compare, to_golden
    from edgekws.golden.fileformat import save

    from .dataset import load_corpus
    from .model import build_ds_cnn, load_keras, prepare_qat, save_keras
    from .report import confusion_matrix, plot_confusion, write_reports

    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model_path = Path(config.model_path)
    model_path.parent.mkdir(parents=True, exist_ok=True)
    times = {}
    say = print if config.verbose else (lambda *a, **k: None)

    t0 = time.time()
    data = load_corpus(config.root, config.cache_dir, words=config.words,
                       exclude=config.exclude, silence_percentage=config.silence_percentage,
                       seed=config.seed, workers=config.workers, progress=bool(config.verbose),
                       level=config.level)
    rng = np.random.default_rng(config.seed)
    if config.max_train is not None and len(data.x_train) > config.max_train:
        keep = np.sort(rng.choice(len(data.x_train), config.max_train, replace=False))
        data.x_train, data.y_train = data.x_train[keep], data.y_train[keep]
    times["features"] = time.time() - t0
    n_classes = len(data.word_to_index)
    say(f"corpus {config.root}: {n_classes} classes, train {len(data.x_train)}, "
        f"val {len(data.x_val)}, test {len(data.x_test)}")

    model = build_ds_cnn(n_classes, config.filters, seed=config.seed)
    results = {"corpus": str(config.root), "num_classes": n_classes, "words": data.words,
               "samples": {"train": len(data.x_train), "val": len(data.x_val),
                           "test": len(data.x_test)},
               "config": {k: v for k, v in dataclasses.asdict(config).items()
                          if k not in ("verbose",)},
               "accuracy": {}, "history": {}}
    calib_idx = rng.choice(len(data.x_train), min(config.calibration_samples,
                                                  len(data.x_train)), replace=False)
    x_calib, y_calib = data.x_train[np.sort(calib_idx)], data.y_train[np.sort(calib_idx)]

    t0 = time.time()
    if config.init_qat:
        start = load_keras(config.init_qat)
        if not start.quantized or (start.num_classes, start.filters) != (n_classes,
                                                                         config.filters):
            raise ValueError(f"{config.init_qat!r} holds a {start.config()} model; a "
                             f"quantized model with {n_classes} classes and "
                             f"{config.filters} filters is needed")
        model = start
        results["config"]["float_epochs"] = None      # trained elsewhere
        say(f"quantized model from {config.init_qat}")
    elif config.init_float:
        start = load_keras(config.init_float)
        if start.quantized or (start.num_classes, start.filters) != (n_classes, config.filters):
            raise ValueError(f"{config.init_float!r} holds a {start.config()} model; a float "
                             f"model with {n_classes} classes and {config.filters} filters "
                             "is needed")
        model.set_weights(start.get_weights())
        results["config"]["float_epochs"] = None      # trained elsewhere
        say(f"float model from {config.init_float}")
    elif config.float_epochs:
        say(f"float training: {config.float_epochs} epochs")
        results["history"]["float"], _ = _fit(model, data, config.float_epochs,
                                               config.learning_rate, config.batch_size,
                                               config.verbose, keep_best=False,
                                               eager=config.eager,
                                               augment=config.spec_augment, seed=config.seed)
    if not config.init_qat:
        recalibrate_float_bn(model, x_calib)
        save_keras(model, out / "keras-float")
        results["accuracy"]["float"] = {"val": _accuracy(model, data.x_val, data.y_val),
                                        "test": _accuracy(model, data.x_test, data.y_test)}
        say(f"float accuracy: {results['accuracy']['float']}")
    times["float"] = time.time() - t0

    t0 = time.time()
    if not config.init_qat:
        results["activation_steps"] = prepare_qat(model, x_calib)
    results["accuracy"]["quantized_before_qat"] = {
        "val": _accuracy(model, data.x_val, data.y_val)}
    say(f"quantized before QAT: {results['accuracy']['quantized_before_qat']}")
    if config.qat_epochs:
        say(f"quantization-aware training: {config.qat_epochs} epochs"
            + (f", prototype head weight {config.prototype_weight:g}"
               if config.prototype_weight else ""))
        target = _with_prototype_head(model, config, x_calib, y_calib) \
            if config.prototype_weight else model
        extra = []
        if config.select == "val_native":
            from .native_eval import native_callback
            extra.append(native_callback(model, data.x_train, data.y_train, data.x_val,
                                         data.y_val, n_classes, log=say,
                                         seed=config.seed))
        results["history"]["qat"], results["qat_best_epoch"] = _fit(
            target, data, config.qat_epochs, config.qat_learning_rate, config.batch_size,
            config.verbose, keep_best=True, eager=config.eager, monitor=config.select,
            extra_callbacks=extra, augment=config.spec_augment, seed=config.seed + 1)
    times["qat"] = time.time() - t0
    results["accuracy"]["quantized"] = {"val": _accuracy(model, data.x_val, data.y_val),
                                        "test": _accuracy(model, data.x_test, data.y_test)}
    say(f"quantized accuracy: {results['accuracy']['quantized']}")
    save_keras(model, out / "keras")

    t0 = time.time()
    golden = to_golden(model)
    conv = compare(model, golden, data.x_val, data.y_val)
    results["conversion"] = conv
    results["conversion_summary"] = {k: conv[k] for k in ("samples", "class_agreement",
                                                          "logits_equal")}
    eval_x, eval_y, eval_split = (data.x_test, data.y_test, "test") if len(data.x_test) \
        else (data.x_val, data.y_val, "val")
    g_pred = golden.predict_classes(eval_x, num_classes=n_classes)
    results["accuracy"]["golden"] = {"val": conv["golden_accuracy"],
                                     "test": float(np.mean(g_pred == data.y_test))
                                     if len(data.x_test) else None}
    spikes = golden.get_layer("separable_4")
    sp = _spikes(golden, data.x_val[:2000])
    results["spikes"] = {"channels": spikes.filters, "mean_active": float(sp.sum(axis=1).mean()),
                         "never_active": int((sp.max(axis=0) == 0).sum()),
                         "always_active": int((sp.min(axis=0) == 1).sum())}
    times["convert"] = time.time() - t0
    say(f"golden accuracy: {results['accuracy']['golden']}; class agreement "
        f"{100 * conv['class_agreement']:.2f}%")

    cm = confusion_matrix(eval_y, g_pred, n_classes)
    results["confusion_split"] = eval_split
    results["confusion"] = cm.tolist()
    plot_confusion(cm, data.words, out / "confusion.png",
                   title=f"Golden integer model, {eval_split} split "
                         f"({100 * np.mean(g_pred == eval_y):.1f}%)")
    results["seconds"] = times
    save(golden, model_path, extra=model_metadata(data, results))
    results["model_path"] = str(model_path)
    write_reports(results, out)
    say(f"wrote {model_path} and {out / 'report.md'}")
    return results


def _with_prototype_head(model, config: TrainConfig, x, y):
    """``model`` wrapped with a prototype head whose prototypes start at the spikes of
    training samples ``x`` (labels ``y``): a
    :class:`~edgekws.train.prototype.PrototypeTrainer`."""
    from .native_eval import spikes_of
    from .prototype import PrototypeHead, PrototypeTrainer

    spikes = spikes_of(model, x).reshape(len(x), -1)
    head = PrototypeHead(model.num_classes, config.prototype_per_class, name="prototypes")
    head.build((None, spikes.shape[1]))
    head.init_from_samples(spikes, y, seed=config.seed)
    return PrototypeTrainer(model, head, config.prototype_weight)


def _spikes(golden, x) -> np.ndarray:
    h = x
    for layer in golden.layers:
        h = layer.call(h)
        if layer.name == "separable_4":
            return h.reshape(len(x), -1)
    raise ValueError("the model has no separable_4 layer")
