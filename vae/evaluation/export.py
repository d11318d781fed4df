"""Exports a trained VAE as a SavedModel that needs only TensorFlow to run.

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

Channel layout: C = 4 is PREMULTIPLIED RGBA (colour already multiplied by
alpha; a transparent pixel is exactly 0, 0, 0, 0), C = 3 is RGB. To view an
RGBA output as a straight-alpha PNG, divide colour by alpha where alpha > 0.

The same description is written to `README.md` in the export folder (and
to `assets.extra/README.md`, beside the run's `config.json`);
`saved_model_cli show --dir DIR --all` lists the signatures.
"""

import os

import tensorflow as tf

README_NAME = "README.md"
SIGNATURES = ("sample", "encode", "decode", "reconstruct")


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

  def _sample(self, count, temperature, seed=None):
    # Always a stateless draw: an absent or empty seed is replaced by one
    # drawn from a stateful generator, so unseeded calls still differ.
    fresh = tf.random.uniform([2], maxval=tf.int32.max, dtype=tf.int32)
    if seed is None:
      seed = fresh
    else:
      size = tf.size(seed)
      check = tf.debugging.assert_equal(
          tf.logical_or(tf.equal(size, 0), tf.equal(size, 2)), True,
          message="seed must hold two integers, or none")
      with tf.control_dependencies([check]):
        seed = tf.concat([tf.reshape(seed, [-1]), fresh], 0)[:2]
    return {"images": self.model.sample(count, temperature=temperature, seed=seed)}

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
    functions["sample"] = self.sample.get_concrete_function(
        count, temperature, tf.TensorSpec([None], tf.int32, name="seed"))
    return functions


def export(model, directory, config_json=None):
  """Writes `model` as a SavedModel to `directory`.

  Args:
    model: a `vae.model.VAE` built with float32 compute (mixed-precision graphs
      would be baked into the export).
    directory: the SavedModel folder, created or overwritten.
    config_json: the run's config as JSON text, copied into
      `assets.extra/config.json` so the export says how it was trained.

  Returns:
    `directory`.
  """
  module = ExportedVAE(model, name="pokevae")
  tf.saved_model.save(module, directory, signatures=module.signatures())
  extra = os.path.join(directory, "assets.extra")
  os.makedirs(extra, exist_ok=True)
  shape = f"S = {model.image_size}, C = {model.channels}, D = {model.code_dim}"
  for folder in (directory, extra):
    with open(os.path.join(folder, README_NAME), "w", encoding="utf-8") as f:
      f.write(f"# PokeVAE SavedModel ({shape})\n\n{__doc__}")
  if config_json is not None:
    with open(os.path.join(extra, "config.json"), "w", encoding="utf-8") as f:
      f.write(config_json)
  return directory
