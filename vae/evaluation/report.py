"""The evaluation report of a trained PokeVAE: likelihood, latent use, samples.

`report_on_run` restores a run's model through `vae.rundir.load` (whose
`RunDirError` lines tell every way that can fail) and computes the report
(all keys are listed in `REPORT_KEYS`):

* Likelihood, nats per image averaged over the split: `elbo`, `distortion`
  (-log p(x|z)), `rate` (KL(q(z|x) || p(z))); in bits per dimension the ELBO
  bound and the tighter importance-weighted bound of Burda et al. 2016 with
  `iw_samples` samples (`vae/objectives.py`).
* Latent use: `kl_per_dim` (mean KL of each latent dimension) and
  `active_units` (Burda et al. 2016: units whose posterior mean varies).
* Reconstructions of the posterior mean: `recon_psnr` (dB), `recon_ssim`.
* Samples against the split, in the seeded random-convnet feature space of
  `vae/evaluation/features.py` (NOT Inception: comparable between runs of this project,
  never with published ImageNet FIDs): `fd`, `kid`/`kid_std`, `precision`,
  `recall`, `density`, `coverage`.
* `bits_per_dim_foreground`: the ELBO bound over the sprite's own pixels
  only, so the transparent canvas (cheap to code) does not flatter it.
* What a viewer sees (`vae/evaluation/appearance.py`): `silhouette`, `sharpness` and
  `alpha_hardness` of samples and reconstructions beside the real sprites'.
* `memorization`: near-copies of training sprites among the samples: a sample
  much nearer to one training sprite than to the next (`metrics.memorization`),
  between the directions of their features (`features.directions`). A blurry
  sample is near many sprites at once in pixel space, and near the sprites
  with the weakest features in feature space; plain distances flag such
  blobs as copies, the ratio does not. The same test on 32 px composites
  (`pixel_near_copy_fraction`) and on silhouettes against other species
  (`shape_near_copy_fraction`, which a copy in new colours does not escape).
* `rate_by_level`: the rate split into the global latent and the grid.

Samples come from the model's sampler (`vae/samplers/`), refitted here when
the checkpoint holds none fitted to its own weights.

Every random draw comes from stateless seeds derived from `seed`, so the
same call gives the same numbers.
"""

import dataclasses
import math
import re

import numpy as np
import tensorflow as tf

from common.errors import first_line
import pipelines
from vae import config as config_lib
from vae import samplers
from vae import objectives
from vae.evaluation import appearance, features, metrics, realism
from vae.evaluation import types as types_lib
from vae.rundir import load

REPORT_KEYS = (
    "elbo", "distortion", "rate", "bits_per_dim_elbo", "bits_per_dim_iwae",
    "bits_per_dim_foreground", "iw_samples", "active_units", "latent_dim",
    "kl_per_dim", "rate_by_level", "recon_psnr", "recon_ssim", "silhouette",
    "sharpness", "alpha_hardness", "fd", "kid", "kid_std", "precision",
    "recall", "density", "coverage", "memorization", "realism", "types", "split", "num_images",
    "num_samples", "temperature", "grid_temperature", "sampler", "condition", "expost", "checkpoint",
    "seed")

# Images per compiled call. The IWAE bound decodes IWAE_BATCH * IWAE_CHUNK
# images at once, which bounds its activations' memory (bench/README.md,
# "Figures that were in code comments").
BATCH = 64
# The species the type classifier is judged on: both held-out splits, as the
# figures of the test species alone vary by a few points (`types_lib.fit_on_data`).
TYPE_HELD_OUT = ("val", "test")
IWAE_BATCH = 16
IWAE_CHUNK = 32

# Neighbours that set a PRDC ball (Naeem et al. 2020 use 5).
PRDC_K = 5
MEMORIZATION_QUANTILE = 0.05
# Fewest images per set for the two-sample tests: below it their folds are
# too small to say anything (a quick --limit evaluation skips them).
REALISM_MIN_IMAGES = 50

# Independent random streams, one per use of randomness.
_ELBO_STREAM, _IWAE_STREAM, _SAMPLE_STREAM = 1, 2, 3


class EvaluationError(ValueError):
  """A problem with the request, told in one line (the run directory's are `RunDirError`s)."""


def load_data(config, data_dir=None):
  """The run's data (`pipelines.SpriteData`), from `data_dir` if given."""
  data_config = config.data
  if data_dir:
    data_config = dataclasses.replace(data_config, data_dir=data_dir)
  return pipelines.load(data_config)


