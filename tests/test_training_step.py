"""Tests for vae.training.step: the NaN guard, loss scaling and multi-device parity."""

import dataclasses
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf
from absl.testing import parameterized

from tests import fixtures
from vae import config as config_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class TrainStepTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.config = config_lib.preset("smoke", batch_size=4, lr=1e-3)

  def run_steps(self, data, n, consecutive=0):
    model, optimizer, state, train = fixtures.compiled_steps(self.config)
    iterator = iter(tf.data.Dataset.from_tensor_slices(data))
    out = train(iterator, tf.constant(n), tf.constant(consecutive, tf.int64))
    return model, optimizer, state, {k: v.numpy() for k, v in out.items()}

  @pytest.mark.slow  # compiles and runs a model many times: several seconds on 2 cores
  def test_a_poisoned_batch_is_skipped_and_leaves_the_weights_untouched(self):
    clean = fixtures.random_batches(self.config, 2)
    poisoned = np.concatenate([clean[:1], fixtures.random_batches(self.config, 1, poison=0)])
    after_one, *_ = self.run_steps(clean[:1], 1)
    model, optimizer, state, out = self.run_steps(poisoned, 2)
    self.assertEqual(out["skipped"], 1)
    self.assertEqual(out["finite_steps"], 1)
    self.assertEqual(out["consecutive_bad"], 1)
    self.assertEqual(int(optimizer.iterations.numpy()), 2)  # A skipped step still counts.
    self.assertEqual(int(state.skipped_steps.numpy()), 1)
    for expected, actual in zip(after_one.variables, model.variables):
      self.assertAllEqual(expected.numpy(), actual.numpy())
    self.assertTrue(np.isfinite(out["loss"]))

  @pytest.mark.slow  # compiles and runs a model many times: several seconds on 2 cores
  def test_consecutive_bad_steps_carry_across_calls_and_reset_on_a_good_one(self):
    data = fixtures.random_batches(self.config, 3, poison=0)
    data[1, 0, 0, 0, 0] = np.nan
    *_, out = self.run_steps(data, 2, consecutive=2)
    self.assertEqual(out["max_consecutive_bad"], 4)
    *_, out = self.run_steps(data, 3, consecutive=2)
    self.assertEqual(out["consecutive_bad"], 0)

  @pytest.mark.slow  # compiles and runs a model many times: several seconds on 2 cores
  def test_gradients_are_clipped_to_the_global_norm(self):
    config = dataclasses.replace(self.config, clip_norm=1e-6, lr=1.0)
    model, optimizer, state, train = fixtures.compiled_steps(config)
    before = [v.numpy() for v in model.trainable_variables]
    out = train(iter(tf.data.Dataset.from_tensor_slices(fixtures.random_batches(config, 1))), tf.constant(1),
                tf.constant(0, tf.int64))
    self.assertGreater(float(out["grad_norm"]), 1.0)  # The raw norm is reported...
    # ...but Adam's first step moves each weight by about lr whatever the scale,
    # so check the optimizer saw the clipped gradient through its first moment.
    moments = [v for v in optimizer.variables if "momentum" in v.name]
    self.assertNotEmpty(moments)
    total = np.sqrt(sum(float(np.sum(m.numpy() ** 2)) for m in moments))
    self.assertLess(total, 1e-6)  # m = (1 - beta_1) * g with |g| clipped to 1e-6.
    self.assertNotAllClose(before[0], model.trainable_variables[0].numpy())

  @pytest.mark.slow  # XLA compiles the step twice.
  def test_xla_compiled_step_runs_and_agrees_with_the_plain_one(self):
    data = fixtures.random_batches(self.config, 2)
    *_, plain = self.run_steps(data[:1], 1)
    self.config = dataclasses.replace(self.config, xla=True)
    *_, compiled = self.run_steps(data[:1], 1)
    # Only close: under XLA tf.random.stateless_normal picks another
    # algorithm, so the posterior noise (and z) differs, and XLA reorders
    # float32 arithmetic. A wrong step would be off by far more than 0.1 %.
    self.assertAllClose(plain["loss"], compiled["loss"], rtol=1e-3)
    self.assertTrue(np.isfinite(compiled["grad_norm"]))
    *_, compiled = self.run_steps(data, 2)
    self.assertEqual(compiled["finite_steps"], 2)

  @pytest.mark.slow  # compiles and runs a model many times: several seconds on 2 cores
  def test_mixed_precision_halves_the_loss_scale_on_overflow(self):
    config = dataclasses.replace(self.config, mixed_precision=True)
    model, optimizer, state, train = fixtures.compiled_steps(config)
    state.loss_scale.assign(2.0 ** 30)  # Overflows float16 gradients for sure.
    out = train(iter(tf.data.Dataset.from_tensor_slices(fixtures.random_batches(config, 1))), tf.constant(1),
                tf.constant(0, tf.int64))
    self.assertEqual(int(out["overflows"]), 1)
    self.assertEqual(int(out["consecutive_bad"]), 0)  # An overflow is no divergence.
    self.assertEqual(float(state.loss_scale.numpy()), 2.0 ** 29)
    self.assertEqual(model.encoder.variables[0].dtype, tf.float32)


_PARITY_SCRIPT = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {root!r})
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from tests import fixtures
    from vae import config as config_lib
    config = config_lib.preset("smoke", batch_size=8, lr=1e-3, beta_schedule="constant",
                               condition={condition!r}, condition_dropout=0.5)
    data = fixtures.random_batches(config, 3)
    images = data.reshape((-1,) + data.shape[2:])
    slices = images
    if config.condition == "types":
      # One type per image; half the rows of each step lose theirs, each replica its own rows.
      slices = (images, tf.one_hot(tf.range(len(images)) % 18, 18).numpy())
    results = {{}}
    for name, strategy in [("one", tf.distribute.OneDeviceStrategy("/cpu:0")),
                           ("two", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))]:
      model, optimizer, state, train = fixtures.compiled_steps(config, strategy)
      dataset = strategy.experimental_distribute_dataset(
          tf.data.Dataset.from_tensor_slices(slices).batch(8))
      out = train(iter(dataset), tf.constant(3), tf.constant(0, tf.int64))
      results[name] = dict(loss=float(out["loss"]), grad_norm=float(out["grad_norm"]),
                           replicas=strategy.num_replicas_in_sync,
                           weights=[float(tf.reduce_sum(v)) for v in model.trainable_variables])
    print(json.dumps(results))
""")


@pytest.mark.slow
class MultiDeviceTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters("none", "types")
  def test_two_logical_devices_match_one_device(self, condition):
    script = _PARITY_SCRIPT.format(root=ROOT, condition=condition)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    import json  # pylint: disable=import-outside-toplevel
    results = json.loads(result.stdout.strip().splitlines()[-1])
    self.assertEqual(results["two"]["replicas"], 2)
    # Same data, same noise rows, same initial weights: only the order of float
    # sums differs (per-replica partial sums, then an all-reduce), so agreement
    # is to float32 rounding accumulated over 3 Adam steps.
    self.assertAllClose(results["one"]["loss"], results["two"]["loss"], rtol=1e-4)
    self.assertAllClose(results["one"]["grad_norm"], results["two"]["grad_norm"], rtol=1e-3)
    self.assertAllClose(results["one"]["weights"], results["two"]["weights"], rtol=1e-3, atol=1e-3)


if __name__ == "__main__":
  tf.test.main()
