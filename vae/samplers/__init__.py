"""Where new codes come from: the samplers and their one interface (`base.Sampler`).

* `prior.PriorSampler`: z1 from the model's prior, the grid from p(z2|z1).
* `mixture.MixtureSampler`: a Gaussian mixture fitted to the training codes
  (the config's "expost").
* `blend.BlendSampler`: points between two training codes of different species.
* `quilt.QuiltSampler`: z1 from a mixture fitted to the training codes, the
  grid's detail pieced from blocks of training sprites' grids.

`make` builds the one a config names; `fit_model` encodes the training (and,
where it is used, validation) sprites and fits the model's sampler to them.
"""

import numpy as np
import tensorflow as tf

from vae import config as config_lib
from vae.samplers import blend
from vae.samplers import mixture
from vae.samplers import prior
from vae.samplers import quilt
from vae.samplers.base import Sampler

KINDS = config_lib.SAMPLERS

# Codes the fit reads at most from each split: enough for a 16-component
# mixture in 64 dimensions, and a bounded cost on a large data set.
MAX_FIT_CODES = 8192


def make(kind, *, latent_dim, code_dim, latents="top", components=16, name="expost"):
  """The sampler `kind` (one of `KINDS`) for a model of these sizes, unfitted."""
  if kind == "prior":
    return prior.PriorSampler(name=name)
  if kind == "blend":
    return blend.BlendSampler(code_dim, name=name)
  if kind == "quilt":
    return quilt.QuiltSampler(latent_dim, code_dim, components, name=name)
  if kind == "expost":
    size = code_dim if latents == "all" else latent_dim
    return mixture.MixtureSampler(size, components, latents=latents, name=name)
  raise ValueError(f"sampler must be one of {', '.join(KINDS)}, got {kind!r}")


def _codes(encode, batches, limit):
  """Posterior means of `encode` for up to `limit` images, [N, D] (None for no batches).

  A batch may be (images, types), for a conditional model's encoder.
  """
  codes, count = [], 0
  for batch in batches or ():
    images, types = batch if isinstance(batch, tuple) else (batch, None)
    codes.append(encode(tf.convert_to_tensor(images, tf.float32), types).mean().numpy())
    count += len(codes[-1])
    if count >= limit:
      break
  return np.concatenate(codes)[:limit] if codes else None


def fit_model(model, train_batches, val_batches, step, seed=0, train_groups=None,
              train_types=None):
  """Fits `model.expost` to the codes of `train_batches` (and `val_batches`, where used).

  Args:
    model: a `vae.VAE`.
    train_batches, val_batches: iterables of image batches [B, S, S, C] in [0, 1],
      or of (images, types) batches for a conditional model; `val_batches` may
      be None, and a sampler that uses validation codes then takes the training
      codes.
    step: the training step the encoder's weights are from.
    seed: seed of the fit's random starts.
    train_groups: the species group of each training image in the order of
      `train_batches` (the blend sampler needs them).
    train_types: their multi-hot types [N, T], or None for data without a
      types table (the blend sampler keeps them, to draw blends of a type).

  Returns:
    The sampler's `fit` result: dict(scores={setting: validation score}, chosen=...).
  """
  sampler = model.expost
  if not sampler.needs_fit:
    return sampler.fit(None, None, step)
  encode = model.encode if sampler.latents == "all" else model.encoder
  train = _codes(encode, train_batches, MAX_FIT_CODES)
  if train is None:
    raise ValueError("no training sprites to fit the sampler to")
  val = _codes(encode, val_batches, MAX_FIT_CODES) if sampler.uses_validation else None
  if sampler.uses_validation and val is None:
    val = train
  fit = sampler.fit(train, val, step, groups=train_groups, seed=seed, types=train_types)
  sampler.fit_renders(model)
  return fit
