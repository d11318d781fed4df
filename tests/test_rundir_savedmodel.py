"""Tests for vae/rundir/savedmodel.py: the SavedModel matches the model and runs on TensorFlow alone."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json  # pylint: disable=wrong-import-position
import shutil  # pylint: disable=wrong-import-position
import subprocess  # pylint: disable=wrong-import-position
import sys  # pylint: disable=wrong-import-position
import tempfile  # pylint: disable=wrong-import-position
import textwrap  # pylint: disable=wrong-import-position

import numpy as np  # pylint: disable=wrong-import-position
import pytest  # pylint: disable=wrong-import-position
import tensorflow as tf  # pylint: disable=wrong-import-position

from vae import config as config_lib  # pylint: disable=wrong-import-position
from vae.model import VAE  # pylint: disable=wrong-import-position
from vae.rundir import savedmodel  # pylint: disable=wrong-import-position

# The logistic likelihood renders the most probable 8-bit level, so outputs
# are multiples of 1/255. The loaded graph may fuse and order float ops
# differently from eager execution; an error of ~1e-7 in a logistic location
# that lies on the edge between two levels would move that one value by a
# whole level. So: every value within one level, and almost all within 1e-6.
LEVEL = 1.0 / 255.0

# Run in a fresh interpreter: loads the export with TensorFlow alone and
# fails if anything imports the project or TensorFlow Probability.
CLEAN_LOAD = textwrap.dedent("""
    import importlib.abc, json, os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    BLOCKED = ("vae", "pipelines", "tensorflow_probability")

    class Block(importlib.abc.MetaPathFinder):
      def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
          raise ImportError(f"{name} must not be needed to load the export")
        return None

    sys.meta_path.insert(0, Block())
    sys.path = [p for p in sys.path if p not in ("", os.getcwd())]
    import numpy as np
    import tensorflow as tf

    directory, inputs = sys.argv[1], np.load(sys.argv[2])
    loaded = tf.saved_model.load(directory)
    sigs = loaded.signatures
    decoded = sigs["decode"](z=tf.constant(inputs["z"]))["images"].numpy()
    sampled = sigs["sample"](count=tf.constant(5), temperature=tf.constant(0.7),
                             seed=tf.constant([], tf.int32))["images"]
    seeded = loaded.sample(count=tf.constant(5), temperature=tf.constant(0.7),
                           seed=tf.constant([3, 0]))["images"]
    unseeded = loaded.sample(count=tf.constant(5), temperature=tf.constant(0.7))["images"]
    np.save(sys.argv[3], decoded)
    np.save(sys.argv[4], seeded.numpy())
    print(json.dumps({
        "signatures": sorted(sigs),
        "inputs": {name: {k: [v.dtype.name, v.shape.as_list()]
                          for k, v in sigs[name].structured_input_signature[1].items()}
                   for name in sigs},
        "sample_shape": sampled.shape.as_list(),
        "sample_range": [float(tf.reduce_min(sampled)), float(tf.reduce_max(sampled))],
        "unseeded_shape": unseeded.shape.as_list(),
        "imported": sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED),
    }))
