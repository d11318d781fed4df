"""Tests for pipelines.dataset: load(), exact counts, skipped files, tf.data batches."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# pylint: disable=wrong-import-position
import shutil
import tempfile
from unittest import mock

import numpy as np
import tensorflow as tf

import pipelines
from pipelines import dataset, types_table
from tests import fixtures as fx

SPECIES = 40


def _sprite_names():
  return [f"{variant}/{n}.png" for n in range(1, SPECIES + 1) for variant in ("regular", "shiny")]


def _tempdir(test):
  # create_tempdir() needs absl flags, which pytest does not parse.
  return tempfile.mkdtemp(dir=test.get_temp_dir())


def _all(ds):
  return np.concatenate([b.numpy() for b in ds])


class LoadedDataTest(tf.test.TestCase):
  """Properties of the batches of one small loaded folder."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = tempfile.mkdtemp()
    fx.sprite_folder(cls.root, _sprite_names())
    cls.config = pipelines.DataConfig(data_dir=cls.root, image_size=32, hue=True, translate=3)
    cls.data = pipelines.load(cls.config)

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.root)
    super().tearDownClass()

  def test_counts_are_exact(self):
    total = sum(self.data.count(s) for s in ("train", "val", "test"))
    self.assertEqual(total, 2 * SPECIES)
    for split in ("train", "val", "test"):
      batches = self.data.dataset(split, 7, training=split == "train")
      self.assertEqual(sum(int(b.shape[0]) for b in batches), self.data.count(split))
      self.assertEqual(self.data.array(split).shape, (self.data.count(split), 32, 32, 4))
    self.assertGreater(self.data.count("val") + self.data.count("test"), 0)

  def test_no_species_group_is_in_two_splits(self):
    split_of_group = {}
    for record in self.data.records:
      self.assertEqual(split_of_group.setdefault(record.group, record.split), record.split)

  def test_batches_are_float_in_unit_range_and_multiples_of_1_over_255(self):
    batch = next(iter(self.data.dataset("train", 16, training=True, seed=3)))
    self.assertEqual(batch.dtype, tf.float32)
    self.assertEqual(batch.shape, (16, 32, 32, 4))
    values = batch.numpy() * 255.0
    self.assertAllClose(values, np.round(values), atol=1e-3)
    self.assertBetween(float(batch.numpy().min()), 0.0, 1.0)
    self.assertBetween(float(batch.numpy().max()), 0.0, 1.0)

  def test_augmented_batches_stay_premultiplied(self):
    for batch in self.data.dataset("train", 16, training=True, seed=1):
      self.assertTrue(np.all(batch[..., :3].numpy() <= batch[..., 3:].numpy()))

  def test_same_seed_same_batches_and_another_seed_differs(self):
    first = _all(self.data.dataset("train", 8, training=True, seed=5))
    again = _all(self.data.dataset("train", 8, training=True, seed=5))
    other = _all(self.data.dataset("train", 8, training=True, seed=6))
    self.assertAllEqual(first, again)
    self.assertNotAllClose(first, other)

  def test_each_epoch_is_shuffled_and_augmented_afresh(self):
    epochs = self.data.dataset("train", 8, training=True, seed=5)
    self.assertNotAllClose(_all(epochs), _all(epochs))

  def test_evaluation_batches_are_unaugmented_in_file_order(self):
    batches = _all(self.data.dataset("val", 5, training=False))
    self.assertAllEqual(np.round(batches * 255).astype(np.uint8), self.data.array("val"))

  def test_drop_remainder_gives_only_full_batches(self):
    sizes = [int(b.shape[0]) for b in self.data.dataset("train", 7, training=True,
                                                        drop_remainder=True)]
    self.assertEqual(sizes, [7] * (self.data.count("train") // 7))

  def test_three_channels_composite_over_the_background(self):
    config = pipelines.DataConfig(data_dir=self.root, image_size=32, channels=3,
                                  background="102030", translate=3)
    data = pipelines.load(config)
    corner = data.array("train")[:, 0, 0]
    self.assertAllEqual(corner, np.tile([16, 32, 48], (len(corner), 1)))
    batch = next(iter(data.dataset("train", 4, training=True)))
    self.assertEqual(batch.shape, (4, 32, 32, 3))

  def test_summary_is_json_ready_and_complete(self):
    summary = self.data.summary()
    self.assertEqual(summary["files"], 2 * SPECIES)
    self.assertEqual(summary["decoded"], 2 * SPECIES)
    self.assertEqual(summary["skipped"], [])
    self.assertEqual(sum(summary["groups"].values()), SPECIES)
    self.assertEqual((summary["image_size"], summary["channels"]), (32, 4))


class TrainEpochTest(tf.test.TestCase):
  """Training batches as a pure function of (seed, epoch, step): what exact resume needs."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = tempfile.mkdtemp()
    fx.sprite_folder(cls.root, _sprite_names())
    cls.data = pipelines.load(pipelines.DataConfig(data_dir=cls.root, image_size=16, hue=True))

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.root)
    super().tearDownClass()

  def test_an_epoch_started_mid_way_equals_the_rest_of_the_whole_epoch(self):
    for data in (self.data, pipelines.load(pipelines.DataConfig(
        data_dir=self.root, image_size=16, hue=True, cache=_tempdir(self)))):
      whole = _all(data.train_epoch(8, seed=3, epoch=2))
      rest = _all(data.train_epoch(8, seed=3, epoch=2, start=3))
      self.assertEqual(len(whole), 8 * data.steps_per_epoch(8))
      self.assertAllEqual(rest, whole[3 * 8:])

  def test_epochs_are_reproducible_and_differ_from_each_other(self):
    first = _all(self.data.train_epoch(8, seed=3, epoch=1))
    self.assertAllEqual(_all(self.data.train_epoch(8, seed=3, epoch=1)), first)
    self.assertNotAllClose(_all(self.data.train_epoch(8, seed=3, epoch=0)), first)
    self.assertNotAllClose(_all(self.data.train_epoch(8, seed=4, epoch=1)), first)

  def test_an_epoch_shows_each_training_image_at_most_once(self):
    plain = pipelines.load(pipelines.DataConfig(data_dir=self.root, image_size=16, flip=False,
                                                translate=0))
    shown = np.round(_all(plain.train_epoch(8, seed=0, epoch=5)) * 255).astype(np.uint8)
    train = {image.tobytes() for image in plain.array("train")}
    keys = [image.tobytes() for image in shown]
    self.assertLen(set(keys), len(keys))
    self.assertContainsSubset(keys, train)

  def test_shards_together_are_the_unsharded_batches(self):
    whole = list(self.data.train_epoch(8, seed=1, epoch=0, start=1))
    shards = [list(self.data.train_epoch(8, seed=1, epoch=0, start=1, shard=i, shards=2))
              for i in range(2)]
    self.assertLen(shards[0], len(whole))
    for batch, left, right in zip(whole, *shards):
      self.assertEqual(left.shape[0], 4)
      self.assertAllEqual(np.concatenate([left, right]), batch)

  def test_bad_shards_or_start_are_clear_errors(self):
    with self.assertRaisesRegex(ValueError, "batch_size must be a positive multiple of 3"):
      self.data.train_epoch(8, seed=0, epoch=0, shards=3)
    with self.assertRaisesRegex(ValueError, r"start must be in \[0, "):
      self.data.train_epoch(8, seed=0, epoch=0, start=10**6)


RED, BLUE = (220, 30, 20), (20, 40, 220)


def _typed_folder(root, species=30):
  """Numbered sprites whose colour is their type (red: Fire, blue: Water), a types.csv,
  one blue form of a red species, and one file the table lacks."""
  lines = [",".join(types_table.COLUMNS)]
  for n in range(1, species + 1):
    fire = n % 2 == 1
    lines.append(f"{n},,Mon{n},Mon{n},{'Fire' if fire else 'Water'},")
    for variant in ("regular", "shiny"):
      path = os.path.join(root, variant, f"{n}.png")
      os.makedirs(os.path.dirname(path), exist_ok=True)
      fx.write_image(path, fx.sprite(24, 24, RED if fire else BLUE, (3 + n % 4, 4, 20, 21)))
  lines.append("1,Blue,Mon1-Blue,Mon1,Water,Flying")
  fx.write_image(os.path.join(root, "regular", "1-blue.png"), fx.sprite(24, 24, BLUE))
  fx.write_image(os.path.join(root, "fakemon.png"), fx.sprite(24, 24, RED))
  with open(os.path.join(root, types_table.TABLE_NAME), "w", encoding="utf-8") as f:
    f.write("\n".join(lines) + "\n")
  return root


class TypesTest(tf.test.TestCase):
  """Types from the folder's types table, beside the images, in the images' order."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = _typed_folder(tempfile.mkdtemp())
    cls.data = pipelines.load(pipelines.DataConfig(data_dir=cls.root, image_size=16,
                                                   val_fraction=0.2, test_fraction=0.2))
    cls.fire = types_table.TYPE_NAMES.index("Fire")
    cls.water = types_table.TYPE_NAMES.index("Water")

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.root)
    super().tearDownClass()

  def _assert_types_follow_colour(self, images, types):
    red = images[..., 0].sum(axis=(1, 2)) > images[..., 2].sum(axis=(1, 2))
    typed = types.sum(axis=1) > 0
    self.assertAllEqual(types[typed, self.fire] == 1, red[typed])
    self.assertAllEqual(types[typed, self.water] == 1, ~red[typed])

  def test_types_follow_the_table_in_the_order_of_the_images(self):
    self.assertEqual(self.data.type_names, types_table.TYPE_NAMES)
    for split in ("train", "val", "test"):
      types = self.data.types(split)
      self.assertEqual(types.shape, (self.data.count(split), len(types_table.TYPE_NAMES)))
      self._assert_types_follow_colour(self.data.array(split), types)
    record = next(r for r in self.data.records if r.path == "regular/1-blue.png")
    self.assertEqual((record.species, record.types), ("Mon1-Blue", ("Water", "Flying")))

  def test_primary_type_is_the_first_and_minus_one_without_a_row(self):
    every = np.concatenate([self.data.primary_types(s) for s in ("train", "val", "test")])
    paths = [r.path for s in ("train", "val", "test") for r in self.data.records
             if r.ok and r.split == s]
    self.assertEqual(every[paths.index("fakemon.png")], -1)
    self.assertEqual(every[paths.index("regular/1-blue.png")], self.water)
    self.assertEqual(every[paths.index("shiny/1.png")], self.fire)

  def test_a_file_without_a_row_is_counted_named_and_kept(self):
    summary = self.data.summary()["types"]
    self.assertEqual(summary["without_row"], ["fakemon.png"])
    self.assertEqual(summary["with_row"], 61)
    self.assertEqual(sum(self.data.count(s) for s in ("train", "val", "test")), 62)

  def test_batches_with_types_hold_the_same_images_as_without(self):
    for training in (False, True):
      plain = _all(self.data.dataset("train", 8, training=training, seed=4))
      pairs = list(self.data.dataset("train", 8, training=training, seed=4, with_types=True))
      images = np.concatenate([i.numpy() for i, _ in pairs])
      self.assertAllEqual(images, plain)
      self._assert_types_follow_colour(images, np.concatenate([t.numpy() for _, t in pairs]))

  def test_training_epoch_with_types_is_the_same_epoch_with_its_types(self):
    plain = _all(self.data.train_epoch(8, seed=2, epoch=1, start=1))
    pairs = list(self.data.train_epoch(8, seed=2, epoch=1, start=1, with_types=True))
    images = np.concatenate([i.numpy() for i, _ in pairs])
    self.assertAllEqual(images, plain)
    self._assert_types_follow_colour(images, np.concatenate([t.numpy() for _, t in pairs]))
    halves = [list(self.data.train_epoch(8, seed=2, epoch=1, start=1, with_types=True,
                                         shard=k, shards=2)) for k in (0, 1)]
    for (i0, t0), (i1, t1), (i, t) in zip(*halves, pairs):
      self.assertAllEqual(np.concatenate([i0, i1]), i.numpy())
      self.assertAllEqual(np.concatenate([t0, t1]), t.numpy())

  def test_a_folder_without_a_table_has_no_types(self):
    data = pipelines.load(pipelines.DataConfig(data_dir=self.root, image_size=16,
                                               val_fraction=0.2, test_fraction=0.2,
                                               types_table="none"))
    self.assertIsNone(data.summary()["types"])
    self.assertEqual(data.type_names, ())
    with self.assertRaisesRegex(ValueError, "has no types table: put a types.csv in it or "
                                            "pass --types-table FILE"):
      data.types("train")
    # Numbered files group by their number, table or not: the same splits.
    self.assertEqual([(r.path, r.split) for r in data.records],
                     [(r.path, r.split) for r in self.data.records])


class CacheAndFramesTest(tf.test.TestCase):

  def test_disk_cache_matches_memory_and_a_second_load_decodes_nothing(self):
    root = fx.sprite_folder(_tempdir(self), _sprite_names()[:20])
    cache = _tempdir(self)
    in_memory = pipelines.load(pipelines.DataConfig(data_dir=root, image_size=16))
    on_disk = pipelines.load(pipelines.DataConfig(data_dir=root, image_size=16, cache=cache))
    self.assertTrue(any(name.endswith(".index") for name in os.listdir(cache)))
    with mock.patch.object(dataset.decode, "read_frames", side_effect=AssertionError("decoded")):
      reread = pipelines.load(pipelines.DataConfig(data_dir=root, image_size=16, cache=cache))
      for split in ("train", "val", "test"):
        self.assertAllEqual(reread.array(split), in_memory.array(split))
        self.assertAllEqual(on_disk.array(split), in_memory.array(split))
    self.assertEqual(reread.summary(), on_disk.summary())

  def test_frames_all_counts_every_frame(self):
    root = _tempdir(self)
    frames = [fx.sprite(box=(2 + i, 3, 10 + i, 12)) for i in range(3)]
    fx.write_animated_gif(os.path.join(root, "25.gif"), frames)
    fx.write_image(os.path.join(root, "25-b.png"), frames[0])
    first = pipelines.load(pipelines.DataConfig(data_dir=root, image_size=16))
    every = pipelines.load(pipelines.DataConfig(data_dir=root, image_size=16, frames="all"))
    split = first.records[0].split
    self.assertEqual(first.count(split), 2)
    self.assertEqual(every.count(split), 4)
    self.assertEqual(len(every.array(split)), 4)

  def test_frames_all_names_an_animation_over_the_pixel_cap_in_the_skip_list(self):
    root = fx.sprite_folder(_tempdir(self), ["1.png", "2.png"])
    frames = [fx.sprite(box=(2 + i, 3, 10 + i, 12)) for i in range(3)]  # 3 x 20 x 30 pixels.
    fx.write_animated_gif(os.path.join(root, "3.gif"), frames)
    with mock.patch.object(dataset.decode.probe, "MAX_ANIMATION_PIXELS", 3 * 20 * 30 - 1):
      every = pipelines.load(pipelines.DataConfig(data_dir=root, image_size=16, frames="all"))
      first = pipelines.load(pipelines.DataConfig(data_dir=root, image_size=16))
    self.assertEqual(every.summary()["skipped"], [{
        "path": "3.gif", "reason": "too many pixels with frames=all: 3 frames of 30x20 exceed "
                                   "the cap of 1799 pixels (frames=first reads one)"}])
    self.assertEqual(first.summary()["skipped"], [])


class BadInputTest(tf.test.TestCase):
  """Broken files are skipped and named; only a folder with nothing usable stops the run."""

  def test_every_broken_file_is_skipped_with_its_reason(self):
    root = fx.sprite_folder(_tempdir(self), _sprite_names()[:10])
    good_png = os.path.join(root, "regular", "1.png")
    with open(good_png, "rb") as f:
      png = f.read()
    broken = {
        "empty.png": (b"", "empty file"),
        "truncated.png": (png[:len(png) // 2], "truncated"),
        "notes.jpg": (b"shopping list: potions", "not an image"),
        "huge.png": (None, "too large"),
        "corrupt.png": (None, "decode failed"),
        "clear.png": (None, "fully transparent"),
        "dangling.png": (None, "unreadable"),
    }
    for name, (data, _) in broken.items():
      if data is not None:
        with open(os.path.join(root, name), "wb") as f:
          f.write(data)
    fx.raw_png(os.path.join(root, "huge.png"), 50000, 50000, 0, 8, b"\0" * 50000)
    # A valid header and IEND around garbage: only decoding (in tf.data) can tell.
    with open(os.path.join(root, "corrupt.png"), "wb") as f:
      f.write(png[:41] + b"\x13" * 200 + png[-12:])
    fx.write_image(os.path.join(root, "clear.png"), np.zeros((8, 8, 4), np.uint8))
    os.symlink(os.path.join(root, "gone.png"), os.path.join(root, "dangling.png"))

    data = pipelines.load(pipelines.DataConfig(data_dir=root, image_size=16))
    skipped = {item["path"]: item["reason"] for item in data.summary()["skipped"]}
    self.assertEqual(set(skipped), set(broken))
    for name, (_, reason) in broken.items():
      self.assertIn(reason, skipped[name], msg=name)
    self.assertEqual(sum(data.count(s) for s in ("train", "val", "test")), 10)

  def test_unexpected_error_in_one_file_is_recorded_not_raised(self):
    root = fx.sprite_folder(_tempdir(self), ["1.png", "2.png"])
    real_place = dataset.canvas.place
    def place(rgba, size, scale):
      if rgba.shape == (24, 24, 4) and rgba[3, 3, 0] == 40:  # The sprite of 1.png.
        raise MemoryError()
      return real_place(rgba, size, scale)
    with mock.patch.object(dataset.canvas, "place", side_effect=place):
      data = pipelines.load(pipelines.DataConfig(data_dir=root, image_size=16))
    self.assertEqual(data.summary()["skipped"],
                     [{"path": "1.png", "reason": "decode failed: MemoryError"}])

  def test_unreadable_file_is_skipped(self):
    if os.geteuid() == 0:
      self.skipTest("root reads files whatever their permissions")
    root = fx.sprite_folder(_tempdir(self), ["1.png", "2.png"])
    os.chmod(os.path.join(root, "2.png"), 0)
    data = pipelines.load(pipelines.DataConfig(data_dir=root, image_size=16))
    self.assertEqual(data.summary()["skipped"],
                     [{"path": "2.png", "reason": "unreadable: Permission denied"}])

  def test_empty_folder_raises_no_images_error_naming_it(self):
    root = _tempdir(self)
    with self.assertRaisesRegex(pipelines.NoImagesError, f"no image files .* in {root}$"):
      pipelines.load(pipelines.DataConfig(data_dir=root))

  def test_folder_of_broken_files_raises_no_images_error(self):
    root = _tempdir(self)
    for name in ("a.png", "b.gif"):
      with open(os.path.join(root, name), "wb") as f:
        f.write(b"nope")
    with self.assertRaisesRegex(pipelines.NoImagesError, f"no usable image in {root}"):
      pipelines.load(pipelines.DataConfig(data_dir=root))

  def test_missing_folder_raises_no_images_error(self):
    with self.assertRaisesRegex(pipelines.NoImagesError, "does not exist"):
      pipelines.load(pipelines.DataConfig(data_dir="/no/such/folder"))

  def test_unknown_split_is_a_clear_error(self):
    root = fx.sprite_folder(_tempdir(self), ["1.png"])
    data = pipelines.load(pipelines.DataConfig(data_dir=root, image_size=16))
    with self.assertRaisesRegex(ValueError, "split must be one of train, val, test, got 'valid'"):
      data.count("valid")


if __name__ == "__main__":
  tf.test.main()
