"""The SavedModel of `evaluate.py --export`: written here, and read back for `generate.py`.

`export` writes a trained VAE as a SavedModel that needs only TensorFlow to
run, whole or not at all (into a temporary folder renamed into place); `load`
reads one back with the config it carries.

The SavedModel holds the model's variables and four `tf.function` signatures
traced with fixed input specs. Its graphs are plain TensorFlow ops, so
loading it imports neither this project nor TensorFlow Probability:

    m = tf.saved_model.load(DIR)
    images = m.sample(count=tf.constant(16), temperature=tf.constant(0.8),
                      seed=tf.constant([3, 0]))["images"]

or from a shell, with TensorFlow's own tool:

    saved_model_cli run --dir DIR --tag_set serve --signature_def sample \
        --input_exprs 'count=16;temperature=0.8;seed=[3,0]' --outdir OUT

Signatures (S = image size, C = channels, D = latent size, N = batch):

  sample(count: int32 [], temperature: float32 [], seed: int32 [2] or [0])
      -> images: float32 [count, S, S, C] in [0, 1]
      Draws latents from the sampler the run uses for its samples (the
      prior, a density fitted to the training codes after training, or
      blends of two training codes) at `temperature` (1 is the sampler
      itself; below 1 trades variety for cleaner sprites; the blend sampler
      ignores it) and renders p(x|z). With a seed of two integers the
      draw uses stateless random ops: the same seed gives the same sprites,
      in any process. The seed is optional: from Python leave it out, from
      a signature call pass an empty one (`seed=[]`), and every call draws
      new latents.
  encode(images: float32 [N, S, S, C] in [0, 1])
      -> mean: float32 [N, D], scale: float32 [N, D]
      The posterior q(z|x) = Normal(mean, scale), diagonal.
  decode(z: float32 [N, D]) -> images: float32 [N, S, S, C] in [0, 1]
      Renders p(x|z): the most probable 8-bit level of each value for the
      logistic likelihood (so values are multiples of 1/255), the mean for
      the others. The same as `VAE.render`.
  reconstruct(images: float32 [N, S, S, C] in [0, 1])
      -> images: float32 [N, S, S, C] in [0, 1]
      decode(encode(images).mean).

Where the run's sampler holds the training sprites' types (the blend sampler
of data with a types table), or the model is conditioned on types
(`--condition types`), two more, over the T = 18 types of
`pipelines.types_table.TYPE_NAMES` (Normal, Fighting, ..., Fairy, in that
order; the module's `type_names` variable lists them):

  sample_types(count: int32 [], temperature: float32 [], seed: int32 [2] or [0],
               types: float32 [T] multi-hot, one or two types)
      -> images: float32 [count, S, S, C] in [0, 1]
      As `sample`, every sprite a blend of two training sprites of those types
      (a conditional model decodes each with those types as its condition).
  restyle(images: float32 [1, S, S, C] in [0, 1], count: int32 [], types: float32 [T])
      -> images: float32 [M, S, S, C] in [0, 1], M <= count
      The sprite blended halfway with its nearest training sprites of those
      types, one per species, nearest first. A conditional model gives first
      the sprite itself decoded with those types, then those blends decoded
      with them.

A conditional model's encode, decode and reconstruct take no types: they
read the image as a sprite of any type (the condition of all zeros, which
its training taught it by hiding some sprites' types).

Channel layout: C = 4 is PREMULTIPLIED RGBA (colour already multiplied by
alpha; a transparent pixel is exactly 0, 0, 0, 0), C = 3 is RGB. To view an
RGBA output as a straight-alpha PNG, divide colour by alpha where alpha > 0.

The same description is written to `README.md` in the export folder (and
to `assets.extra/README.md`, beside the run's `config.json`);
`saved_model_cli show --dir DIR --all` lists the signatures.
"""

import dataclasses
import os

import tensorflow as tf

from common.errors import first_line
from pipelines.types_table import TYPE_NAMES
from vae import config as config_lib
from vae.rundir import RunDirError, files

README_NAME = "README.md"
SAVED_MODEL_FILE = "saved_model.pb"
SIGNATURES = ("sample", "encode", "decode", "reconstruct")
TYPE_SIGNATURES = ("sample_types", "restyle")


