"""Tests for vae/generation.py: what generate.py draws, from a run or a SavedModel."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tempfile  # pylint: disable=wrong-import-position

import cv2  # pylint: disable=wrong-import-position
import pytest
import numpy as np  # pylint: disable=wrong-import-position
import tensorflow as tf  # pylint: disable=wrong-import-position

from tests import fixtures  # pylint: disable=wrong-import-position
from vae.rundir import savedmodel  # pylint: disable=wrong-import-position
from pipelines.types_table import TYPE_NAMES  # pylint: disable=wrong-import-position
from vae import generation  # pylint: disable=wrong-import-position
from vae import samplers  # pylint: disable=wrong-import-position
from vae.model import VAE  # pylint: disable=wrong-import-position
from vae.rundir import load as run_load  # pylint: disable=wrong-import-position


def write_sprite(path, width, height, colour=(200, 60, 40)):
  """An ellipse on a transparent canvas (or on white for a JPEG), of any size."""
  image = np.zeros((height, width, 4), np.uint8)
  if path.endswith(".jpg"):
    image[:] = 255
  cv2.ellipse(image, (width // 2, height // 2), (width // 3, height // 4), 20, 0, 360,
              (*colour, 255), -1)
  ok = cv2.imwrite(path, image[..., :3] if path.endswith(".jpg") else image)
  assert ok, path
  return path


@pytest.mark.slow  # its set-up and compiled steps take several seconds on 2 cores
class GenerationTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.tmp = tempfile.TemporaryDirectory()
    run = fixtures.smoke_run()
    cls.config, cls.model, cls.run_dir, cls.prefix = run.config, run.model, run.run_dir, run.prefix
    cls.export_dir = savedmodel.export(cls.model, os.path.join(cls.tmp.name, "export"),
                                   config_json=cls.config.to_json())
    cls.from_run = generation.load(cls.run_dir)
    cls.from_export = generation.load(cls.export_dir)
    cls.png = write_sprite(os.path.join(cls.tmp.name, "a.png"), 57, 43)
    cls.jpeg = write_sprite(os.path.join(cls.tmp.name, "b.jpg"), 120, 80, (40, 90, 220))

  @classmethod
  def tearDownClass(cls):
    cls.tmp.cleanup()
    super().tearDownClass()

  def test_both_forms_report_the_models_geometry(self):
    for generator in (self.from_run, self.from_export):
      self.assertEqual((generator.image_size, generator.channels, generator.code_dim),
                       (32, 4, 8 + 8 * 8 * 2))  # the smoke model's global latent and grid
      self.assertEqual(generator.config.prior, "normal")
    self.assertEqual(self.from_run.checkpoint, self.prefix)
    self.assertIn("quilts: z1 from a", self.from_run.sampler)

  def test_samples_repeat_for_a_seed_and_differ_between_seeds(self):
    for generator in (self.from_run, self.from_export):
      first = generator.sample(70, 1.0, seed=3)  # two chunks
      self.assertEqual(first.shape, (70, 32, 32, 4))
      self.assertAllEqual(first, generator.sample(70, 1.0, seed=3))
      self.assertNotAllClose(first, generator.sample(70, 1.0, seed=4))

  def test_samples_are_the_models_samples_with_the_chunk_seed(self):
    expected = self.model.sample(5, temperature=0.7, seed=tf.constant([3, 0]))
    self.assertAllClose(self.from_run.sample(5, 0.7, seed=3), expected, atol=1.0 / 255 + 1e-6)

  def test_sprites_of_any_size_and_format_are_read_onto_the_training_canvas(self):
    for path in (self.png, self.jpeg):
      image = self.from_run.read_sprite(path)
      self.assertEqual(image.shape, (32, 32, 4))
      self.assertAllInRange(image, 0.0, 1.0)
      # Premultiplied, as the model was trained: colour never exceeds alpha.
      self.assertAllLessEqual(image[..., :3] - image[..., 3:], 1e-6)
    self.assertEqual(self.from_run.read_sprite(self.jpeg)[16, 16, 3], 1.0)  # JPEG: opaque

  def test_an_unreadable_file_is_a_generation_error_naming_it(self):
    path = os.path.join(self.tmp.name, "notes.png")
    with open(path, "w", encoding="utf-8") as f:
      f.write("not an image")
    with self.assertRaisesRegex(generation.GenerationError, "notes.png"):
      self.from_run.read_sprite(path)

  def test_between_starts_and_ends_at_the_two_reconstructions(self):
    a, b = self.from_run.read_sprite(self.png), self.from_run.read_sprite(self.jpeg)
    path = self.from_run.between(a, b, steps=5)
    self.assertEqual(path.shape, (5, 32, 32, 4))
    self.assertAllClose(path[0], self.model.reconstruct(a[None])[0], atol=1.0 / 255 + 1e-6)
    self.assertAllClose(path[-1], self.model.reconstruct(b[None])[0], atol=1.0 / 255 + 1e-6)

  def test_like_repeats_for_a_seed_and_its_spread_moves_away_from_the_sprite(self):
    a = self.from_run.read_sprite(self.png)
    near = self.from_run.like(a, 6, spread=0.01, seed=1)
    self.assertAllEqual(near, self.from_run.like(a, 6, spread=0.01, seed=1))
    far = self.from_run.like(a, 6, spread=3.0, seed=1)
    recon = np.asarray(self.model.reconstruct(a[None]))
    self.assertLess(np.abs(near - recon).mean(), np.abs(far - recon).mean())

  def test_finish_resizes_quantises_and_upscales(self):
    images = self.from_run.sample(3, 1.0, seed=0)
    out = generation.finish(images, 4, size=96, pixel_art=True, scale=2)
    self.assertEqual(out.shape, (3, 192, 192, 4))
    self.assertEqual(out.dtype, np.uint8)
    self.assertAllInSet(np.unique(out[..., 3]), [0, 255])  # a hard alpha edge
    # Nearest-neighbour upscaling: every 2x2 block is one pixel.
    self.assertAllEqual(out[:, ::2, ::2], out[:, 1::2, 1::2])
    rgb = generation.finish(images, 4, rgb=True)
    self.assertEqual(rgb.shape, (3, 32, 32, 3))
    # Transparent pixels composite to white.
    clear = np.asarray(images)[..., 3] == 0
    self.assertAllEqual(rgb[clear], np.full((clear.sum(), 3), 255, np.uint8))


def typed_run(directory, **changes):
  """A smoke run (with `changes` to its config) whose sampler (the default quilt,
  a blend sampler that quilts; fitted without validation sprites) holds types: 24
  sprite shapes of 12 species, the even species Fire, the odd ones Water and Flying.
  A conditional model's type tables are random, so that its types matter.
  Returns (run_dir, config)."""
  config = fixtures.smoke_run(**changes).config
  tf.random.set_seed(0)
  model = VAE.from_config(config)
  if model.conditional:
    for table in (model.encoder.condition.table, model.decoder.condition.table):
      table.assign(tf.random.normal(table.shape))
  images = fixtures.sprites(24, size=32, seed=5)
  types = np.zeros((24, len(TYPE_NAMES)), np.float32)
  species = np.arange(24) // 2
  types[species % 2 == 0, TYPE_NAMES.index("Fire")] = 1
  types[species % 2 == 1, TYPE_NAMES.index("Water")] = 1
  types[species % 2 == 1, TYPE_NAMES.index("Flying")] = 1
  samplers.fit_model(model, [(images, types) if model.conditional else images], None, step=0,
                     train_groups=np.array([f"s{i}" for i in species]), train_types=types)
  fixtures.make_run(directory, config, model)
  return directory, config


class _TypedRun:
  """Mixed into a test case: a `typed_run` with `CHANGES` to its config, its model, and
  its generators from the run and from its export."""

  CHANGES = {}

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.tmp = tempfile.TemporaryDirectory()
    run_dir, config = typed_run(os.path.join(cls.tmp.name, "run"), **cls.CHANGES)
    cls.model = run_load.load_model(run_dir)[0]
    export_dir = savedmodel.export(cls.model, os.path.join(cls.tmp.name, "export"),
                                   config_json=config.to_json())
    cls.from_run = generation.load(run_dir)
    cls.from_export = generation.load(export_dir)
    cls.png = write_sprite(os.path.join(cls.tmp.name, "a.png"), 40, 30)

  @classmethod
  def tearDownClass(cls):
    cls.tmp.cleanup()
    super().tearDownClass()


@pytest.mark.slow  # builds, saves and exports a model
class TypedGenerationTest(_TypedRun, tf.test.TestCase):

  def test_both_forms_make_the_same_sprites_of_a_type(self):
    for generator in (self.from_run, self.from_export):
      self.assertEqual(generator.type_names, TYPE_NAMES)
    fire = self.from_run.parse_types("fire")
    a = self.from_run.sample(5, 1.0, seed=2, types=fire)
    self.assertAllClose(a, self.from_export.sample(5, 1.0, seed=2, types=fire), atol=1e-5)
    self.assertNotAllClose(a, self.from_run.sample(5, 1.0, seed=2,
                                                   types=self.from_run.parse_types("water")))
    self.assertNotAllClose(a, self.from_run.sample(5, 1.0, seed=2))

  def test_restyle_gives_one_sprite_per_species_of_the_type(self):
    sprite = self.from_run.read_sprite(self.png)
    for generator in (self.from_run, self.from_export):
      both = generator.restyle(sprite, 10, generator.parse_types("water,flying"))
      self.assertEqual(both.shape, (6, 32, 32, 4))  # six species are Water and Flying
      self.assertEqual(generator.restyle(sprite, 2, generator.parse_types("fire")).shape[0], 2)

  def test_types_the_sampler_lacks_or_does_not_know_are_one_line(self):
    with self.assertRaisesRegex(generation.GenerationError, "unknown type 'fyre'; the types are"):
      self.from_run.parse_types("fyre")
    untyped = generation.load(fixtures.smoke_run().run_dir)
    self.assertEqual(untyped.type_names, ())
    with self.assertRaisesRegex(generation.GenerationError, "cannot make sprites of a type: its "
                                "sampler holds no types"):
      untyped.parse_types("fire")


@pytest.mark.slow  # builds, saves and exports a model
class ConditionalGenerationTest(_TypedRun, tf.test.TestCase):
  """A model conditioned on types (`--condition types`), from its run and its export."""

  CHANGES = {"condition": "types"}

  def test_the_condition_is_recorded(self):
    self.assertTrue(self.model.conditional)
    self.assertEqual(self.from_run.config.condition, "types")
    self.assertEqual(self.from_export.config.condition, "types")

  def test_both_forms_make_the_same_sprites_of_a_type(self):
    fire = self.from_run.parse_types("fire")
    a = self.from_run.sample(5, 1.0, seed=2, types=fire)
    self.assertAllClose(a, self.from_export.sample(5, 1.0, seed=2, types=fire), atol=1e-5)
    # The sampler's codes for fire sprites, decoded given Fire.
    codes = self.model.sample_codes(5, seed=[2, 0], types=fire)
    self.assertAllClose(a, self.model.render(codes, fire), atol=1e-5)

  def test_restyle_gives_the_sprite_itself_then_one_per_species(self):
    sprite = self.from_run.read_sprite(self.png)
    water_flying = self.from_run.parse_types("water,flying")
    both = [g.restyle(sprite, 10, water_flying) for g in (self.from_run, self.from_export)]
    self.assertEqual(both[0].shape, (7, 32, 32, 4))  # itself, and six species of the types
    self.assertAllClose(both[0], both[1], atol=1e-5)
    code = self.model.encode(sprite[None]).mean()
    itself = self.model.render(self.model.recondition(code, None, water_flying), water_flying)
    self.assertAllClose(both[0][:1], itself, atol=1e-5)


if __name__ == "__main__":
  tf.test.main()
