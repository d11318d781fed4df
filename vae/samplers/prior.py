"""The prior as a sampler: z1 from p(z1), the grid from p(z2|z1)."""

import tensorflow_probability as tfp

from vae.samplers import base


def codes_given_top(model, z1, temperature, seed, types=None):
  """Whole codes for global latents z1: the grid from p(z2|z1) (p(z2|z1, types) for a
  conditional model) at the grid's temperature."""
  if not model.grid_size:
    return z1
  return model.join_code(z1, model.grid_given(z1, temperature * model.grid_temperature, seed,
                                              types))


def grid_words(model):
  """How the grid of a code drawn through `codes_given_top` is drawn, in words."""
  if not model.grid_size:
    return ""
  prior = "the autoregressive p(z2|z1)" if model.grid.autoregressive else "p(z2|z1)"
  return f", grid from {prior} at temperature x {model.grid_temperature:g}"


class PriorSampler(base.Sampler):
  """Draws from the model's own prior; nothing to fit, no variables."""

  kind = "prior"
  needs_fit = False

  def __init__(self, name=None):
    super().__init__("top", name=name)

  def fit(self, train, val, step, groups=None, seed=0, types=None):
    return dict(scores={}, chosen=None)

  def sample_codes(self, model, n, temperature, seed, types=None):
    top_seed, grid_seed = tfp.random.split_seed(seed, n=2)
    return codes_given_top(model, model.prior(temperature).sample(n, seed=top_seed),
                           temperature, grid_seed, types)

  def describe(self):
    return None

  def words(self, model):
    return "prior" + grid_words(model)