""")


@pytest.mark.slow  # its set-up and compiled steps take several seconds on 2 cores
class ExportTest(tf.test.TestCase):
  """The export of a model whose sampler is a fitted ex-post density."""

  SAMPLER = "expost"

  @staticmethod
  def fit_sampler(density):
    # A fitted ex-post density far from the prior: the export must sample from it.
    dim = density.latent_dim
    density.assign(np.array([0.5, 0.5]), np.stack([np.full(dim, 2.0), np.full(dim, -2.0)]),
                   np.tile(0.3 * np.eye(dim), (2, 1, 1)), step=1)

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    tf.random.set_seed(1)
    cls.model = VAE.from_config(config_lib.preset("smoke", sampler=cls.SAMPLER))
    cls.fit_sampler(cls.model.expost)
    cls.tmp = tempfile.TemporaryDirectory()
    cls.directory = savedmodel.export(cls.model, os.path.join(cls.tmp.name, "saved"),
                                  config_json='{"latent_dim": 8}')
    cls.loaded = tf.saved_model.load(cls.directory)
    rng = np.random.default_rng(0)
    cls.z = rng.normal(size=(7, cls.model.code_dim)).astype(np.float32)
    cls.images = rng.uniform(size=(3, 32, 32, 4)).astype(np.float32)

  @classmethod
  def tearDownClass(cls):
    cls.tmp.cleanup()
    super().tearDownClass()

  def assertSameImages(self, actual, expected):
    actual, expected = np.asarray(actual), np.asarray(expected)
    self.assertEqual(actual.shape, expected.shape)
    self.assertAllClose(actual, expected, atol=LEVEL + 1e-6, rtol=0)
    self.assertLess(np.mean(np.abs(actual - expected) > 1e-6), 1e-3)

  def test_decode_matches_render_for_the_same_z(self):
    out = self.loaded.signatures["decode"](z=tf.constant(self.z))
    self.assertSameImages(out["images"], self.model.render(self.z))

  def test_encode_gives_the_posterior_mean_and_scale(self):
    out = self.loaded.signatures["encode"](images=tf.constant(self.images))
    posterior = self.model.encode(self.images)
    self.assertAllClose(out["mean"], posterior.mean(), atol=1e-5)
    self.assertAllClose(out["scale"], posterior.stddev(), atol=1e-5)

  def test_reconstruct_matches_the_model_for_any_batch_size(self):
    for count in (1, 3):
      out = self.loaded.signatures["reconstruct"](images=tf.constant(self.images[:count]))
      self.assertSameImages(out["images"], self.model.reconstruct(self.images[:count]))

  def test_sample_gives_count_images_in_the_unit_range(self):
    images = self.loaded.signatures["sample"](
        count=tf.constant(4), temperature=tf.constant(0.5), seed=tf.constant([1, 2]))["images"]
    self.assertEqual(images.shape, (4, 32, 32, 4))
    self.assertAllInRange(images, 0.0, 1.0)

  def sample(self, seed=None, count=4):
    seed = {} if seed is None else {"seed": tf.constant(seed, tf.int32)}
    return self.loaded.sample(count=tf.constant(count), temperature=tf.constant(1.0),
                              **seed)["images"].numpy()

  def test_the_same_seed_gives_the_same_samples_and_another_seed_others(self):
    self.assertAllEqual(self.sample([3, 0]), self.sample([3, 0]))
    self.assertNotAllClose(self.sample([3, 0]), self.sample([4, 0]))

  def test_the_seeded_sample_is_the_models_sample_with_that_seed(self):
    expected = self.model.sample(4, temperature=1.0, seed=tf.constant([3, 0]))
    self.assertSameImages(self.sample([3, 0]), expected)

  def test_without_a_seed_every_call_draws_new_latents(self):
    self.assertNotAllClose(self.sample(), self.sample())
    empty = [self.loaded.signatures["sample"](
        count=tf.constant(4), temperature=tf.constant(1.0),
        seed=tf.constant([], tf.int32))["images"].numpy() for _ in range(2)]
    self.assertNotAllClose(empty[0], empty[1])

  def test_a_seed_of_one_integer_is_an_error(self):
    with self.assertRaisesRegex(tf.errors.InvalidArgumentError, "two integers"):
      self.sample([3])

  def test_signature_input_specs_are_fixed(self):
    specs = {name: self.loaded.signatures[name].structured_input_signature[1]
             for name in savedmodel.SIGNATURES}
    self.assertEqual(specs["sample"]["count"], tf.TensorSpec([], tf.int32, "count"))
    self.assertEqual(specs["sample"]["temperature"], tf.TensorSpec([], tf.float32, "temperature"))
    self.assertEqual(specs["sample"]["seed"], tf.TensorSpec([None], tf.int32, "seed"))
    self.assertEqual(specs["decode"]["z"],
                     tf.TensorSpec([None, self.model.code_dim], tf.float32, "z"))
    for name in ("encode", "reconstruct"):
      self.assertEqual(specs[name]["images"],
                       tf.TensorSpec([None, 32, 32, 4], tf.float32, "images"))

  def test_export_documents_its_signatures_and_config(self):
    extra = os.path.join(self.directory, "assets.extra")
    for folder in (self.directory, extra):
      with open(os.path.join(folder, savedmodel.README_NAME), encoding="utf-8") as f:
        readme = f.read()
      for words in ("PREMULTIPLIED RGBA", "in [0, 1]", f"S = 32, C = 4, D = {self.model.code_dim}",
                    "seed: int32 [2] or [0]", "saved_model_cli run", *savedmodel.SIGNATURES):
        self.assertIn(words, readme)
    with open(os.path.join(extra, "config.json"), encoding="utf-8") as f:
      self.assertEqual(json.load(f), {"latent_dim": 8})

  @pytest.mark.slow
  def test_loads_and_runs_in_a_clean_process_without_project_code_or_tfp(self):
    inputs = os.path.join(self.tmp.name, "inputs.npz")
    np.savez(inputs, z=self.z)
    results, seeded = [], []
    for run in range(2):  # Two fresh processes: the seed must not depend on process state.
      decoded_path = os.path.join(self.tmp.name, f"decoded{run}.npy")
      seeded_path = os.path.join(self.tmp.name, f"seeded{run}.npy")
      done = subprocess.run(
          [sys.executable, "-c", CLEAN_LOAD, self.directory, inputs, decoded_path, seeded_path],
          capture_output=True, text=True, timeout=120, cwd=self.tmp.name, check=False)
      self.assertEqual(done.returncode, 0, done.stderr[-3000:])
      results.append(json.loads(done.stdout.strip().splitlines()[-1]))
      seeded.append(np.load(seeded_path))
      self.assertSameImages(np.load(decoded_path), self.model.render(self.z))
    result = results[0]
    self.assertEqual(result["imported"], [])
    self.assertEqual(result["signatures"], sorted(savedmodel.SIGNATURES))
    self.assertEqual(result["inputs"]["decode"], {"z": ["float32", [None, self.model.code_dim]]})
    self.assertEqual(result["inputs"]["sample"]["seed"], ["int32", [None]])
    self.assertEqual(result["sample_shape"], [5, 32, 32, 4])
    self.assertEqual(result["unseeded_shape"], [5, 32, 32, 4])
    self.assertAllInRange(result["sample_range"], 0.0, 1.0)
    self.assertAllEqual(seeded[0], seeded[1])
    self.assertSameImages(seeded[0], self.model.sample(5, temperature=0.7, seed=tf.constant([3, 0])))
    # The run's sampler is the fitted ex-post density, not the prior.
    prior = self.model.sample(5, temperature=0.7, seed=tf.constant([3, 0]), sampler="prior")
    self.assertGreater(np.abs(seeded[0] - np.asarray(prior)).max(), 0.1)

  @pytest.mark.slow
  def test_saved_model_cli_run_gives_the_same_samples_for_the_same_seed(self):
    cli = shutil.which("saved_model_cli", path=os.path.dirname(sys.executable))
    self.assertIsNotNone(cli, "saved_model_cli is installed with TensorFlow")
    outputs = []
    for run in range(2):
      outdir = os.path.join(self.tmp.name, f"cli{run}")
      done = subprocess.run(
          [cli, "run", "--dir", self.directory, "--tag_set", "serve", "--signature_def",
           "sample", "--input_exprs", "count=3;temperature=0.7;seed=[5,1]", "--outdir", outdir],
          capture_output=True, text=True, timeout=120, cwd=self.tmp.name, check=False,
          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
      self.assertEqual(done.returncode, 0, done.stderr[-3000:])
      outputs.append(np.load(os.path.join(outdir, "images.npy")))
    self.assertAllEqual(outputs[0], outputs[1])
    in_python = self.loaded.sample(count=tf.constant(3), temperature=tf.constant(0.7),
                                   seed=tf.constant([5, 1]))["images"]
    self.assertSameImages(outputs[0], in_python)


@pytest.mark.slow  # its set-up and compiled steps take several seconds on 2 cores
class BlendExportTest(ExportTest):
  """The same export with the blend sampler, whose codes have no fixed count."""

  SAMPLER = "blend"

  @staticmethod
  def fit_sampler(codes):
    rng = np.random.default_rng(3)
    points = 2.0 * np.sign(rng.normal(size=(40, codes.latent_dim)))
    codes.assign(points, np.array([f"s{i}" for i in range(40)]), step=1)


@pytest.mark.slow  # its set-up and compiled steps take several seconds on 2 cores
class QuiltExportTest(ExportTest):
  """The same export with the quilt sampler: a mixture over z1 and codes of no fixed count."""

  SAMPLER = "quilt"

  @classmethod
  def fit_sampler(cls, sampler):
    rng = np.random.default_rng(3)
    codes = rng.normal(size=(40, sampler.codes.shape[1]))
    sampler.fit(codes, codes, step=1, groups=np.array([f"s{i}" for i in range(40)]))
    sampler.fit_renders(cls.model)  # the export renders each new silhouette too


if __name__ == "__main__":
  tf.test.main()
