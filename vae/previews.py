"""Picture grids of what a model does: held-out sprites, reconstructions, samples."""

import numpy as np

import pipelines


def preview_grid(model, images, z, channels, scale=2):
  """One uint8 image: `images`, their reconstructions, then `render(z)`, a row each.

  Args:
    model: a `vae.VAE`.
    images: float [N, S, S, C] in [0, 1] (held-out sprites).
    z: latent codes [N, latent_dim] to render as samples.
    channels: 3 or 4, the data's channels.
    scale: nearest-neighbour upscaling, so pixels stay crisp.
  """
  rows = [np.asarray(images), np.asarray(model.reconstruct(images)),
          np.asarray(model.render(z))]
  shown = [pipelines.to_display_uint8(r, channels) for r in rows]
  return pipelines.image_grid(np.concatenate(shown), ncols=len(images), scale=scale)
