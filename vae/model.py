"""The variational autoencoder (Kingma & Welling 2014; Rezende et al. 2014).

`VAE` ties an encoder q(z|x), a decoder p(x|z) and a prior p(z) together;
each of `encode`, `decode` and `prior` returns a `tfd.Distribution`, and the
objectives built from them live in `vae/objectives.py`.

Defaults are sized for 64x64 RGBA sprites trained for about 20 minutes on a
2-core CPU, where a lean network that sees more epochs beats a wide one
that sees few. See `DEFAULT_WIDTHS`.
"""

import tensorflow as tf
import tensorflow_probability as tfp

from vae import expost
from vae import hierarchy
from vae import layers
from vae import likelihoods
from vae import networks
from vae import priors

tfd = tfp.distributions

SAMPLERS = ("prior", "expost")

# Four stride-2 stages take 64x64 to 4x4. At 64x64x4 with the logistic
# likelihood this is 667,784 parameters (60% of them in the two linear maps
# to and from z) and 26.9 MFLOPs per image for encode, sample, decode and
# log_prob (9.1M of them in the encoder), counted by
# tf.compat.v1.profiler on the traced graph and matching the 25.8M of the
# convolutions and linear maps counted by hand. A training step runs at
# about 450-550 images/s on 2 CPU cores; doubling every width costs 2.5x
# the time for a model that would see 2.5x fewer epochs of ~1,240 sprites.
DEFAULT_WIDTHS = (16, 32, 64, 128)
DEFAULT_LATENT_DIM = 64


