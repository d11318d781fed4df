"""The interface every sampler of new codes honours.

A sampler is where `VAE.sample_codes` gets its codes. The model holds one,
`model.expost`, built from the config's `sampler`; callers speak to it only
through `Sampler`'s methods, as TFP's callers speak to any `tfd.Distribution`
through `sample` and `log_prob`:

* `needs_fit`, `fitted`, `fitted_step`: whether it is fitted to training codes
  and at which training step (the training loop refits it, `evaluate.py`
  refits one whose step is not the checkpoint's).
* `latents`: what `fit` is given: "all", the whole code (`VAE.encode`), or
  "top", the global latent z1 only (`VAE.encoder`).
* `fit(train, val, step, groups, seed)`: fits it to the training set's
  posterior means, choosing among settings on the validation codes where
  it uses them (`uses_validation`); `fit_renders(model)` then keeps what it
  needs of the model's renders of them.
* `sample_codes(model, n, temperature, seed, types)`: n whole codes for the
  model; with `types`, of those types, where the sampler `holds_types`.
  `sample_conditioned` adds the condition each code is decoded with, for a
  conditional model (`vae/conditioning.py`).
* `describe()`, `words(model)`: what it is, for report.json and in words.

Its variables are its own, so they live in the checkpoint and the SavedModel
like any weight (the model keeps the name `expost` for them, which the
checkpoints written before samplers had a room of their own use).
"""

import contextlib

import numpy as np
import tensorflow as tf

from vae import conditioning


class Sampler(tf.Module):
  """Base class: a sampler that needs fitting, its step in a variable."""

  kind = None  # the config's `sampler` value
  needs_fit = True
  uses_validation = False
  keeps_types = False  # whether `fit` keeps the training codes' types
  # Attributes (variables) that a checkpoint written before they existed lacks;
  # such a checkpoint restores with them as built (`without`).
  optional = ()
  holds_types = False  # whether it has: `sample_codes` can draw codes of chosen types

  def __init__(self, latents, name=None):
    super().__init__(name=name)
    self.latents = latents
    if self.needs_fit:
      with self.name_scope:
        # The training step the sampler was fitted at; -1: never fitted.
        self.fitted_step = tf.Variable(tf.constant(-1, tf.int64), trainable=False,
                                       name="fitted_step")

  @contextlib.contextmanager
  def without(self, names):
    """Leaves the attributes `names` (of `optional`) out of the object graph for a while,
    so that a checkpoint that lacks them restores the rest."""
    kept = {name: getattr(self, name) for name in names}
    for name in names:
      delattr(self, name)
    try:
      yield
    finally:
      for name, value in kept.items():
        setattr(self, name, value)

  @property
  def fitted(self):
    return not self.needs_fit or int(self.fitted_step.numpy()) >= 0

  def matches(self, kind, latents=None):
    """Whether this sampler is the `kind` asked for (over `latents`, where it matters)."""
    return kind == self.kind and latents in (None, self.latents)

  def fit(self, train, val, step, groups=None, seed=0, types=None):
    """Fits to training codes `train` [N, D] (and `val` [M, D]) at `step`;
    `groups` and `types` are each training code's species group and
    multi-hot types [N, T], for the samplers that use them.

    Returns:
      dict(scores={setting: validation score}, chosen=what was kept).
    """
    raise NotImplementedError

  def fit_renders(self, model):
    """After `fit`, stores what the sampler needs of the model's renders of its
    codes (`samplers.fit_model` calls it; only the quilt sampler needs any)."""

  def sample_codes(self, model, n, temperature, seed, types=None):
    """n codes [n, model.code_dim]; `seed` a stateless seed; `types` [T]
    multi-hot, codes of those types (only where `holds_types`)."""
    raise NotImplementedError

  def sample_conditioned(self, model, n, temperature, seed, types=None):
    """`sample_codes`, and the condition [n, T] each code is decoded with for a
    conditional model (None for an unconditional one): `types` [T] for all where
    given, else zeros ("any type"); a sampler that knows its codes' types (the
    blend sampler) gives theirs."""
    codes = self.sample_codes(model, n, temperature, seed, types)
    if not model.conditional:
      return codes, None
    return codes, conditioning.as_batch(types, n, model.num_conditions)

  def toward(self, code, n, types):
    """Up to n codes [m, code_dim] and shares t [m, 1] from `code` toward codes of `types`."""
    raise NotImplementedError

  def type_species(self):
    """How many training species of each type the sampler holds, int [T] ([0] if none)."""
    return np.zeros(0, np.int64)

  def describe(self):
    """A dict for report.json's "expost", or None for a sampler with nothing fitted."""
    raise NotImplementedError

  def words(self, model):
    """Where the samples come from, in words (for reports and generate.json)."""
    raise NotImplementedError
