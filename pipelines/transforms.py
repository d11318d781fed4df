"""TensorFlow transforms of batches of premultiplied RGBA uint8 sprites.

The training augmentations (flip, shift, hue rotation) and the composite
over a background colour for 3-channel data. All of them take and return
uint8, so every value the model sees stays an exact k/255. They work on
whole batches [B, S, S, 4], each image with its own random draw: one
vectorised op per batch is several times faster in tf.data than one per image.

Working in premultiplied alpha keeps colour inside the sprite: a shift fills
with (0, 0, 0, 0), which is "transparent" and nothing else; the hue rotation
is linear in colour, so rotating rgb * alpha equals rotating rgb, and the
result is clipped to rgb <= alpha before it is rounded back to integers.
"""

import math

import tensorflow as tf

from pipelines import display


def augment(images, seed, *, flip=True, translate=0, hue=False):
  """Randomly flips, shifts and hue-rotates each sprite of a batch.

  Args:
    images: [B, S, S, 4] uint8, premultiplied alpha.
    seed: [2] int tensor; the same seed gives the same result.
    flip: Mirror left-right with probability 1/2.
    translate: Shift by whole pixels, up to this many each way, per axis.
    hue: With probability 1/2, rotate the hue by a uniform random angle.

  Returns:
    [B, S, S, 4] uint8, premultiplied alpha.
  """
  count = tf.shape(images)[0]
  flip_seed, shift_seed, coin_seed, angle_seed = tf.unstack(
      tf.random.experimental.stateless_split(seed, 4))
  if flip or translate:
    mirrored = tf.random.stateless_uniform([count], flip_seed) < 0.5
    shifts = tf.random.stateless_uniform(
        [count, 2], shift_seed, minval=-translate, maxval=translate + 1, dtype=tf.int32)
    images = flip_and_shift(images, mirrored & flip, shifts)
  if hue:
    rotate = tf.cast(tf.random.stateless_uniform([count], coin_seed) < 0.5, tf.float32)
    angles = tf.random.stateless_uniform([count], angle_seed, -math.pi, math.pi)
    images = rotate_hue(images, rotate * angles)
  return images


def flip_and_shift(images, mirrored, shifts):
  """Mirrors some images left-right, then moves each by whole pixels.

  Vacated pixels are transparent (all zero). Both steps are one gather of
  rows and one of columns from a zero-padded copy: exact copies of pixels,
  and faster on CPU than a per-image `tf.where` or a projective transform.

  Args:
    images: [B, H, W, C] uint8.
    mirrored: [B] bool, which images to mirror.
    shifts: [B, 2] int, (dx, dy) per image: right and down are positive.
  """
  pad = tf.reduce_max(tf.abs(shifts))
  height, width = tf.shape(images)[1], tf.shape(images)[2]
  # Output pixel (x, y) comes from the (mirrored) input at (x - dx, y - dy).
  columns = tf.range(width)[None] - shifts[:, :1]
  columns = tf.where(mirrored[:, None], width - 1 - columns, columns) + pad
  rows = tf.range(height)[None] - shifts[:, 1:] + pad
  padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
  picked = tf.gather(padded, rows, axis=1, batch_dims=1)
  return tf.gather(picked, columns, axis=2, batch_dims=1)


def rotate_hue(images, angles):
  """Rotates colours about the grey axis, by `angles[i]` radians for image i.

  Args:
    images: [B, H, W, 4] uint8, premultiplied alpha.
    angles: [B] float.
  """
  rgb = tf.cast(images[..., :3], tf.float32)
  alpha = images[..., 3:]
  rotated = tf.einsum("bhwc,bdc->bhwd", rgb, hue_rotation_matrix(angles))
  rotated = tf.clip_by_value(tf.round(rotated), 0.0, tf.cast(alpha, tf.float32))
  return tf.concat([tf.cast(rotated, tf.uint8), alpha], axis=-1)


def hue_rotation_matrix(angles):
  """[..., 3, 3] rotations about the grey axis (1, 1, 1) / sqrt(3): Rodrigues' formula.

  Greys stay grey and saturation is preserved, hues move round the colour
  wheel; colours pushed outside the RGB cube are clipped by the caller.
  """
  angles = tf.convert_to_tensor(angles, tf.float32)
  cos, sin = tf.cos(angles), tf.sin(angles)
  same = cos + (1.0 - cos) / 3.0
  behind = (1.0 - cos) / 3.0 - sin / math.sqrt(3.0)
  ahead = (1.0 - cos) / 3.0 + sin / math.sqrt(3.0)
  rows = [[same, behind, ahead], [ahead, same, behind], [behind, ahead, same]]
  return tf.stack([tf.stack(row, -1) for row in rows], -2)


def over_background(images, rgb):
  """Composites premultiplied RGBA uint8 over an opaque colour -> RGB uint8.

  `display.composite` in 8-bit units, rounded: c + (1 - a / 255) * background
  is an integer plus a multiple of 1/255, never within float32 rounding of a
  half, so the result is the exactly rounded one; with c <= a it never
  exceeds 255.

  Args:
    images: [..., 4] uint8, premultiplied alpha.
    rgb: (r, g, b) ints, the background colour.
  """
  colour = tf.cast(images[..., :3], tf.float32)
  alpha = tf.cast(images[..., 3:], tf.float32)
  over = display.composite(colour, alpha, tf.constant(rgb, tf.float32), opaque=255.0)
  return tf.cast(tf.round(over), tf.uint8)