class ExportedVAE(tf.Module):
  """The model's variables and its four serving functions."""

  def __init__(self, model, name=None):
    super().__init__(name=name)
    self.model = model
    shape = [None, model.image_size, model.image_size, model.channels]
    images = tf.TensorSpec(shape, tf.float32, name="images")
    z = tf.TensorSpec([None, model.code_dim], tf.float32, name="z")
    self.sample = tf.function(self._sample)
    self.encode = tf.function(self._encode, input_signature=[images])
    self.decode = tf.function(self._decode, input_signature=[z])
    self.reconstruct = tf.function(self._reconstruct, input_signature=[images])
    self.holds_types = model.expost.holds_types or model.conditional
    if self.holds_types:
      self.type_names = tf.Variable(list(TYPE_NAMES), trainable=False, name="type_names")
      types = tf.TensorSpec([len(TYPE_NAMES)], tf.float32, name="types")
      one = tf.TensorSpec([1, *shape[1:]], tf.float32, name="images")
      self.sample_types = tf.function(self._sample_types)
      self.restyle = tf.function(
          self._restyle, input_signature=[one, tf.TensorSpec([], tf.int32, name="count"), types])

  def _seed(self, seed):
    """Always a stateless draw: an absent or empty seed is replaced by one drawn
    from a stateful generator, so unseeded calls still differ."""
    fresh = tf.random.uniform([2], maxval=tf.int32.max, dtype=tf.int32)
    if seed is None:
      return fresh
    size = tf.size(seed)
    check = tf.debugging.assert_equal(
        tf.logical_or(tf.equal(size, 0), tf.equal(size, 2)), True,
        message="seed must hold two integers, or none")
    with tf.control_dependencies([check]):
      return tf.concat([tf.reshape(seed, [-1]), fresh], 0)[:2]

  def _sample_types(self, count, temperature, seed, types):
    return {"images": self.model.sample(count, temperature=temperature, seed=self._seed(seed),
                                        types=types)}

  def _restyle(self, images, count, types):
    return {"images": self.model.restyle(images, count, types)}

  def _sample(self, count, temperature, seed=None):
    return {"images": self.model.sample(count, temperature=temperature, seed=self._seed(seed))}

  def _encode(self, images):
    posterior = self.model.encode(images)
    return {"mean": posterior.mean(), "scale": posterior.stddev()}

  def _decode(self, z):
    return {"images": self.model.render(z)}

  def _reconstruct(self, images):
    return {"images": self.model.reconstruct(images)}

  def signatures(self):
    """Concrete functions by signature name, for `tf.saved_model.save`.

    `sample` is also traced without a seed, so that from Python the seed
    can be left out; a signature must name all its inputs, so there the
    seed is a vector of two integers or none.
    """
    count = tf.TensorSpec([], tf.int32, name="count")
    temperature = tf.TensorSpec([], tf.float32, name="temperature")
    self.sample.get_concrete_function(count, temperature)
    functions = {name: getattr(self, name).get_concrete_function()
                 for name in SIGNATURES if name != "sample"}
    seed = tf.TensorSpec([None], tf.int32, name="seed")
    functions["sample"] = self.sample.get_concrete_function(count, temperature, seed)
    if self.holds_types:
      types = tf.TensorSpec(self.type_names.shape, tf.float32, name="types")
      functions["sample_types"] = self.sample_types.get_concrete_function(
          count, temperature, seed, types)
      functions["restyle"] = self.restyle.get_concrete_function()
    return functions


def export(model, directory, config_json=None):
  """Writes `model` as a SavedModel to `directory`, whole or not at all.

  Args:
    model: a `vae.model.VAE` built with float32 compute (mixed-precision graphs
      would be baked into the export).
    directory: the SavedModel folder, created or replaced.
    config_json: the run's config as JSON text, copied into
      `assets.extra/config.json` so the export says how it was trained.

  Returns:
    `directory`.

  Raises:
    RunDirError: the write failed (status 1); `directory` is as it was.
  """
  module = ExportedVAE(model, name="pokevae")
  with files.replacing(directory) as temporary:
    try:
      tf.saved_model.save(module, temporary, signatures=module.signatures())
    except tf.errors.OpError as error:  # TensorFlow's file system reports a full disk so.
      raise files.write_failed(directory, error) from None
    extra = os.path.join(temporary, "assets.extra")
    os.makedirs(extra, exist_ok=True)
    shape = f"S = {model.image_size}, C = {model.channels}, D = {model.code_dim}"
    for folder in (temporary, extra):
      with open(os.path.join(folder, README_NAME), "w", encoding="utf-8") as f:
        f.write(f"# PokeVAE SavedModel ({shape})\n\n{__doc__}")
    if config_json is not None:
      with open(os.path.join(extra, "config.json"), "w", encoding="utf-8") as f:
        f.write(config_json)
  return directory


def is_saved_model(path):
  """Whether `path` is a SavedModel folder (rather than a run or a checkpoint)."""
  return os.path.isfile(os.path.join(path, SAVED_MODEL_FILE))


@dataclasses.dataclass
class Exported:
  """A loaded export: its module, geometry and the config it was trained with.

  Attributes:
    module: what `tf.saved_model.load` returned (`sample`, the signatures).
    image_size, channels, code_dim: from the signatures' input specs.
    config: the run's `Config` (the defaults when the export holds none).
    sampler: the run's sampler, or "unknown".
  """
  module: object
  image_size: int
  channels: int
  code_dim: int
  config: config_lib.Config
  sampler: str


def load(path):
  """Reads the export in `path`.

  Raises:
    RunDirError: `path` is not a PokeVAE SavedModel, or its config is not usable.
  """
  try:
    module = tf.saved_model.load(path)
    encode_spec = module.signatures["encode"].structured_input_signature[1]["images"]
    decode_spec = module.signatures["decode"].structured_input_signature[1]["z"]
  except (KeyError, OSError, ValueError, tf.errors.OpError) as error:
    raise RunDirError(f"{path} is not a PokeVAE SavedModel (see vae/rundir/savedmodel.py): "
                      f"{first_line(error, type(error).__name__)}") from None
  config, sampler = config_lib.Config(), "unknown"
  config_path = os.path.join(path, "assets.extra", "config.json")
  if os.path.exists(config_path):
    try:
      config = config_lib.load(config_path)
    except (OSError, ValueError, TypeError) as error:
      raise RunDirError(f"{config_path} is not a usable run config: "
                        f"{first_line(error, type(error).__name__)}") from None
    sampler = config.sampler
  return Exported(module, encode_spec.shape[1], encode_spec.shape[3], decode_spec.shape[1],
                  config, sampler)
