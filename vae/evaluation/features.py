"""A fixed feature space for sample-quality metrics, with nothing to download.

Naeem et al. 2020 ("Reliable Fidelity and Diversity Metrics for Generative
Models", Section 5) found embeddings of a randomly initialised, untrained
convnet reliable for precision, recall, density and coverage. Sprites are far
from ImageNet photographs, so a pretrained Inception would not suit them much
better, and a random net costs no weights file: it is rebuilt bit for bit from
a seed.

Images are composited on `metrics.BACKGROUND`, resized to 64 x 64 so that
sprites of any size land in the same space, and passed through four stride-2
3x3 convolutions with ReLU (widths 32, 64, 128, 256, He initialisation). The
512 features are the global average of the last layer (256, what is drawn)
beside a 2x2 average of the second layer (4 x 64, where it is drawn).
"""

import numpy as np
import tensorflow as tf

from vae.evaluation import metrics

EMBED_SIZE = 64
WIDTHS = (32, 64, 128, 256)
SEED = 2020


class RandomConvFeatures(tf.Module):
  """A seeded random convnet: constants only, no trainable variables."""

  def __init__(self, seed=SEED, name=None):
    super().__init__(name=name)
    # RandomState, not Generator: NumPy guarantees its stream never changes
    # between versions, so the weights are the same on every machine.
    rng = np.random.RandomState(seed)
    self._kernels = []
    channels = 3
    for width in WIDTHS:
      fan_in = 3 * 3 * channels
      # He et al. 2015 scaling keeps activations of a ReLU net at one scale
      # from layer to layer, so no layer's features dominate.
      kernel = rng.standard_normal((3, 3, channels, width)) * np.sqrt(2 / fan_in)
      self._kernels.append(tf.constant(kernel, tf.float32))
      channels = width
    self.dim = WIDTHS[-1] + 4 * WIDTHS[1]

  @tf.function(input_signature=[
      tf.TensorSpec([None, EMBED_SIZE, EMBED_SIZE, 3], tf.float32)])
  def __call__(self, rgb):
    """Maps [N, 64, 64, 3] composited RGB in [0, 1] to [N, 512] features."""
    # Centred on the background and without biases, an empty canvas is the
    # zero vector: features describe the sprite, never the canvas.
    x = (rgb - tf.constant(metrics.BACKGROUND, tf.float32)) * 2.0
    layers = []
    for kernel in self._kernels:
      x = tf.nn.relu(tf.nn.conv2d(x, kernel, strides=2, padding="SAME"))
      layers.append(x)
    spatial = tf.nn.avg_pool2d(layers[1], ksize=8, strides=8, padding="VALID")
    return tf.concat([
        tf.reduce_mean(layers[-1], axis=[1, 2]),
        tf.reshape(spatial, [-1, 4 * WIDTHS[1]]),
    ], axis=1)


_default_net = None


def embed(images, batch_size=256):
  """Embeds sprites in the project's fixed feature space.

  Args:
    images: float [N, S, S, C] in [0, 1], C = 4 premultiplied RGBA or C = 3
      RGB, any square size S (32, 64, 96 and 128 in this project).
    batch_size: images per network call.

  Returns:
    float32 array [N, 512].
  """
  global _default_net
  if _default_net is None:
    _default_net = RandomConvFeatures()
  return embed_with(_default_net, images, batch_size)


def embed_with(net, images, batch_size=256):
  """`embed` with a given `RandomConvFeatures`."""
  rgb = metrics.composite(images)
  if rgb.shape[1] != rgb.shape[2]:
    raise ValueError(f"images must be square, got {rgb.shape}")
  out = [np.zeros((0, net.dim), np.float32)]
  for start in range(0, len(rgb), batch_size):
    batch = tf.constant(rgb[start:start + batch_size])
    if batch.shape[1] != EMBED_SIZE:
      # Antialiased, so a 128 px sprite is averaged rather than decimated and
      # lands beside its 64 px rendering.
      batch = tf.image.resize(batch, [EMBED_SIZE, EMBED_SIZE], antialias=True)
    out.append(net(batch).numpy())
  return np.concatenate(out)