def load_split(config, split, data_dir=None, limit=None, data=None):
  """The split's images, the training images (float32 [N, S, S, C] in [0, 1]),
  the held-out images for the near-copy threshold and the two-sample tests,
  and the species groups (of the training images, of the held-out ones).

  `limit` keeps the split's first images only (in file order), for a quick
  check of a model against figures recorded on the same images. `data`, the
  run's data already loaded (`load_data`).
  """
  data = data or load_data(config, data_dir)
  data_config = data.config
  images = data.array(split)[:limit].astype(np.float32) / 255.0
  train = data.array("train").astype(np.float32) / 255.0
  if len(images) < 2:
    raise EvaluationError(
        f"the {split} split of {data_config.folder} holds {len(images)} image(s); "
        "evaluation needs at least 2")
  if len(train) < 1:
    raise EvaluationError(f"the train split of {data_config.folder} is empty")
  # The memorization threshold needs sprites the model never saw.
  if split != "train":
    heldout, heldout_groups = images, data.groups(split)[:limit]
  else:
    heldout = data.array("test").astype(np.float32) / 255.0
    heldout_groups = data.groups("test")
  if len(heldout) == 0:
    raise EvaluationError(
        f"the test split of {data_config.folder} is empty: memorization on the train "
        "split needs held-out sprites for its threshold")
  return images, train, heldout, (data.groups("train"), heldout_groups)


def type_sets(data, held_out=TYPE_HELD_OUT):
  """The `types_lib.TypeSets` of the data (the classifier judged on the species of the
  `held_out` splits, whatever split is evaluated), or None for data without types."""
  if not data.type_names:
    return None
  return types_lib.TypeSets(
      data.type_names, data.types("train"), data.primary_types("train"),
      np.concatenate([data.array(s) for s in held_out]).astype(np.float32) / 255.0,
      np.concatenate([data.types(s) for s in held_out]),
      np.concatenate([data.primary_types(s) for s in held_out]))


def _stream(seed, stream, count):
  """`count` stateless seeds [2] of one random stream."""
  return tf.unstack(tf.random.experimental.stateless_split(
      tf.constant([seed, stream], tf.int32), num=max(count, 1)))[:count]


def _batches(images, size):
  return [images[i:i + size] for i in range(0, len(images), size)]


def _compiled(model, iw_samples):
  """The model's per-batch computations, traced once for any batch size.

  `terms` and `iwae` take each image's condition y [B, T]; an unconditional
  model's networks ignore it ([B, 0]).
  """
  images = tf.TensorSpec([None, *model.image_shape], tf.float32)
  types = tf.TensorSpec([None, model.num_conditions], tf.float32)
  seed = tf.TensorSpec([2], tf.int32)

  @tf.function(input_signature=[images, types, seed])
  def terms(x, y, seed):
    out = objectives.elbo_terms(model, x, types=y, seed=seed, foreground=True)
    mean = model.encode(x, y).mean()
    return dict(out, mean=mean, reconstruction=model.render(mean, y))

  @tf.function(input_signature=[images, types, seed])
  def iwae(x, y, seed):
    return objectives.iwae_bound(model, x, k=iw_samples, types=y,
                                 chunk=min(iw_samples, IWAE_CHUNK), seed=seed)

  return terms, iwae, _compiled_sample(model)


def _compiled_sample(model):
  """`model.sample(count, temperature, seed)`, traced once for any count."""

  @tf.function(input_signature=[tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.float32),
                                tf.TensorSpec([2], tf.int32)])
  def sample(count, temperature, seed):
    return model.sample(count, temperature=temperature, seed=seed)

  return sample


@dataclasses.dataclass
class Evaluation:
  """The report and the arrays the pictures are drawn from."""
  report: dict
  images: np.ndarray  # evaluated split [N, S, S, C]
  train: np.ndarray  # training split [M, S, S, C]
  samples: np.ndarray  # [num_samples, S, S, C]
  # In pixel space (`realism.pixel_copies`), what nearest_neighbors.png shows:
  nearest_index: np.ndarray  # each sample's nearest training sprite [num_samples]
  nearest_distance: np.ndarray  # RMS distance to it [num_samples]
  # Its distance over that to the second-nearest: near 0 for a copy [num_samples].
  nearest_ratio: np.ndarray = None
  # {type: sprites generated for it}, and {type: training sprites of it}, for the sheets.
  samples_by_type: dict = None
  real_by_type: dict = None


