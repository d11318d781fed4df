"""Tests for vae.conditioning and the conditional VAE (`--condition types`)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# pylint: disable=wrong-import-position
import numpy as np
import pytest
import tensorflow as tf

from pipelines import types_table
from vae import conditioning
from vae import config as config_lib
from vae import objectives
from vae.model import VAE
from tests import fixtures

NAMES = types_table.TYPE_NAMES
T = len(NAMES)


def _multi_hot(*names):
  out = np.zeros(T, np.float32)
  out[[NAMES.index(n) for n in names]] = 1
  return out


def _model(**changes):
  tf.random.set_seed(0)
  return VAE.from_config(config_lib.preset("smoke", condition="types", **changes))


class TypeEmbeddingTest(tf.test.TestCase):

  def test_starts_at_zero_and_embeds_two_types_as_the_sum(self):
    embedding = conditioning.TypeEmbedding(T, 5)
    types = np.stack([_multi_hot("Fire"), _multi_hot("Water"), _multi_hot("Fire", "Water"),
                      np.zeros(T, np.float32)])
    self.assertAllEqual(embedding(types), np.zeros((4, 5)))
    embedding.table.assign(tf.random.normal([T, 5]))
    out = embedding(types).numpy()
    self.assertAllClose(out[2], out[0] + out[1])
    self.assertAllEqual(out[3], np.zeros(5))  # no types: the unconditional input

  def test_bad_sizes_are_refused(self):
    with self.assertRaisesRegex(ValueError, "width must be a positive integer, got 0"):
      conditioning.TypeEmbedding(T, 0)

  def test_as_batch_reads_none_as_zeros_and_repeats_one_row(self):
    self.assertAllEqual(conditioning.as_batch(None, 3, T), np.zeros((3, T)))
    fire = _multi_hot("Fire")
    self.assertAllEqual(conditioning.as_batch(fire, 2, T), np.stack([fire, fire]))
    rows = np.eye(T, dtype=np.float32)[:4]
    self.assertAllEqual(conditioning.as_batch(rows, 4, T), rows)


class DropTypesTest(tf.test.TestCase):

  def test_rate_zero_keeps_every_row(self):
    types = tf.ones([6, T])
    self.assertAllEqual(conditioning.drop_types(types, 0.0, [1, 2]), types)

  def test_drops_whole_rows_at_about_the_rate(self):
    out = conditioning.drop_types(tf.ones([4000, T]), 0.25, [1, 2]).numpy()
    per_row = out.sum(1)
    self.assertTrue(np.all((per_row == 0) | (per_row == T)))
    self.assertAllClose(np.mean(per_row == 0), 0.25, atol=0.03)

  def test_a_replica_drops_its_rows_of_the_global_batch(self):
    whole = conditioning.drop_types(tf.ones([8, T]), 0.5, [3, 4]).numpy()
    part = conditioning.drop_types(tf.ones([4, T]), 0.5, [3, 4], first_row=4, rows=8).numpy()
    self.assertAllEqual(part, whole[4:])
    self.assertNotAllEqual(whole.sum(1), np.full(8, T))  # some rows were dropped


@pytest.mark.slow  # builds the smoke model in every test
class ConditionalModelTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.x = tf.random.stateless_uniform([4, 32, 32, 4], [0, 1])
    cls.fire = _multi_hot("Fire")
    cls.water = _multi_hot("Water")

  def test_condition_tables_are_tracked_and_only_in_the_conditional_model(self):
    model = _model()
    names = sorted(v.name for v in model.trainable_variables if "condition" in v.name)
    self.assertEqual(names, ["vae/decoder/condition/table:0", "vae/encoder/condition/table:0"])
    plain = VAE.from_config(config_lib.preset("smoke"))
    self.assertFalse(plain.conditional)
    self.assertEqual(len(model.trainable_variables), len(plain.trainable_variables) + 2)
    self.assertFalse([v for v in plain.variables if "condition" in v.name])

  def test_checkpoint_round_trip_restores_the_tables(self):
    model = _model()
    for table in (model.encoder.condition.table, model.decoder.condition.table):
      table.assign(tf.random.normal(table.shape))
    path = tf.train.Checkpoint(model=model).write(os.path.join(self.get_temp_dir(), "ckpt"))
    fresh = _model()
    tf.train.Checkpoint(model=fresh).read(path).assert_existing_objects_matched()
    code = model.encode(self.x, self.fire).mean()
    self.assertAllClose(fresh.render(code, self.water), model.render(code, self.water))

  def test_at_the_start_it_is_the_unconditional_model(self):
    # The tables start at zero: every condition decodes as no condition.
    model = _model()
    code = model.encode(self.x).mean()
    self.assertAllClose(model.encode(self.x, self.fire).mean(), code)
    self.assertAllClose(model.decode(code, self.water).mean(), model.decode(code).mean())

  def test_the_types_reach_the_encoder_decoder_and_grid_prior(self):
    model = _model()
    for table in (model.encoder.condition.table, model.decoder.condition.table):
      table.assign(tf.random.normal(table.shape))
    self.assertNotAllClose(model.encode(self.x, self.fire).mean(),
                           model.encode(self.x, self.water).mean())
    code = model.encode(self.x).mean()
    self.assertNotAllClose(model.decode(code, self.fire).mean(),
                           model.decode(code, self.water).mean())
    z1 = model.split_code(code)[0]
    self.assertNotAllClose(model.grid_centre(z1, self.fire), model.grid_centre(z1, self.water))
    # None is the condition of all zeros.
    self.assertAllClose(model.decode(code).mean(), model.decode(code, np.zeros(T)).mean())

  def test_the_loss_trains_the_tables_of_the_types_given(self):
    model = _model()
    types = np.stack([self.fire, self.fire, self.water, self.water])
    with tf.GradientTape() as tape:
      loss = objectives.training_loss(
          objectives.elbo_terms(model, self.x, types=types, seed=[0, 1]), beta=1.0)
    tables = [model.encoder.condition.table, model.decoder.condition.table]
    for grad in tape.gradient(loss, tables):
      rows = np.abs(grad.numpy()).sum(1)
      self.assertGreater(rows[NAMES.index("Fire")], 0)
      self.assertGreater(rows[NAMES.index("Water")], 0)
      self.assertEqual(rows[NAMES.index("Ghost")], 0)  # a type no image has

  def test_iwae_bound_is_at_least_the_elbo(self):
    model = _model()
    types = np.stack([self.fire] * 4)
    elbo = np.mean([objectives.elbo_terms(model, self.x, types=types, seed=[s, 0])["elbo"]
                    for s in range(8)], 0)
    iwae = objectives.iwae_bound(model, self.x, k=16, types=types, seed=[5, 5]).numpy()
    self.assertAllGreaterEqual(iwae - elbo, -1.0)
    self.assertGreater(np.mean(iwae - elbo), 0.0)

  def test_blends_are_decoded_with_their_parents_types_or_the_types_asked_for(self):
    model = _model(sampler="blend")
    codes = np.random.default_rng(0).normal(size=(4, model.code_dim)).astype(np.float32)
    types = np.stack([self.fire, self.fire, self.water, self.water])
    model.expost.assign(codes, np.array(["a", "b", "c", "d"]), step=0, types=types)
    _, conditions = model.sample_conditioned(16, seed=[1, 2])
    # Each blend's condition lies between its two parents' types, by its share.
    conditions = conditions.numpy()
    self.assertAllClose(conditions.sum(1), np.ones(16))
    self.assertAllEqual(conditions[:, NAMES.index("Ghost")], np.zeros(16))
    _, asked = model.sample_conditioned(3, seed=[1, 2], types=self.water)
    self.assertAllEqual(asked, np.stack([self.water] * 3))

  def test_a_prior_sampler_draws_any_type_the_decoder_takes(self):
    model = _model(sampler="prior")
    images = model.sample(3, seed=[0, 1], types=self.fire)
    self.assertEqual(images.shape, (3, 32, 32, 4))
    codes, conditions = model.sample_conditioned(2, seed=[0, 1])
    self.assertAllEqual(conditions, np.zeros((2, T)))

  def test_restyle_first_decodes_the_sprite_itself_with_the_new_types(self):
    model = _model(sampler="blend")
    for table in (model.encoder.condition.table, model.decoder.condition.table):
      table.assign(tf.random.normal(table.shape))
    codes = np.random.default_rng(0).normal(size=(4, model.code_dim)).astype(np.float32)
    model.expost.assign(codes, np.array(["a", "b", "c", "d"]), step=0,
                        types=np.stack([self.water] * 4))
    out = model.restyle(self.x[:1], 3, self.water).numpy()
    self.assertEqual(out.shape, (3, 32, 32, 4))  # itself, then blends toward two species
    code = model.encode(self.x[:1]).mean()
    moved = model.recondition(code, None, self.water)
    self.assertAllClose(out[0], model.render(moved, self.water)[0])
    # The grid's detail moves with its centre; z1 and the detail stay the sprite's.
    z1, z2 = model.split_code(code)
    self.assertAllClose(model.split_code(moved)[0], z1)
    self.assertAllClose(model.split_code(moved)[1] - model.grid_centre(z1, self.water),
                        z2 - model.grid_centre(z1), atol=1e-5)
    self.assertNotAllClose(moved, code)
    self.assertAllClose(model.recondition(code, self.water, self.water), code)


@pytest.mark.slow  # starts train_loop.py
class ProgramTest(tf.test.TestCase):

  def test_condition_types_on_a_folder_without_types_is_one_line(self):
    folder = fixtures.make_sprite_folder(os.path.join(self.get_temp_dir(), "untyped"), count=40)
    code, _, stderr = fixtures.run_program(
        "train_loop.py", "--preset", "smoke", "--condition", "types", "--data-dir", folder,
        "--out", os.path.join(self.get_temp_dir(), "run"))
    self.assertEqual(code, 2)
    self.assertEqual(fixtures.program_lines(stderr), [
        f"train_loop.py: error: --condition types needs the sprites' types, and {folder} has no "
        "types table: add one (see README, Data) or train with --condition none"])


if __name__ == "__main__":
  tf.test.main()
