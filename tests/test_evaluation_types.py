"""Tests for vae.evaluation.types: the type classifier and conditional accuracy, on known answers."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# pylint: disable=wrong-import-position
import cv2
import keras
import pytest
import numpy as np
import tensorflow as tf

from pipelines import types_table
from vae import config as config_lib
from vae import objectives
from vae import samplers
from vae.model import VAE
from vae.evaluation import types

NAMES = types_table.TYPE_NAMES
FIRE, WATER = NAMES.index("Fire"), NAMES.index("Water")


def _toy(count, seed):
  """Premultiplied RGBA sprites [count, 32, 32, 4] whose colour is their type: red is Fire,
  blue is Water; shapes, sizes and shades vary at random, so colour alone tells them apart."""
  rng = np.random.default_rng(seed)
  images = np.zeros((count, 32, 32, 4), np.uint8)
  fire = rng.random(count) < 0.5
  for image, is_fire in zip(images, fire):
    strong, weak = int(rng.integers(170, 256)), int(rng.integers(0, 90))
    colour = (strong, weak, weak // 2, 255) if is_fire else (weak // 2, weak, strong, 255)
    centre = tuple(int(c) for c in rng.integers(10, 22, 2))
    axes = tuple(int(a) for a in rng.integers(4, 11, 2))
    cv2.ellipse(image, centre, axes, float(rng.integers(0, 180)), 0, 360, colour, -1)
  multi_hot = np.zeros((count, len(NAMES)), np.float32)
  multi_hot[fire, FIRE] = 1
  multi_hot[~fire, WATER] = 1
  return images.astype(np.float32) / 255.0, multi_hot, np.where(fire, FIRE, WATER)


@pytest.mark.slow  # its set-up and compiled steps take several seconds on 2 cores
class ToyClassifierTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.images, cls.types, cls.primary = _toy(240, seed=0)
    cls.held_images, cls.held_types, cls.held_primary = _toy(200, seed=1)
    cls.classifier = types.train_classifier(cls.images, cls.types, NAMES, primary=cls.primary,
                                            held_out=(cls.held_images, cls.held_types), seed=0)

  def test_near_perfect_when_type_decides_colour(self):
    result = types.accuracy(self.classifier, self.held_images, self.held_types, self.held_primary)
    self.assertEqual(result["count"], 200)
    self.assertGreater(result["primary_top1"], 0.95)
    self.assertGreater(result["any_top2"], 0.95)
    self.assertBetween(result["baseline_primary_top1"], 0.35, 0.65)

  def test_shuffled_labels_give_chance(self):
    # Labels shuffled within each colour, half of the red sprites and half of the blue
    # ones called Fire: no trace of the colour is left in them. (A plain permutation
    # leaves a chance imbalance of a few sprites, which a classifier that reads colour
    # this well turns into a rule, right or wrong on nearly every held-out sprite.)
    # What a net fits to noise (a shade, a size) it applies to every held-out sprite
    # alike, so one shuffle scores 0.5 +- 0.07 here, not +- 0.035 as coin flips
    # would: the mean of three shuffles is what must be chance.
    scores = []
    for seed in (5, 6, 7):
      rng = np.random.default_rng(seed)
      fire = np.zeros(len(self.primary), bool)
      for colour in (FIRE, WATER):
        members = rng.permutation(np.flatnonzero(self.primary == colour))
        fire[members[:len(members) // 2]] = True
      shuffled_types = np.zeros_like(self.types)
      shuffled_types[fire, FIRE] = 1
      shuffled_types[~fire, WATER] = 1
      shuffled = types.train_classifier(self.images, shuffled_types, NAMES,
                                        primary=np.where(fire, FIRE, WATER), seed=0)
      scores.append(types.accuracy(shuffled, self.held_images, self.held_types,
                                   self.held_primary)["primary_top1"])
    # Two balanced classes: 0.5; 0.35 and 0.65 are over 3.5 standard errors of the mean away.
    self.assertBetween(float(np.mean(scores)), 0.35, 0.65)

  def test_samples_of_the_asked_type_score_near_the_ceiling_and_others_near_zero(self):
    red, blue = self.held_images[self.held_primary == FIRE], self.held_images[self.held_primary == WATER]
    right = types.conditional_accuracy(self.classifier, {"Fire": red, "Water": blue})
    self.assertGreater(right["overall"], 0.95)
    self.assertGreater(right["per_type"]["Fire"]["ceiling"], 0.95)
    self.assertEqual(right["per_type"]["Fire"]["real_count"], len(red))
    self.assertBetween(right["ratio"], 0.95, 1.05)
    wrong = types.conditional_accuracy(self.classifier, {"Fire": blue, "Water": red})
    self.assertLess(wrong["overall"], 0.05)
    self.assertLess(wrong["ratio"], 0.05)

  def test_a_type_without_real_sprites_has_no_ceiling(self):
    result = types.conditional_accuracy(self.classifier, {"Fire": self.held_images[:4],
                                                          "Ghost": self.held_images[:4]})
    self.assertIsNone(result["per_type"]["Ghost"]["ceiling"])
    self.assertEqual(result["per_type"]["Ghost"]["accuracy"], 0.0)

  def test_unknown_type_is_a_clear_error(self):
    with self.assertRaisesRegex(ValueError, "unknown type.* Fyre; the types are Normal, "):
      types.conditional_accuracy(self.classifier, {"Fyre": self.held_images[:2]})

  def test_same_seed_same_classifier(self):
    again = types.train_classifier(self.images, self.types, NAMES, primary=self.primary, seed=0)
    self.assertAllClose(again.probabilities(self.held_images[:16]),
                        self.classifier.probabilities(self.held_images[:16]), atol=1e-5)

  def test_rgb_and_other_sizes_are_accepted(self):
    rgb = tf.image.resize(self.held_images[:3, ..., :3], [48, 48]).numpy()
    self.assertEqual(self.classifier.probabilities(rgb).shape, (3, len(NAMES)))


class _Fixed:
  """A stand-in classifier with given beliefs, to check the definitions of `accuracy`."""
  type_names = NAMES

  def __init__(self, probabilities, train_frequency, train_primary_frequency):
    self._p = np.asarray(probabilities, np.float32)
    self.train_frequency = np.asarray(train_frequency)
    self.train_primary_frequency = np.asarray(train_primary_frequency)

  def probabilities(self, images):
    return self._p[:len(images)]


class DefinitionTest(tf.test.TestCase):

  def test_top1_is_of_the_primary_and_top2_of_any_type(self):
    grass, poison, fire = NAMES.index("Grass"), NAMES.index("Poison"), NAMES.index("Fire")
    p = np.zeros((3, len(NAMES)))
    p[0, [grass, fire]] = [0.6, 0.3]  # a Grass/Poison sprite: top-1 right
    p[1, [poison, fire]] = [0.6, 0.3]  # Grass/Poison: top-1 is its second type, top-2 hits
    p[2, [grass, poison]] = [0.6, 0.3]  # a Fire sprite: both guesses wrong
    multi_hot = types_table.multi_hot([("Grass", "Poison"), ("Grass", "Poison"), ("Fire",)])
    frequency = np.zeros(len(NAMES))
    frequency[[fire, grass]] = [0.5, 0.4]
    classifier = _Fixed(p, frequency, frequency)
    result = types.accuracy(classifier, np.zeros((3, 8, 8, 4)), multi_hot, [grass, grass, fire])
    self.assertAllClose([result["primary_top1"], result["any_top2"]], [1 / 3, 2 / 3])
    # Always guessing Fire (the commonest primary) then Grass: right on the third, top-2 on all.
    self.assertAllClose([result["baseline_primary_top1"], result["baseline_any_top2"]], [1 / 3, 1])
    self.assertEqual(result["per_type"]["Poison"], {"count": 2, "top1": 0.5})


def _train_on_toy(model, images, multi_hot=None, steps=600):
  """`steps` Adam steps of the ELBO on batches of 32 toy sprites (with their types for a
  conditional model), then the model's sampler fitted to them."""
  optimizer = keras.optimizers.Adam(3e-3)
  data = tf.constant(images)
  conditions = tf.constant(multi_hot) if model.conditional else None

  @tf.function
  def step(i):
    rows = tf.random.stateless_uniform([32], tf.stack([i, 1]), maxval=len(images), dtype=tf.int32)
    types = None if conditions is None else tf.gather(conditions, rows)
    with tf.GradientTape() as tape:
      loss = objectives.training_loss(
          objectives.elbo_terms(model, tf.gather(data, rows), types=types, seed=tf.stack([i, 0])),
          beta=1.0)
    optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                                  model.trainable_variables))

  for i in range(steps):
    step(tf.constant(i))
  batches = [(images, multi_hot)] if model.conditional else [images]
  samplers.fit_model(model, batches, None, step=steps,
                     train_groups=np.array([f"toy{i}" for i in range(len(images))]),
                     train_types=multi_hot)