def compute_report(model, images, train, heldout=None, *, iw_samples, num_samples,
                   temperature=1.0, seed=0, groups=None, types=None, image_types=None,
                   train_types=None):
  """Computes the report on `images` (see the module docstring).

  Args:
    model: a `vae.model.VAE`.
    images: the evaluated split, float32 [N, S, S, C] in [0, 1], N >= 2.
    train: the training split, same layout (for memorization).
    heldout: sprites the model never saw, for the memorization threshold
      and the two-sample tests; default `images`.
    iw_samples: importance samples K of the IWAE bound.
    num_samples: samples drawn from the prior, >= 2.
    temperature: scale of the sampler for the samples.
    seed: integer seed of every random draw.
    groups: (species groups of `train`, of `heldout`), which keep a
      species within one fold of the two-sample tests; without them
      `realism` is None.
    types: the `types_lib.TypeSets` of `train` and `heldout`; without them,
      or with a sampler that holds no types, `types` is None.
    image_types, train_types: the types [N, T] of `images` and `train`, for a
      conditional model, which needs them.

  Returns:
    An `Evaluation`; its report lacks `split` and `checkpoint`, which the
    caller knows.
  """
  if num_samples < 2 or len(images) < 2:
    raise EvaluationError(
        f"need at least 2 images and 2 samples, got {len(images)} and {num_samples}")
  heldout = images if heldout is None else heldout
  if model.conditional and (image_types is None or train_types is None):
    raise EvaluationError("a model conditioned on types is evaluated on sprites with their types: "
                          "evaluate on data with a types table")
  if not model.conditional:
    image_types = np.zeros((len(images), 0), np.float32)
    train_types = np.zeros((len(train), 0), np.float32)
  judged_types = _types(model, train, types, seed)
  terms_fn, iwae_fn, sample_fn = _compiled(model, iw_samples)
  terms, iwae = _likelihood_terms(terms_fn, iwae_fn, images, image_types, seed)
  samples = _draw_samples(sample_fn, num_samples, temperature, seed)
  copies = _near_copies(samples, train, heldout, None if groups is None else groups[0])
  report = dict(
      **_likelihood_report(model, terms, iwae, iw_samples),
      recon_psnr=metrics.psnr(images, terms["reconstruction"]),
      recon_ssim=metrics.ssim(images, terms["reconstruction"]),
      **appearance.compare(heldout, samples=samples, reconstructions=terms["reconstruction"]),
      **_feature_report(images, samples, num_samples, seed),
      memorization=copies["report"],
      realism=_realism(model, samples, train, train_types, heldout, groups, seed),
      types=judged_types["report"],
      num_images=len(images),
      num_samples=int(num_samples),
      temperature=float(temperature),
      grid_temperature=float(model.grid_temperature) if model.grid_size else None,
      sampler=model.sampler,
      condition=model.condition,
      expost=model.expost.describe(),
      seed=int(seed))
  pixel = copies["pixel"]
  return Evaluation(report, images, train, samples, pixel["nearest_index"],
                    pixel["nearest_distance"], pixel["nearest_ratio"],
                    judged_types["samples"], judged_types["real"])


def _likelihood_terms(terms_fn, iwae_fn, images, image_types, seed):
  """Every image's ELBO terms, posterior mean and reconstruction, and its IWAE bound."""
  batches = list(zip(_batches(images, BATCH), _batches(image_types, BATCH)))
  parts = [terms_fn(tf.constant(x), tf.constant(y), s)
           for (x, y), s in zip(batches, _stream(seed, _ELBO_STREAM, len(batches)))]
  terms = {k: np.concatenate([p[k].numpy() for p in parts]) for k in parts[0]}
  iwae_batches = list(zip(_batches(images, IWAE_BATCH), _batches(image_types, IWAE_BATCH)))
  iwae = np.concatenate([
      iwae_fn(tf.constant(x), tf.constant(y), s).numpy()
      for (x, y), s in zip(iwae_batches, _stream(seed, _IWAE_STREAM, len(iwae_batches)))])
  return terms, iwae


def draw_samples(model, num_samples, temperature=1.0, seed=0):
  """The `num_samples` samples [N, S, S, C] that `compute_report` judges for this
  `temperature` and `seed`: the same draws, for a measure outside the report."""
  return _draw_samples(_compiled_sample(model), num_samples, temperature, seed)


def _draw_samples(sample_fn, num_samples, temperature, seed):
  counts = [min(BATCH, num_samples - i) for i in range(0, num_samples, BATCH)]
  return np.concatenate([
      sample_fn(tf.constant(n), tf.constant(temperature, tf.float32), s).numpy()
      for n, s in zip(counts, _stream(seed, _SAMPLE_STREAM, len(counts)))])


