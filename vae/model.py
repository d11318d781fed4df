"""The variational autoencoder (Kingma & Welling 2014; Rezende et al. 2014).

`VAE` ties an encoder q(z|x), a decoder p(x|z) and a prior p(z) together;
each of `encode`, `decode` and `prior` returns a `tfd.Distribution`, and the
objectives built from them live in `vae/objectives.py`. `VAE.from_config`
builds the model a `vae.config.Config` describes; the keyword defaults are
that config's defaults (see `vae/config.py`, where they are written once).
"""

import tensorflow as tf

from vae import config as config_lib
from vae import layers
from vae import likelihoods
from vae import networks
from vae import priors

_DEFAULT = config_lib.Config()


class VAE(tf.Module):
  """Convolutional VAE for square 8-bit images in [0, 1]."""

  @classmethod
  def from_config(cls, config, compute_dtype=None, name="vae"):
    """The model `config` (a `vae.config.Config`) describes, in the current strategy scope.

    `compute_dtype` defaults to float16 with `config.mixed_precision`, else float32.
    """
    if compute_dtype is None:
      compute_dtype = tf.float16 if config.mixed_precision else tf.float32
    return cls(image_size=config.data.image_size, channels=config.data.channels,
               latent_dim=config.latent_dim, widths=config.widths,
               res_blocks=config.res_blocks, norm=config.norm, decoder_norm=config.decoder_norm,
               likelihood=config.likelihood, logistic_mixtures=config.logistic_mixtures,
               prior=config.prior, prior_components=config.prior_components,
               compute_dtype=compute_dtype, name=name)

  def __init__(self, *, image_size=_DEFAULT.data.image_size, channels=_DEFAULT.data.channels,
               latent_dim=_DEFAULT.latent_dim, widths=_DEFAULT.widths,
               res_blocks=_DEFAULT.res_blocks, norm=_DEFAULT.norm,
               decoder_norm=_DEFAULT.decoder_norm, groups=8,
               likelihood=_DEFAULT.likelihood,
               logistic_mixtures=_DEFAULT.logistic_mixtures, gaussian_scale="channel",
               prior=_DEFAULT.prior, prior_components=_DEFAULT.prior_components,
               compute_dtype=tf.float32, name=None):
    """Creates the model and all its variables.

    Args:
      image_size: height and width S; a multiple of 2**len(widths).
      channels: 4 for premultiplied RGBA, 3 for RGB.
      latent_dim: size of z.
      widths: channels of each encoder stage, highest resolution first;
        `len(widths)` stride-2 stages leave a map of S / 2**len(widths).
      res_blocks: residual blocks per stage.
      norm: "group" (group normalisation) or "none", in the encoder.
      decoder_norm: the same for the decoder; "none" by default because a
        per-image normalisation there makes p(x|z) blind to the scale of z
        (it divides it out), so the prior's radial structure and sampling
        temperature would mean nothing. Measured with group norm in the
        decoder: samples at temperature 0.6 and 1.0 looked the same.
      groups: channel groups of the group normalisation.
      likelihood: "logistic", "gaussian" or "bernoulli"; see
        `vae/likelihoods.py`.
      logistic_mixtures: logistic components per pixel.
      gaussian_scale: "channel" or "pixel", for the Gaussian likelihood.
      prior: "normal" or "mog"; see `vae/priors.py`.
      prior_components: components of the "mog" prior.
      compute_dtype: dtype of the network arithmetic (e.g. tf.bfloat16);
        variables and distributions stay float32.
      name: module name.
    """
    super().__init__(name=name)
    layers.check_positive_int("latent_dim", latent_dim)
    widths = tuple(widths)
    networks.check_geometry(image_size, channels, widths)
    self.image_size = image_size
    self.channels = channels
    self.latent_dim = latent_dim
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

  @property
  def image_shape(self):
    """(S, S, C), the event shape of p(x|z)."""
    return (self.image_size, self.image_size, self.channels)

  def encode(self, x):
    """Returns q(z|x) for images x [B, S, S, C] in [0, 1]."""
    return self.encoder(x)

  def decode(self, z):
    """Returns p(x|z) for latents z [B, latent_dim]."""
    return self.decoder(z)

  def prior(self, temperature=1.0):
    """Returns p(z), event_shape [latent_dim]; see `vae/priors.py`."""
    return self.prior_module(temperature)

  def render(self, z):
    """Images [B, S, S, C] in [0, 1] that p(x|z) stands for.

    The most probable level of each channel for the logistic likelihood
    (see `LogisticLikelihood.render`), the mean for the others.
    """
    return self.decoder.likelihood.render(self.decode(z))

  def reconstruct(self, x):
    """Renders the decoding of the posterior mean of x."""
    return self.render(self.encode(x).mean())

  def sample(self, n, temperature=1.0, seed=None):
    """Renders n latents drawn from the prior at `temperature`.

    Args:
      n: number of images.
      temperature: multiplies the prior's scale (the component scales of a
        mixture prior); below 1 trades variety for cleaner images.
      seed: a stateless seed (pair of ints or int32 [2] tensor), an int, or
        None, as TFP takes it.

    Returns:
      Images [n, S, S, C] in [0, 1].
    """
    return self.render(self.prior(temperature).sample(n, seed=seed))