class VAE(tf.Module):
  """Convolutional VAE for square 8-bit images in [0, 1].

  With `grid_size` 0 the latent is one global vector z of `latent_dim`. With
  a grid it is two-level (`vae/hierarchy.py`): the global z1 of `latent_dim`
  and a spatial z2 of `grid_size` x `grid_size` x `grid_channels` under the
  conditional prior p(z2|z1). Either way the methods below speak of one flat
  *code* per image, z1 followed by z2 flattened, of size `code_dim`: what
  `encode(x).mean()` returns and `decode` and `render` take.
  """

  def __init__(self, *, image_size=64, channels=4,
               latent_dim=DEFAULT_LATENT_DIM, widths=DEFAULT_WIDTHS,
               res_blocks=0, norm="group", decoder_norm="none", groups=8,
               likelihood="logistic", logistic_mixtures=1,
               gaussian_scale="channel", prior="normal", prior_components=16,
               grid_size=0, grid_channels=4, grid_temperature=1.0,
               sampler="prior", expost_components=16, compute_dtype=tf.float32,
               name=None):
    """Creates the model and all its variables.

    Args:
      image_size: height and width S; a multiple of 2**len(widths).
      channels: 4 for premultiplied RGBA, 3 for RGB.
      latent_dim: size of the global latent z1.
      widths: channels of each encoder stage, highest resolution first;
        `len(widths)` stride-2 stages leave a map of S / 2**len(widths).
      res_blocks: residual blocks per stage.
      norm: "group" (group normalisation) or "none", in the encoder.
      decoder_norm: the same for the decoder; "none" keeps p(x|z) sensitive
        to the scale of z, which a per-image normalisation divides out (the
        prior's radial structure and the sampling temperature would then
        mean nothing).
      groups: channel groups of the group normalisation.
      likelihood: "logistic", "gaussian" or "bernoulli"; see
        `vae/likelihoods.py`.
      logistic_mixtures: logistic components per pixel.
      gaussian_scale: "channel" or "pixel", for the Gaussian likelihood.
      prior: "normal" or "mog", the prior of z1; see `vae/priors.py`.
      prior_components: components of the "mog" prior.
      grid_size: side g of the spatial latent grid, one of the encoder's
        feature-map sizes S / 2**k, k = 1 .. len(widths); 0 for none.
      grid_channels: latent channels of the grid.
      grid_temperature: the grid's sampling temperature, relative to the
        global one: p(z2|z1) is broad where z1 does not determine the detail,
        and sampling it at full width paints that uncertainty as noise (NVAE
        samples its lower groups at 0.6 to 0.8 for the same reason).
      sampler: "prior" draws z1 from p(z1); "expost" from the ex-post
        density fitted to the training codes (`vae/expost.py`), which then
        exists as variables of the model.
      expost_components: most mixture components the ex-post density may use.
      compute_dtype: dtype of the network arithmetic (e.g. tf.bfloat16);
        variables and distributions stay float32.
      name: module name.
    """
    super().__init__(name=name)
    layers.check_positive_int("latent_dim", latent_dim)
    widths = tuple(widths)
    networks.check_geometry(image_size, channels, widths)
    if sampler not in SAMPLERS:
      raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
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
    self.sampler = sampler
    self.grid_temperature = grid_temperature
    self.code_dim = latent_dim + grid_size * grid_size * self.grid_channels
    # The grid sits on encoder stage k's output; the decoder reaches the same
    # size after len(widths) - 1 - k of its stages.
    self._grid_stage = sizes.index(grid_size) if grid_size else None
    self._grid_top_stages = (len(widths) - 1 - self._grid_stage) if grid_size else None
    net_args = dict(image_size=image_size, channels=channels,
                    latent_dim=latent_dim, widths=widths,
                    res_blocks=res_blocks, groups=groups,
                    compute_dtype=compute_dtype)
    with self.name_scope:
      self.encoder = networks.Encoder(**net_args, norm=norm, name="encoder")
      self.decoder = networks.Decoder(
          **net_args, norm=decoder_norm,
          likelihood=likelihoods.make_likelihood(
              likelihood, channels, mixtures=logistic_mixtures,
              gaussian_scale=gaussian_scale),
          name="decoder")
      self.prior_module = priors.make_prior(
          prior, latent_dim, components=prior_components)
      if grid_size:
        self.grid = hierarchy.GridLatent(
            widths[self._grid_stage], grid_channels,
            compute_dtype=compute_dtype, name="grid")
      if sampler == "expost":
        self.expost = expost.ExPostDensity(latent_dim, expost_components,
                                           name="expost")

  @classmethod
  def from_config(cls, config, compute_dtype=None):
    """The model a `vae.config.Config` describes."""
    if compute_dtype is None:
      compute_dtype = tf.float16 if config.mixed_precision else tf.float32
    return cls(
        image_size=config.image_size, channels=config.channels,
        latent_dim=config.latent_dim, widths=tuple(config.widths),
        res_blocks=config.res_blocks, norm=config.norm,
        decoder_norm=config.decoder_norm,
        likelihood=config.likelihood, logistic_mixtures=config.logistic_mixtures,
        prior=config.prior,
        prior_components=config.prior_components, grid_size=config.grid_size,
        grid_channels=config.grid_channels,
        grid_temperature=config.grid_temperature, sampler=config.sampler,
        expost_components=config.expost_components,
        compute_dtype=compute_dtype, name="vae")

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

  def encode(self, x):
    """q(code|x) for images x [B, S, S, C] in [0, 1], event_shape [code_dim].

    With a grid, q(z2|x, z1) is taken at z1 = the mean of q(z1|x): the
    returned distribution is what `mean()` and `stddev()` of a code need
    (interpolation, export), not the joint posterior; `infer` draws from that.
    """
    posterior, features = self.encoder.with_features(x)
    if not self.grid_size:
      return posterior
    h = self.decoder.top(posterior.mean(), self._grid_top_stages)
    grid_posterior = self.grid.posterior(
        h, features[self._grid_stage], self.grid.prior(h)).distribution
    batch = tf.shape(x)[0]
    loc = tf.concat([posterior.mean(), tf.reshape(grid_posterior.loc, [batch, -1])], -1)
    scale = tf.concat([posterior.stddev(),
                       tf.reshape(grid_posterior.scale, [batch, -1])], -1)
    return tfd.Independent(tfd.Normal(loc, scale), reinterpreted_batch_ndims=1,
                           name="posterior")

  def infer(self, x, noise):
    """One reparameterised draw from the posterior, and what the bounds need.

    Args:
      x: images [B, S, S, C] in [0, 1].
      noise: standard normal draws [B, code_dim].

    Returns:
      A dict: "code" [B, code_dim]; "likelihood" p(x|code); "rate_per_dim"
      [B, code_dim], the rate's terms (analytic KL per dimension for normal
      priors, see `priors.rate_per_dim` for the mixture); "log_q" and
      "log_p", log q(code|x) and log p(code) [B] at the draw.
    """
    posterior, features = self.encoder.with_features(x)
    z1 = posterior.mean() + posterior.stddev() * noise[:, :self.latent_dim]
    prior = self.prior()
    rate = priors.rate_per_dim(posterior, prior, z1)
    log_q = posterior.log_prob(z1)
    log_p = prior.log_prob(z1)
    if not self.grid_size:
      return dict(code=z1, likelihood=self.decoder(z1), rate_per_dim=rate,
                  log_q=log_q, log_p=log_p)
    h = self.decoder.top(z1, self._grid_top_stages)
    grid_prior = self.grid.prior(h)
    grid_posterior = self.grid.posterior(h, features[self._grid_stage], grid_prior)
    _, eps = self._split(noise)
    q2 = grid_posterior.distribution
    z2 = q2.loc + q2.scale * eps
    grid_rate = tfd.kl_divergence(q2, grid_prior.distribution)
    batch = tf.shape(x)[0]
    likelihood = self.decoder.bottom(self.grid.inject(h, z2), self._grid_top_stages)
    return dict(code=self._join(z1, z2), likelihood=likelihood,
                rate_per_dim=tf.concat([rate, tf.reshape(grid_rate, [batch, -1])], -1),
                log_q=log_q + grid_posterior.log_prob(z2),
                log_p=log_p + grid_prior.log_prob(z2))

  def decode(self, code):
    """Returns p(x|code) for codes [B, code_dim]."""
    z1, z2 = self._split(code)
    if z2 is None:
      return self.decoder(z1)
    h = self.decoder.top(z1, self._grid_top_stages)
    return self.decoder.bottom(self.grid.inject(h, z2), self._grid_top_stages)

  def prior(self, temperature=1.0):
    """Returns p(z1), event_shape [latent_dim]; see `vae/priors.py`."""
    return self.prior_module(temperature)

  def render(self, code):
    """Images [B, S, S, C] in [0, 1] that p(x|code) stands for.

    The most probable level of each channel for the logistic likelihood
    (see `LogisticLikelihood.render`), the mean for the others.
    """
    return self.decoder.likelihood.render(self.decode(code))

  def reconstruct(self, x):
    """Renders the decoding of the posterior mean of x."""
    return self.render(self.encode(x).mean())

  def sample_codes(self, n, temperature=1.0, seed=None, sampler=None):
    """Draws n codes: z1 from the sampler, then z2 from p(z2|z1).

    Args:
      n: number of codes.
      temperature: multiplies the scales of every level (the component
        scales of a mixture; the grid's times `grid_temperature`); below 1
        trades variety for cleaner images.
      seed: a stateless seed (pair of ints or int32 [2] tensor), an int, or
        None, as TFP takes it.
      sampler: "prior" or "expost"; default the model's own.

    Returns:
      Codes [n, code_dim].
    """
    sampler = sampler or self.sampler
    top_seed, grid_seed = tfp.random.split_seed(seed, n=2)
    if sampler == "expost":
      if not hasattr(self, "expost"):
        raise ValueError("sampler 'expost' needs a model built with sampler='expost'")
      z1 = self.expost(temperature).sample(n, seed=top_seed)
    else:
      z1 = self.prior(temperature).sample(n, seed=top_seed)
    if not self.grid_size:
      return z1
    h = self.decoder.top(z1, self._grid_top_stages)
    z2 = self.grid.prior(h, temperature * self.grid_temperature).sample(seed=grid_seed)
    return self._join(z1, z2)

  def sample(self, n, temperature=1.0, seed=None, sampler=None):
    """Renders n codes from `sample_codes`: images [n, S, S, C] in [0, 1]."""
    return self.render(self.sample_codes(n, temperature, seed, sampler))
