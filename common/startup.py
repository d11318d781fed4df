"""Imports TensorFlow without its start-up noise, for the programs users run.

TensorFlow's C++ runtime writes INFO lines (oneDNN, CUDA stubs, absl's
"before InitializeLog" warning) straight to file descriptor 2 while its shared
libraries load, before `TF_CPP_MIN_LOG_LEVEL` can filter them. The programs
import TensorFlow, TFP and Keras here once, with descriptor 2 pointed at
/dev/null for the duration of the import only; Python exceptions still
propagate. Set POKEVAE_TF_LOGS=1 to see everything.
"""

import contextlib
import os
import sys


@contextlib.contextmanager
def _stderr_silenced():
  if os.environ.get("POKEVAE_TF_LOGS") == "1":
    yield
    return
  sys.stderr.flush()
  saved = os.dup(2)
  devnull = os.open(os.devnull, os.O_WRONLY)
  try:
    os.dup2(devnull, 2)
    yield
  finally:
    os.dup2(saved, 2)
    os.close(saved)
    os.close(devnull)


def import_tensorflow():
  """Imports and returns TensorFlow quietly (TFP and Keras with it)."""
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  # NumPy's OpenBLAS threads spin while they wait and fight TensorFlow's
  # thread pools for the cores, which slowed the ex-post density's EM fit
  # many times over (bench/README.md, "Figures that were in code comments").
  # The programs' NumPy work is small, so one thread costs nothing there.
  os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
  # oneDNN's CPU kernels: TensorFlow uses them by default only on CPUs with
  # AVX-512, where this project is developed and tested; elsewhere (AVX2) it
  # leaves them off. On, every x86-64 machine runs the kernels the tests ran,
  # and an AVX2 machine trained faster with them (bench/README.md, oneDNN).
  os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
  with _stderr_silenced():
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    import keras  # pylint: disable=import-outside-toplevel,unused-import
    import tensorflow_probability  # pylint: disable=import-outside-toplevel,unused-import
    # Device discovery logs too (a failed cuInit on machines without a GPU).
    tf.config.list_physical_devices()
  return tf
