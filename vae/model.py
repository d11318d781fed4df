"""The variational autoencoder (Kingma & Welling 2014; Rezende et al. 2014).

`VAE` ties an encoder q(z|x), a decoder p(x|z) and a prior p(z) together;
each of `encode`, `decode` and `prior` returns a `tfd.Distribution`, and the
objectives built from them live in `vae/objectives.py`. `VAE.from_config`
builds the model a `vae.config.Config` describes; the keyword defaults are
that config's defaults (see `vae/config.py`, where they are written once).
"""

import inspect

import tensorflow as tf
import tensorflow_probability as tfp

from common.errors import check_choice
from vae import conditioning
from vae import config as config_lib
from vae import hierarchy
from vae import layers
from vae import likelihoods
from vae import networks
from vae import priors
from vae import samplers

tfd = tfp.distributions

_DEFAULT = config_lib.Config()
# Keywords of `VAE.__init__` that no config field sets: `from_config` leaves
# the first two at their defaults and passes the last two itself.
CONSTRUCTOR_ONLY = ("groups", "gaussian_scale", "compute_dtype", "name")


class VAE(tf.Module):
  """Convolutional VAE for square 8-bit images in [0, 1].

  With `grid_size` 0 the latent is one global vector z of `latent_dim`. With
  a grid it is two-level (`vae/hierarchy.py`): the global z1 of `latent_dim`
  and a spatial z2 of `grid_size` x `grid_size` x `grid_channels` under the
  conditional prior p(z2|z1). Either way the methods below speak of one flat
  *code* per image, z1 followed by z2 flattened, of size `code_dim`: what
  `encode(x).mean()` returns and `decode` and `render` take.
  """

  @classmethod
  def from_config(cls, config, compute_dtype=None, name="vae"):
    """The model `config` (a `vae.config.Config`) describes, in the current strategy scope.

    Every keyword of `__init__` that is the name of a config field (the data
    fields `image_size` and `channels` by their own names, as in
    `config_lib.flat`) takes that field's value; the rest (`CONSTRUCTOR_ONLY`)
    keep their defaults. `compute_dtype` defaults to float16 with
    `config.mixed_precision`, else float32.
    """
    if compute_dtype is None:
      compute_dtype = tf.float16 if config.mixed_precision else tf.float32
    fields = config_lib.flat(config)
    keywords = inspect.signature(cls.__init__).parameters
    return cls(**{k: fields[k] for k in keywords if k in fields},
               compute_dtype=compute_dtype, name=name)

  def __init__(self, *, image_size=_DEFAULT.data.image_size, channels=_DEFAULT.data.channels,
               latent_dim=_DEFAULT.latent_dim, widths=_DEFAULT.widths,
               res_blocks=_DEFAULT.res_blocks, output_convs=_DEFAULT.output_convs,
               norm=_DEFAULT.norm, decoder_norm=_DEFAULT.decoder_norm, groups=8,
               likelihood=_DEFAULT.likelihood,
               logistic_mixtures=_DEFAULT.logistic_mixtures, gaussian_scale="channel",
               palette_size=_DEFAULT.palette_size, palette_offset=_DEFAULT.palette_offset,
               prior=_DEFAULT.prior, prior_components=_DEFAULT.prior_components,
               grid_size=_DEFAULT.grid_size, grid_channels=_DEFAULT.grid_channels,
               grid_prior=_DEFAULT.grid_prior,
               grid_temperature=_DEFAULT.grid_temperature, sampler=_DEFAULT.sampler,
               expost_latents=_DEFAULT.expost_latents,
               expost_components=_DEFAULT.expost_components,
               condition=_DEFAULT.condition,
               compute_dtype=tf.float32, name=None):
    """Creates the model and all its variables.

    Args:
      image_size: height and width S; a multiple of 2**len(widths).
      channels: 4 for premultiplied RGBA, 3 for RGB.
      latent_dim: size of the global latent z1.
      widths: channels of each encoder stage, highest resolution first;
        `len(widths)` stride-2 stages leave a map of S / 2**len(widths).
      res_blocks: residual blocks per stage.
      output_convs: the decoder's 3x3 convolutions at full resolution
        (`networks.Decoder`).
      norm: "group" (group normalisation) or "none", in the encoder.
      decoder_norm: the same for the decoder; "none" keeps p(x|z) sensitive
        to the scale of z, which a per-image normalisation divides out (the
        prior's radial structure and the sampling temperature would then
        mean nothing).
      groups: channel groups of the group normalisation.
      likelihood: "logistic", "palette", "gaussian" or "bernoulli"; see
        `vae/likelihoods.py`.
      logistic_mixtures: logistic components per pixel.
      gaussian_scale: "channel" or "pixel", for the Gaussian likelihood.
      palette_size: colours per image of the palette likelihood, predicted
        from z1, besides the background.
      palette_offset: largest per-pixel nudge of a palette colour, in 8-bit
        levels, for the palette likelihood.
      prior: "normal" or "mog", the prior of z1; see `vae/priors.py`.
      prior_components: components of the "mog" prior.
      grid_size: side g of the spatial latent grid, one of the encoder's
        feature-map sizes S / 2**k, k = 1 .. len(widths); 0 for none.
      grid_channels: latent channels of the grid.
      grid_prior: "independent" draws every grid cell from p(z2_i|z1);
        "autoregressive" draws them in raster order, each given z1 and the
        cells before it (see `vae/hierarchy.py`).
      grid_temperature: the grid's sampling temperature, relative to the
        global one: p(z2|z1) is broad where z1 does not determine the detail,
        and sampling it at full width paints that uncertainty as noise (NVAE
        samples its lower groups at 0.6 to 0.8 for the same reason).
      sampler: where `sample_codes` draws from, `self.expost` (see
        `vae/samplers/`): "prior" draws z1 from p(z1) (and z2 from
        p(z2|z1)); "expost" from a density fitted to the training codes;
        "blend" between two training codes of different species; "quilt"
        z1 from that density and the grid's detail pieced from training
        sprites' blocks (`vae/samplers/quilt.py`).
      expost_latents: what the ex-post density covers: "top", z1 only (z2
        then comes from p(z2|z1)), or "all", the whole code. The conditional
        prior draws every grid cell independently given z1, which paints
        detail as uncorrelated noise; a full-covariance density over the
        whole code keeps the cells' correlations (outlines stay lines).
      expost_components: most mixture components the ex-post density may use.
      condition: "none", or "types": a conditional VAE (`vae/conditioning.py`)
        whose encoder and decoder take each sprite's types, multi-hot over
        `pipelines.types_table.TYPE_NAMES`, as `types` [B, T]: q(z|x, y),
        p(x|z, y), with the prior p(z) unconditional. Every method below that
        takes `types` reads None as zeros, "a sprite of any type", and one
        row [T] as that row for the whole batch; an unconditional model
        ignores them in the networks.
      compute_dtype: dtype of the network arithmetic (e.g. tf.bfloat16);
        variables and distributions stay float32.
      name: module name.
    """
    super().__init__(name=name)
    layers.check_positive_int("latent_dim", latent_dim)
    widths = tuple(widths)
    networks.check_geometry(image_size, channels, widths)
    check_choice("sampler", sampler, config_lib.SAMPLERS)
    check_choice("condition", condition, config_lib.CONDITIONS)
    sizes = [image_size // 2**(k + 1) for k in range(len(widths))]
    if grid_size and grid_size not in sizes:
      raise ValueError(
          f"grid_size must be 0 or one of {', '.join(map(str, sizes))} for "
          f"{len(widths)} stages at {image_size} px, got {grid_size}")
    self.image_size = image_size
    self.channels = channels
    self.latent_dim = latent_dim
    self.grid_size = grid_size
    self.grid_channels = grid_channels if grid_size else 0
    self.grid_temperature = grid_temperature
    self.condition = condition
    self.num_conditions = conditioning.num_conditions(condition)
    self.code_dim = latent_dim + grid_size * grid_size * self.grid_channels
    # The grid sits on encoder stage k's output; the decoder reaches the same
    # size after len(widths) - 1 - k of its stages.
    self._grid_stage = sizes.index(grid_size) if grid_size else None
    self._grid_top_stages = (len(widths) - 1 - self._grid_stage) if grid_size else None
    net_args = dict(image_size=image_size, channels=channels,
                    latent_dim=latent_dim, widths=widths,
                    res_blocks=res_blocks, groups=groups,
                    num_conditions=self.num_conditions, compute_dtype=compute_dtype)
    with self.name_scope:
      self.encoder = networks.Encoder(**net_args, norm=norm, name="encoder")
      self.decoder = networks.Decoder(
          **net_args, norm=decoder_norm, output_convs=output_convs,
          likelihood=likelihoods.make_likelihood(
              likelihood, channels, mixtures=logistic_mixtures,
              gaussian_scale=gaussian_scale, palette_size=palette_size,
              palette_offset=palette_offset, latent_dim=latent_dim),
          name="decoder")
      self.prior_module = priors.make_prior(
          prior, latent_dim, components=prior_components)
      if grid_size:
        self.grid = hierarchy.GridLatent(
            widths[self._grid_stage], grid_channels, prior=grid_prior,
            compute_dtype=compute_dtype, name="grid")
    self.use_sampler(sampler, expost_latents, expost_components)

  def use_sampler(self, kind, latents="top", components=16):
    """Gives the model a new, unfitted sampler `self.expost` of `kind` (`samplers.KINDS`).

    `latents` ("top" or "all") and `components` apply to the "expost" mixture.
    """
    check_choice("sampler", kind, samplers.KINDS)
    check_choice("expost_latents", latents, config_lib.EXPOST_LATENTS)
    with self.name_scope:
      self.expost = samplers.make(kind, latent_dim=self.latent_dim, code_dim=self.code_dim,
                                  latents=latents, components=components)

  @property
  def sampler(self):
    """The kind of the model's sampler: "prior", "expost", "blend" or "quilt"."""
    return self.expost.kind

  @property
  def sampler_name(self):
    """Where `sample` draws from, in words (for reports and generate.json)."""
    return self.expost.words(self)

  @property
  def image_shape(self):
    """(S, S, C), the event shape of p(x|z)."""
    return (self.image_size, self.image_size, self.channels)

  def _split(self, code):
    """(z1 [B, latent_dim], z2 [B, g, g, c] or None) of flat codes."""
    z1 = code[:, :self.latent_dim]
    if not self.grid_size:
      return z1, None
    g = self.grid_size
    return z1, tf.reshape(code[:, self.latent_dim:], [-1, g, g, self.grid_channels])

  def _join(self, z1, z2):
    if z2 is None:
      return z1
    return tf.concat([z1, tf.reshape(z2, [tf.shape(z2)[0], -1])], axis=-1)

  @property
  def conditional(self):
    """Whether the encoder and decoder take the sprites' types (`condition` "types")."""
    return bool(self.num_conditions)

  def encode(self, x, types=None):
    """q(code|x) (q(code|x, types)) for images x [B, S, S, C] in [0, 1], event_shape [code_dim].

    With a grid, q(z2|x, z1) is taken at z1 = the mean of q(z1|x): the
    returned distribution is what `mean()` and `stddev()` of a code need
    (interpolation, export), not the joint posterior; `infer` draws from that.
    """
    posterior, features = self.encoder.with_features(x, types)
    if not self.grid_size:
      return posterior
    h = self.decoder.top(posterior.mean(), self._grid_top_stages, types)
    grid_posterior = self.grid.posterior(h, features[self._grid_stage]).distribution
    batch = tf.shape(x)[0]
    loc = tf.concat([posterior.mean(), tf.reshape(grid_posterior.loc, [batch, -1])], -1)
    scale = tf.concat([posterior.stddev(),
                       tf.reshape(grid_posterior.scale, [batch, -1])], -1)
    return tfd.Independent(tfd.Normal(loc, scale), reinterpreted_batch_ndims=1,
                           name="posterior")

  def infer(self, x, noise, types=None):
    """One reparameterised draw from the posterior, and what the bounds need.

    Args:
      x: images [B, S, S, C] in [0, 1].
      noise: standard normal draws [B, code_dim].
      types: the images' condition [B, T] (see `__init__`'s `condition`).

    Returns:
      A dict: "code" [B, code_dim]; "likelihood" p(x|code); "rate_per_dim"
      [B, code_dim], the rate's terms (analytic KL per dimension for normal
      priors, see `priors.rate_per_dim` for the mixture); "log_q" and
      "log_p", log q(code|x) and log p(code) [B] at the draw.
    """
    posterior, features = self.encoder.with_features(x, types)
    z1 = posterior.mean() + posterior.stddev() * noise[:, :self.latent_dim]
    prior = self.prior()
    rate = priors.rate_per_dim(posterior, prior, z1)
    log_q = posterior.log_prob(z1)
    log_p = prior.log_prob(z1)
    if not self.grid_size:
      return dict(code=z1, likelihood=self.decoder(z1, types), rate_per_dim=rate,
                  log_q=log_q, log_p=log_p)
    h = self.decoder.top(z1, self._grid_top_stages, types)
    grid_posterior = self.grid.posterior(h, features[self._grid_stage])
    _, eps = self._split(noise)
    q2 = grid_posterior.distribution
    z2 = q2.loc + q2.scale * eps
    # An autoregressive prior's factors are those given the draw's own
    # earlier cells: the KL is analytic per cell given them.
    grid_prior = self.grid.prior(h, z2)
    grid_rate = tfd.kl_divergence(q2, grid_prior.distribution)
    batch = tf.shape(x)[0]
    likelihood = self.decoder.bottom(self.grid.inject(h, z2), self._grid_top_stages, z1)
    return dict(code=self._join(z1, z2), likelihood=likelihood,
                rate_per_dim=tf.concat([rate, tf.reshape(grid_rate, [batch, -1])], -1),
                log_q=log_q + grid_posterior.log_prob(z2),
                log_p=log_p + grid_prior.log_prob(z2))

  def decode(self, code, types=None):
    """Returns p(x|code) (p(x|code, types)) for codes [B, code_dim]."""
    z1, z2 = self._split(code)
    if z2 is None:
      return self.decoder(z1, types)
    h = self.decoder.top(z1, self._grid_top_stages, types)
    return self.decoder.bottom(self.grid.inject(h, z2), self._grid_top_stages, z1)

  def prior(self, temperature=1.0):
    """Returns p(z1), event_shape [latent_dim]; see `vae/priors.py`."""
    return self.prior_module(temperature)

  def render(self, code, types=None):
    """Images [B, S, S, C] in [0, 1] that p(x|code) (p(x|code, types)) stands for.

    The most probable level of each channel for the logistic likelihood
    (see `LogisticLikelihood.render`), each pixel's most probable palette
    colour for the palette likelihood, the mean for the others.
    """
    return self.decoder.likelihood.render(self.decode(code, types))

  def image(self, code, types=None):
    """A differentiable stand-in for `render(code, types)` (the likelihood's `image`)."""
    return self.decoder.likelihood.image(self.decode(code, types))

  def split_code(self, code):
    """(z1 [B, latent_dim], z2 [B, g, g, c] or None) of flat codes [B, code_dim]."""
    return self._split(code)

  def join_code(self, z1, z2):
    """Flat codes [B, code_dim] of z1 and the grid z2 (None without a grid)."""
    return self._join(z1, z2)

  def grid_given(self, z1, temperature=1.0, seed=None, types=None):
    """A grid z2 [B, g, g, c] drawn from p(z2|z1) (p(z2|z1, types)) at `temperature`;
    None without a grid."""
    if not self.grid_size:
      return None
    h = self.decoder.top(z1, self._grid_top_stages, types)
    return self.grid.sample(h, temperature, seed=seed)

  def grid_centre(self, z1, types=None):
    """The location of p(z2|z1) that depends on z1 (and types) alone [B, g, g, c]: what a
    grid's detail deviates from."""
    return self.grid.prior_mean(self.decoder.top(z1, self._grid_top_stages, types))

  def reconstruct(self, x, types=None):
    """Renders the decoding of the posterior mean of x (given the images' `types`)."""
    return self.render(self.encode(x, types).mean(), types)

  def sample_codes(self, n, temperature=1.0, seed=None, sampler=None, types=None):
    """Draws n codes from the model's sampler, `self.expost` (see `vae/samplers/`).

    Args:
      n: number of codes.
      temperature: multiplies the scales of every level (the component
        scales of a mixture; the grid's times `grid_temperature`); below 1
        trades variety for cleaner images. The blend sampler takes none.
      seed: a stateless seed (pair of ints or int32 [2] tensor), an int, or
        None, as TFP takes it.
      sampler: "prior" draws from the prior whatever the model's sampler;
        another kind must be the model's own.
      types: None, or multi-hot float [T] over `pipelines.types_table.TYPE_NAMES`:
        codes of sprites of those types, from a sampler that `holds_types`
        (any sampler of a conditional model, which decodes them with `types`).

    Returns:
      Codes [n, code_dim].
    """
    return self.sample_conditioned(n, temperature, seed, sampler, types)[0]

  def sample_conditioned(self, n, temperature=1.0, seed=None, sampler=None, types=None):
    """`sample_codes`, and the condition [n, T] each code is decoded with (None for an
    unconditional model): `types` for every code where given, else the sampler's
    (`Sampler.sample_conditioned`)."""
    if sampler == "prior":
      chosen = samplers.prior.PriorSampler()
    elif sampler in (None, self.sampler):
      chosen = self.expost
    else:
      raise ValueError(f"sampler {sampler!r} needs a model built with sampler={sampler!r}")
    if types is not None and not self.conditional:
      _check_holds_types(chosen)
    return chosen.sample_conditioned(self, n, temperature, seed, types=types)

  def full_length_detail(self, codes, shares, types=None):
    """Blended codes [B, code_dim] with the grid's deviation from `grid_centre` rescaled by
    1 / sqrt(sum of the shares squared), `shares` [B, k] each blend's parents' shares
    (two parents a share t of the way from one to the other: [1 - t, t]).

    A posterior grid is the prior's mean given z1 plus a deviation that
    carries the sprite's detail. Two parents' deviations mostly disagree, so
    their blend (1 - t) d_i + t d_j is shorter than either, by about
    sqrt((1 - t)^2 + t^2) (0.71 at t = 0.5; k equal shares, 1 / sqrt(k)), and
    the decoder draws a short deviation as blur. Scaled back by that factor, about the grid prior's
    mean at the blended z1, the blend keeps its parents' contrast: the reason
    slerp is preferred to a straight line between Gaussian codes (White 2016,
    "Sampling Generative Networks"). Its effect on the samples' sharpness is
    in bench/README.md, section 11. `types` [B, T] are the blends' conditions,
    for a conditional model.
    """
    if not self.grid_size:
      return codes
    z1, z2 = self._split(codes)
    centre = self.grid_centre(z1, types)
    shrink = tf.sqrt(tf.reduce_sum(shares**2, 1, keepdims=True))[:, :, None, None]
    return self._join(z1, centre + (z2 - centre) / shrink)

  def restyle_codes(self, code, n, types, own_types=None):
    """Up to n codes of the sprite with code `code` [code_dim] restyled toward `types`
    [T] multi-hot: blended with its nearest training codes of those types, one per
    species (`BlendSampler.toward`), the grid's detail kept at full length.

    A conditional model decodes them given `types` (`restyle`). Its first code is
    the sprite's own, encoded given `own_types` [T] (None: unknown) and moved to
    the new condition (`recondition`): restyled by the condition alone; the
    blends start from that code. Without a sampler that holds types it gives
    that one code.
    """
    if not self.conditional:
      _check_holds_types(self.expost)
    own = self.recondition(tf.reshape(tf.cast(code, tf.float32), [1, -1]), own_types, types)
    if not self.expost.holds_types:
      return own
    codes, t = self.expost.toward(own[0], n - 1 if self.conditional else n, types)
    codes = self.full_length_detail(codes, samplers.blend.shares(t), types)
    return tf.concat([own, codes], 0) if self.conditional else codes

  def recondition(self, code, own_types, types):
    """Codes [B, code_dim] encoded given `own_types` moved to the condition `types`: the
    grid's deviation from its centre given z1 and the own types (`grid_centre`), which
    carries the sprite's detail, is kept, about the centre given z1 and the new types.

    The grid's posterior is a shift of its prior's location (`vae/hierarchy.py`), so a
    grid kept as it is would keep what the old condition's prior put there (the
    colours of the old type); decoding this code given `types` restyles the sprite.
    An unconditional model's codes are returned as they are.
    """
    if not (self.conditional and self.grid_size):
      return code
    z1, z2 = self._split(code)
    return self._join(z1, self.grid_centre(z1, types) + z2 - self.grid_centre(z1, own_types))

  def restyle(self, image, n, types, own_types=None):
    """Renders `restyle_codes` of `image` [1, S, S, C] (encoded given `own_types` [T],
    None for unknown), decoded given `types` [T]: images [m, S, S, C], m <= n."""
    codes = self.restyle_codes(self.encode(image, own_types).mean()[0], n, types, own_types)
    return self.render(codes, types if self.conditional else None)

  def sample(self, n, temperature=1.0, seed=None, sampler=None, types=None):
    """Renders n codes from `sample_codes` (given their conditions, `sample_conditioned`):
    images [n, S, S, C] in [0, 1]."""
    return self.render(*self.sample_conditioned(n, temperature, seed, sampler, types))


def _check_holds_types(sampler):
  """ValueError unless `sampler` can draw codes of chosen types."""
  if not sampler.holds_types:
    raise ValueError(f"the {sampler.kind} sampler of this model holds no types: fit a blend "
                     "sampler on training data with a types table")
