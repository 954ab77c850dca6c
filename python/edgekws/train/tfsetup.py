"""Import TensorFlow once, with bounded threads and without its start-up chatter.

Call :func:`tensorflow` instead of ``import tensorflow`` in this package, so that the
thread limits are in place before TensorFlow creates its thread pools (they cannot be
changed afterwards). The command line calls :func:`set_verbosity` first: TensorFlow's
C++ log (oneDNN notices, "failed call to cuInit" on machines without a GPU), its Python
warnings and absl's log are shown only with ``-v``.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys

from edgekws.checks import check_int

_CONFIGURED = None
#: ``edgekws -v`` count: 0 keeps TensorFlow to errors that stop the run.
_VERBOSITY = 0

#: TF_CPP_MIN_LOG_LEVEL by verbosity: 3 hides even C++ "errors" such as the missing
#: CUDA driver, which are harmless here (the run fails loudly if something real breaks).
_CPP_LEVEL = {0: "3", 1: "1", 2: "0"}
#: The user's own TF_CPP_MIN_LOG_LEVEL wins over the verbosity.
_USER_CPP_LEVEL = "TF_CPP_MIN_LOG_LEVEL" in os.environ


def set_verbosity(verbose: int = 0) -> None:
    """How much TensorFlow may say: 0 (default) nothing but failures, 1 warnings,
    2 everything. Takes full effect when called before the first :func:`tensorflow`;
    later calls still set the Python-side loggers.

    A ``TF_CPP_MIN_LOG_LEVEL`` set in the environment is left as the user set it.
    """
    global _VERBOSITY
    verbose = check_int("verbose", verbose, 0)
    _VERBOSITY = min(verbose, 2)
    if not _USER_CPP_LEVEL:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = _CPP_LEVEL[_VERBOSITY]
    if _CONFIGURED is not None:
        _python_logs()


@contextlib.contextmanager
def _stderr_silenced(silence: bool):
    """File descriptor 2 to /dev/null inside the block when ``silence``.

    TensorFlow's import logs through absl before absl is initialised, which ignores
    TF_CPP_MIN_LOG_LEVEL ("oneDNN custom operations are on", "Could not find cuda
    drivers"), so only the descriptor itself can hold those lines back. An import that
    fails still raises its exception after stderr is restored.
    """
    if not silence:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def _python_logs() -> None:
    """TensorFlow's and absl's Python loggers at the level of :data:`_VERBOSITY`."""
    level = {0: logging.ERROR, 1: logging.WARNING, 2: logging.INFO}[_VERBOSITY]
    for name in ("tensorflow", "absl", "keras"):
        logging.getLogger(name).setLevel(level)
    try:
        from absl import logging as absl_logging
        absl_logging.set_verbosity({0: "error", 1: "warning", 2: "info"}[_VERBOSITY])
    except ImportError:        # absl comes with TensorFlow; nothing to quiet without it
        pass


def tensorflow(threads: int | None = None):
    """The ``tensorflow`` module, configured on the first call.

    Parameters
    ----------
    threads : int, optional
        Intra-op threads (default: ``$EDGEKWS_TF_THREADS`` or all CPUs). Inter-op
        parallelism is kept at 1: the DS-CNN graph is a chain, and on a shared 2-core
        machine extra pools only add contention. A later call with a different value
        cannot change the pools; it is ignored.
    """
    global _CONFIGURED
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", _CPP_LEVEL[_VERBOSITY])
    with _stderr_silenced(_VERBOSITY == 0 and "tensorflow" not in sys.modules):
        import tensorflow as tf

    if _CONFIGURED is None:
        if threads is None:
            env = os.environ.get("EDGEKWS_TF_THREADS")
            threads = int(env) if env else (os.cpu_count() or 1)
        threads = check_int("threads", threads)
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # TensorFlow was already initialised by someone else
            pass
        _CONFIGURED = threads
        _python_logs()
    return tf


def distribution():
    """The ``tf.distribute`` strategy of this machine: every GPU through
    ``MirroredStrategy`` when there are two or more (batches are split across them and
    the gradients summed), else TensorFlow's default (one GPU, or the CPU). Models and
    optimizers must be built inside its ``scope()``; :func:`edgekws.train.pipeline.run`
    does that for the whole training."""
    tf = tensorflow()
    gpus = tf.config.list_physical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()