def _likelihood_report(model, terms, iwae, iw_samples):
  """The bounds in nats and bits/dim, and how the rate is spread over the latents."""
  shape = model.image_shape
  elbo = float(terms["elbo"].mean())
  top = model.latent_dim
  rate_per_dim = terms["rate_per_dim"].mean(0)
  foreground_nats = terms["foreground_distortion"].sum() + terms["rate"].sum()
  return dict(
      elbo=elbo,
      distortion=float(terms["distortion"].mean()),
      rate=float(terms["rate"].mean()),
      bits_per_dim_elbo=float(objectives.bits_per_dim(-elbo, shape)),
      bits_per_dim_iwae=float(objectives.bits_per_dim(-float(iwae.mean()), shape)),
      bits_per_dim_foreground=float(
          foreground_nats / (max(terms["foreground_values"].sum(), 1.0) * math.log(2))),
      iw_samples=int(iw_samples),
      active_units=metrics.active_units(terms["mean"][:, :top]),
      latent_dim=int(top),
      kl_per_dim=[float(v) for v in rate_per_dim[:top]],
      rate_by_level=dict(top=float(rate_per_dim[:top].sum()),
                         grid=float(rate_per_dim[top:].sum())))


def _feature_report(images, samples, num_samples, seed):
  """Samples against the split in the random-convnet feature space."""
  real, fake = features.embed(images), features.embed(samples)
  kid, kid_std = metrics.kernel_distance(real, fake, seed=seed)
  return dict(fd=metrics.frechet_distance(real, fake), kid=kid, kid_std=kid_std,
              **metrics.prdc(real, fake, k=min(PRDC_K, len(images) - 1, num_samples - 1)))


def _near_copies(samples, train, heldout, train_groups=None):
  """Near-copies by the ratio test in feature space, in pixel space and on silhouettes
  (these only with the training sprites' species, `train_groups`, and an alpha channel).

  Returns {"report": the report's `memorization`, "pixel": the pixel test's
  result with each sample's nearest training sprite}.
  """
  copies = metrics.memorization(
      features.directions(features.embed(samples)), features.directions(features.embed(train)),
      features.directions(features.embed(heldout)), quantile=MEMORIZATION_QUANTILE)
  pixel = realism.pixel_copies(samples, train, heldout, quantile=MEMORIZATION_QUANTILE)
  shape = None if train_groups is None else realism.shape_copies(
      samples, train, heldout, train_groups, quantile=MEMORIZATION_QUANTILE)
  report = dict(
      near_copy_fraction=copies["near_copy_fraction"],
      threshold=copies["threshold"],
      threshold_definition=(
          f"the {MEMORIZATION_QUANTILE:g} quantile of held-out sprites' ratio of "
          "the distances to their nearest and second-nearest training sprite, "
          "between unit-length feature vectors of vae/evaluation/features.py; a "
          "sample whose ratio is below it is a near-copy of its nearest"),
      sample_median_distance=copies["sample_median_distance"],
      heldout_median_distance=copies["heldout_median_distance"],
      distinct_neighbours=float(
          len(np.unique(copies["nearest_index"])) / len(copies["nearest_index"])),
      pixel_near_copy_fraction=pixel["near_copy_fraction"],
      pixel_threshold=pixel["threshold"],
      pixel_threshold_definition=(
          f"the same ratio test between {realism.COPY_SIZE} px composites on grey"),
      shape_near_copy_fraction=None if shape is None else shape["near_copy_fraction"],
      shape_threshold=None if shape is None else shape["threshold"],
      shape_threshold_definition=(
          f"the same ratio test between {realism.COPY_SIZE} px silhouettes (alpha), the "
          "second-nearest the nearest training sprite of another species"))
  return dict(report=report, pixel=pixel)


def _types(model, train, types, seed):
  """The type classifier and the conditional accuracy (`types_lib.judge_model`), where the
  data has types and the model's sampler holds them (or the model is conditioned on them)."""
  if types is None or not (model.expost.holds_types or model.conditional):
    return dict(report=None, samples=None, real=None)
  report, samples = types_lib.judge_model(model, train, types, seed=seed)
  real = {name: train[types.train[:, types.names.index(name)] > 0] for name in samples}
  return dict(report=report, samples=samples, real=real)


