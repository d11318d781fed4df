"""Tests for common/startup.py: the programs' TensorFlow settings, oneDNN among them."""

import json
import os
import subprocess
import sys
import unittest

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Six compiled training steps of the smoke model, one per call, from a fixed
# start on fixed batches; prints each step's loss and the final weights' norm.
STEPS = """
import json, sys
import numpy as np, tensorflow as tf
from tests import fixtures
from vae import config as config_lib
config = config_lib.preset("smoke", batch_size=4, lr=1e-3, grid_prior=sys.argv[1])
model, optimizer, state, train = fixtures.compiled_steps(config)
iterator = iter(tf.data.Dataset.from_tensor_slices(fixtures.random_batches(config, 6)))
losses = [float(train(iterator, tf.constant(1), tf.constant(0, tf.int64))["loss"]) for _ in range(6)]
norm = float(tf.linalg.global_norm(model.trainable_variables))
print(json.dumps(dict(losses=losses, norm=norm)))
"""


def run_steps(onednn, grid_prior):
  env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=onednn, TF_CPP_MIN_LOG_LEVEL="2")
  done = subprocess.run([sys.executable, "-c", STEPS, grid_prior], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=600, check=False)
  if done.returncode:
    raise AssertionError(f"TF_ENABLE_ONEDNN_OPTS={onednn}: {done.stderr[-2000:]}")
  return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # starts interpreters that train
class StartupTest(unittest.TestCase):

  def test_onednn_is_turned_on_unless_the_user_set_it(self):
    script = ("import os; from common import startup; startup.import_tensorflow(); "
              "print(os.environ['TF_ENABLE_ONEDNN_OPTS'])")
    for given, expected in ((None, "1"), ("0", "0"), ("1", "1")):
      env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
      if given is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = given
      done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=300, check=True)
      self.assertEqual(done.stdout.strip().splitlines()[-1], expected, given)

  @pytest.mark.slow
  def test_training_losses_are_the_same_with_onednn_on_and_off(self):
    # oneDNN sums in other orders (and its convolutions block differently),
    # so the two agree to float32 rounding, grown over six Adam steps on an
    # 8-bit likelihood of ~10^4 nats an image: 1e-4 relative is far below the
    # step-to-step change of the loss (several percent) and far above rounding.
    for grid_prior in ("independent", "autoregressive"):
      with self.subTest(grid_prior=grid_prior):
        on, off = run_steps("1", grid_prior), run_steps("0", grid_prior)
        np.testing.assert_allclose(on["losses"], off["losses"], rtol=1e-4)
        np.testing.assert_allclose(on["norm"], off["norm"], rtol=1e-4)
        self.assertGreater(abs(on["losses"][0] - on["losses"][-1]) / on["losses"][0], 1e-3)


if __name__ == "__main__":
  unittest.main()
