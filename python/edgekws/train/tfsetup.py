"""Import TensorFlow once, with bounded threads and without its start-up chatter.

Call :func:`tensorflow` instead of ``import tensorflow`` in this package, so that the
thread limits are in place before TensorFlow creates its thread pools (they cannot be
changed afterwards).
"""
from __future__ import annotations

import os

_CONFIGURED = None


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
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    if _CONFIGURED is None:
        if threads is None:
            env = os.environ.get("EDGEKWS_TF_THREADS")
            threads = int(env) if env else (os.cpu_count() or 1)
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive integer, not {threads!r}")
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # TensorFlow was already initialised by someone else
            pass
        _CONFIGURED = threads
    return tf