def _realism(model, samples, train, train_types, heldout, groups, seed):
  """The two-sample tests (`realism.realism`) of samples, reconstructions of training
  sprites and real training sprites against the held-out sprites; None for too few."""
  count = min(len(samples), len(heldout), len(train))
  if groups is None or count < REALISM_MIN_IMAGES:
    return None
  train_groups, heldout_groups = (np.asarray(g) for g in groups)
  pick = np.sort(np.random.default_rng(seed).permutation(len(train))[:count])
  reconstructions = np.concatenate([
      model.reconstruct(tf.constant(x), tf.constant(y)).numpy()
      for x, y in zip(_batches(train[pick], BATCH), _batches(train_types[pick], BATCH))])
  return realism.realism(heldout, heldout_groups, dict(
      samples=(samples, None),
      reconstructions=(reconstructions, train_groups[pick]),
      real=(train[pick], train_groups[pick])), seed=seed)


def checkpoint_step(prefix):
  """The step number of a checkpoint prefix such as .../ckpt-3924."""
  match = re.search(r"-(\d+)$", prefix)
  return int(match.group(1)) if match else -1


def ensure_expost(model, prefix, train, val, train_groups=None, train_types=None):
  """Makes sure the ex-post density belongs to the restored weights.

  A run refits both of its checkpoints' densities when it ends; a checkpoint
  written before that (an interrupted run, a `latest` mid-run) may hold one
  fitted to older weights, or none. Such a density is refitted here on
  `train` and chosen on `val`, a callable returning the validation sprites
  (called only then), and the report says so. The blend sampler needs
  `train_groups`, the species group of each training image.

  Returns:
    Whether the density was refitted (False for a model without one).
  """
  if not model.expost.needs_fit:
    return False
  step = checkpoint_step(prefix)
  refitted = (int(model.expost.fitted_step.numpy()) != step or
              (train_types is not None and model.expost.keeps_types
               and not model.expost.holds_types))
  if refitted:
    val = val()
    train_batches = _batches(train, BATCH)
    if model.conditional:
      if train_types is None:
        raise EvaluationError("a model conditioned on types refits its sampler on sprites with "
                              "their types: evaluate on data with a types table")
      train_batches = list(zip(train_batches, _batches(train_types, BATCH)))
    # The validation codes (of the samplers that use them) are encoded as of unknown types.
    samplers.fit_model(model, train_batches, _batches(val, BATCH), step,
                       train_groups=train_groups, train_types=train_types)
  return refitted


def switch_sampler(model, config, sampler, latents=None):
  """Gives `model` a new, unfitted `sampler` over `latents` (default: the
  config's), for a run trained with another sampler or asked for a density over
  other latents than its own; `ensure_expost` then fits it. A falsy `sampler`,
  or one the model's already matches, changes nothing.

  Returns:
    The config that says which sampler the model has (`config` itself where
    nothing changed).
  """
  latents = latents or config.expost_latents
  if not sampler or model.expost.matches(sampler, latents):
    return config
  model.use_sampler(sampler, latents, config.expost_components)
  return config_lib.replace(config, sampler=sampler, expost_latents=latents)


def report_on_run(path, *, which="best", data_dir=None, split="test", limit=None, log=print,
                  **settings):
  """`vae.rundir.load.load_model`, `load_split` (with `limit`) and `compute_report` in one call.

  `log` is told of each damaged checkpoint skipped.

  Returns:
    (model, config (the run's, with the sampler and grid temperature asked for),
     config path, `Evaluation` with the full report).
  """
  model, config, prefix, config_path = load.load_model(path, which, log)
  data = load_data(config, data_dir)
  images, train, heldout, groups = load_split(config, split, limit=limit, data=data)
  train_groups = groups[0]
  latents = settings.pop("expost_latents", None)
  grid_temperature = settings.pop("grid_temperature", None)
  if grid_temperature is not None:
    model.grid_temperature = grid_temperature
    config = config_lib.replace(config, grid_temperature=grid_temperature)
  # The config returned (the report page's, an --export's) says which sampler.
  config = switch_sampler(model, config, settings.pop("sampler", None), latents)
  sets = type_sets(data)
  if model.conditional and sets is None:
    raise EvaluationError(f"{path} is conditioned on types and {data.config.folder} has no types "
                          "table: evaluate on data with one (see README, Data)")
  refitted = ensure_expost(model, prefix, train, lambda: load_split(config, "val", data=data)[0],
                           train_groups, None if sets is None else sets.train)
  image_types = data.types(split)[:limit] if model.conditional else None
  train_types = data.types("train") if model.conditional else None
  result = compute_report(model, images, train, heldout, groups=groups, types=sets,
                          image_types=image_types, train_types=train_types, **settings)
  result.report.update(split=split, checkpoint=prefix)
  if result.report["expost"] is not None:
    result.report["expost"]["refitted_here"] = refitted
  result.report = {k: result.report[k] for k in REPORT_KEYS}
  return model, config, config_path, result