def _mean_colour(images):
  """The mean straight RGB of the opaque pixels of premultiplied RGBA `images`."""
  return images[..., :3].sum((0, 1, 2)) / images[..., 3].sum()


@pytest.mark.slow  # trains a small model for a few hundred steps
class ToyModelTest(tf.test.TestCase):
  """A model trained on the toy set, its blend sampler holding the types, makes sprites of the
  type asked for: red for Fire, blue for Water, as the classifier judges them."""

  def test_samples_follow_the_type_asked_for(self):
    # 64 sprites and 600 steps: in fewer steps, or on a few hundred sprites, the
    # smoke model draws the shapes before it learns their colour.
    images, multi_hot, primary = _toy(64, seed=2)
    tf.random.set_seed(0)
    model = VAE.from_config(config_lib.preset("smoke", sampler="blend"))
    _train_on_toy(model, images, multi_hot)
    held_images, held_types, held_primary = _toy(120, seed=3)
    sets = types.TypeSets(NAMES, multi_hot, primary, held_images, held_types, held_primary)
    report, samples = types.judge_model(model, images, sets, seed=0)
    self.assertEqual(sorted(samples), ["Fire", "Water"])
    self.assertGreater(report["classifier"]["primary_top1"], 0.95)
    for name in ("Fire", "Water"):
      self.assertGreater(report["conditional"]["per_type"][name]["accuracy"], 0.9, name)
    colour = {name: _mean_colour(s) for name, s in samples.items()}
    self.assertGreater(colour["Fire"][0], 2 * colour["Fire"][2])  # red, not blue
    self.assertGreater(colour["Water"][2], 2 * colour["Water"][0])
    self.assertGreater(report["conditional"]["ratio"], 0.9)


@pytest.mark.slow  # 600 compiled steps
class ConditionalToyModelTest(tf.test.TestCase):
  """A conditional VAE trained on the toy set, where the type decides the colour, draws the
  colour of the type it is given: from prior codes, which hold no type, and for a sprite
  of the other type, restyled by the condition alone."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.images, cls.multi_hot, cls.primary = _toy(64, seed=2)
    tf.random.set_seed(0)
    cls.model = VAE.from_config(config_lib.preset("smoke", sampler="prior", condition="types"))
    # Twice the default steps: after 600 the restyle gets about a third of the way to the
    # toy Fire sprites' colour, and how far moved with the environment's arithmetic (the
    # installed packages or the CPU); after 1200 it gets most of the way.
    _train_on_toy(cls.model, cls.images, cls.multi_hot, steps=1200)

  def test_prior_samples_follow_the_type_asked_for(self):
    held_images, held_types, held_primary = _toy(120, seed=3)
    sets = types.TypeSets(NAMES, self.multi_hot, self.primary, held_images, held_types,
                          held_primary)
    report, samples = types.judge_model(self.model, self.images, sets, seed=0)
    self.assertEqual(sorted(samples), ["Fire", "Water"])
    for name in ("Fire", "Water"):
      self.assertGreater(report["conditional"]["per_type"][name]["accuracy"], 0.9, name)
    self.assertGreater(report["conditional"]["ratio"], 0.9)

  def test_a_new_condition_restyles_a_sprite(self):
    water = self.multi_hot[:, WATER] > 0
    sprites, own = self.images[water][:8], self.multi_hot[water][:8]
    codes = self.model.encode(sprites, own).mean()
    as_water = self.model.render(codes, own).numpy()
    fire = types.one_hot("Fire", NAMES)
    as_fire = self.model.render(self.model.recondition(codes, own, fire), fire).numpy()
    water_rgb, fire_rgb = _mean_colour(as_water), _mean_colour(as_fire)
    self.assertGreater(water_rgb[2], 2 * water_rgb[0])  # blue
    # Now red: red at more than twice blue, and red-minus-blue moved by more than half the
    # range from the sprite's own render (the toy Fire sprites' red leads their blue by about
    # 0.7; after 1200 steps, here, red 0.688 against blue 0.135, a shift of 1.42).
    self.assertGreater(fire_rgb[0], 2 * fire_rgb[2], fire_rgb)
    self.assertGreater((fire_rgb[0] - fire_rgb[2]) - (water_rgb[0] - water_rgb[2]), 0.5,
                       (fire_rgb, water_rgb))
    # The shape is the sprite's: the restyle moves colour, not the silhouette.
    self.assertGreater(np.mean((as_fire[..., 3] > 0.5) == (as_water[..., 3] > 0.5)), 0.95)


if __name__ == "__main__":
  tf.test.main()
