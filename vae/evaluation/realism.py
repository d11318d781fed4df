"""Measures of sample quality that neither texture nor copying can fool.

A feature distance (`features.py`) and the Sobel sharpness reward texture:
confetti inside a silhouette scores as crisp and sprite-like. A near-copy
test in a feature space misses copies the features do not see. This module
gives the report two measures that judge the pictures themselves:

* `two_sample_test`: a classifier two-sample test (Lopez-Paz & Oquab 2017,
  "Revisiting Classifier Two-Sample Tests"). A classifier learns to tell a
  set of images from real held-out sprites, in folds; its accuracy on the
  images it did not train on is 0.5 when the two sets cannot be told apart
  and 1.0 when they always can. Its held-out log-loss (nats; ln 2 = 0.693 is
  chance) still grades two sets that are told apart at an accuracy near 1:
  a classifier that is sure is further apart than one that is just right.
  Folds are grouped (by species for real sprites, so a sprite and its shiny
  twin are never split between training and testing the classifier).
  Two classifiers:
  - `ConvClassifier`, a small convnet on 64 px composites, trained a fixed
    number of steps with flips: it sees structure (outlines, eyes, limbs)
    and is not fooled by texture;
  - a linear logistic regression on 32 px composites and their gradient
    magnitudes: quick, and kept beside it because texture CAN fool it
    (noise inside a silhouette has the right gradient statistics).
* `pixel_copies`: near-copies in pixel space, with the ratio test of
  `metrics.memorization` on 32 px composites: a sample much nearer one
  training sprite than the next is a copy of it, with the threshold set so
  that held-out sprites score `quantile` (0.05).
* `shape_copies`: the same ratio test on silhouettes (32 px alpha), the
  second-nearest taken from another species. Colour does not enter it, so a
  recoloured copy, which the pixel test can pass as new, is caught.
"""

import cv2
import numpy as np
import tensorflow as tf

from vae import layers
from vae.evaluation import metrics

FOLDS = 5
CONV_SIZE = 64
LINEAR_SIZE = 32
COPY_SIZE = 32
CONV_STEPS = 300
CONV_BATCH = 32
CONV_LR = 2e-3
LINEAR_STEPS = 300
LINEAR_L2 = 1e-2
LINEAR_RATE = 2.0
_EPS = 1e-6


def composites(images, size):
  """Premultiplied RGBA (or RGB) [N, S, S, C] in [0, 1] on grey, resized to size x size, [N, size, size, 3]."""
  flat = metrics.composite(images)
  if flat.shape[1] == size:
    return flat
  return np.stack([cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
                   for image in flat]).astype(np.float32)


def fold_of(groups, folds=FOLDS, seed=0):
  """Each row's fold [N]: whole groups go to one fold, the folds about equally large.

  Groups are shuffled (seeded), then dealt, largest first, each to the fold
  holding the fewest rows so far.
  """
  groups = np.asarray(groups)
  names, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
  order = np.random.default_rng(seed).permutation(len(names))
  order = order[np.argsort(-counts[order], kind="stable")]
  sizes = np.zeros(folds, np.int64)
  assignment = np.empty(len(names), np.int64)
  for group in order:
    fold = int(np.argmin(sizes))
    assignment[group] = fold
    sizes[fold] += counts[group]
  return assignment[inverse]


class ConvClassifier(tf.Module):
  """Images [B, 64, 64, 3] in [0, 1] to one logit each: three stride-2 convs and a linear read-out."""

  def __init__(self, widths=(16, 32, 64), seed=0, name=None):
    super().__init__(name=name)
    with self.name_scope:
      self.convs = []
      previous = 3
      for i, width in enumerate(widths):
        self.convs.append(layers.Conv2D(previous, width, kernel_size=3, stride=2, name=f"conv_{i}"))
        previous = width
      self.out = layers.Linear(previous, 1, name="out")
    # Seeded initial weights at the layers' own scale (He et al. 2015: variance
    # gain / fan-in), so the test gives the same figure in every call and every
    # process: the layers draw theirs from TensorFlow's global RNG, and even
    # the spread of that draw (which this once rescaled to) differs call to call.
    rng = np.random.default_rng(seed)
    for variable in self.trainable_variables:
      if variable.name.endswith("w:0"):
        fan_in = int(np.prod(variable.shape[:-1]))
        gain = 1.0 if variable is self.out.w else layers.ACTIVATION_GAIN
        variable.assign(rng.standard_normal(variable.shape).astype(np.float32)
                        * np.float32(np.sqrt(gain / fan_in)))

  def __call__(self, x):
    h = x * 2.0 - 1.0
    for conv in self.convs:
      h = layers.activation(conv(h))
    return tf.squeeze(self.out(tf.reduce_mean(h, axis=[1, 2])), -1)


def _train_conv(x, y, seed, steps=CONV_STEPS):
  """A `ConvClassifier` trained on x [N, 64, 64, 3], labels y [N] in {0, 1}."""
  net = ConvClassifier(seed=seed)
  optimizer = tf.optimizers.Adam(CONV_LR)
  x = tf.constant(x)
  y = tf.constant(y, tf.float32)

  @tf.function
  def step(index, flip):
    images = tf.gather(x, index)
    images = tf.where(flip[:, None, None, None], tf.reverse(images, [2]), images)
    with tf.GradientTape() as tape:
      loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
          labels=tf.gather(y, index), logits=net(images)))
    grads = tape.gradient(loss, net.trainable_variables)
    optimizer.apply_gradients(zip(grads, net.trainable_variables))

  rng = np.random.default_rng(seed)
  for _ in range(steps):
    step(tf.constant(rng.integers(len(y), size=CONV_BATCH), tf.int32),
         tf.constant(rng.random(CONV_BATCH) < 0.5))
  return lambda images: tf.sigmoid(net(tf.constant(images))).numpy()


def gradient_features(images):
  """Composites [N, S, S, 3] and their Sobel gradient magnitudes, one row each [N, S*S*4]."""
  grey = images.mean(-1)
  gx = np.stack([cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3) for g in grey])
  gy = np.stack([cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3) for g in grey])
  magnitude = np.sqrt(gx**2 + gy**2)
  return np.concatenate([images.reshape(len(images), -1),
                         magnitude.reshape(len(images), -1)], 1)


def _train_linear(x, y, seed, steps=LINEAR_STEPS):
  """L2-regularised logistic regression on standardised rows of x.

  With far fewer rows than features, the weights are a combination of the
  training rows, w = Z^T a (the representer theorem), and gradient descent
  on w is gradient descent on a through the N x N Gram matrix: the same
  classifier at a fraction of the cost. Features are scaled to unit mean
  row norm, so one step size serves any image size.
  """
  del seed  # Deterministic: zero start, full batches.
  mean, std = x.mean(0), x.std(0) + 1e-3
  scale = np.sqrt(x.shape[1])

  def standardise(rows):
    return (rows - mean) / std / scale

  z = standardise(x)
  gram = z @ z.T
  a, b = np.zeros(len(y)), 0.0
  for _ in range(steps):
    p = 1.0 / (1.0 + np.exp(-(gram @ a + b)))
    a -= LINEAR_RATE * ((p - y) / len(y) + LINEAR_L2 * a)
    b -= LINEAR_RATE * np.mean(p - y)
  w = z.T @ a
  return lambda rows: 1.0 / (1.0 + np.exp(-(standardise(rows) @ w + b)))


def two_sample_test(real, other, real_groups, other_groups=None, *, kind="conv",
                    folds=FOLDS, seed=0, steps=None):
  """How well a classifier tells `other` from `real`, on images it did not train on.

  Args:
    real: real held-out sprites [N, S, S, C] in [0, 1].
    other: the set to test [M, S, S, C]: samples, reconstructions, other
      real sprites. The larger set is cut to the smaller's size (seeded), so
      0.5 is chance.
    real_groups: species group of each real sprite [N].
    other_groups: groups of `other` [M]; default, each its own group.
    kind: "conv" (`ConvClassifier`) or "linear" (logistic regression on
      composites and gradient magnitudes, which texture can fool).
    folds: cross-validation folds.
    seed: seed of the subsets, folds and classifiers.
    steps: training steps of each fold's classifier (default `CONV_STEPS`
      or `LINEAR_STEPS`).

  Returns:
    dict: accuracy, log_loss (nats per image, over every image's held-out
    prediction) and count (images per set).
  """
  rng = np.random.default_rng(seed)
  count = min(len(real), len(other))
  if count < folds:
    raise ValueError(f"a two-sample test needs at least {folds} images per set, got {count}")
  real_pick = np.sort(rng.permutation(len(real))[:count])
  other_pick = np.sort(rng.permutation(len(other))[:count])
  real_groups = np.asarray([f"real/{g}" for g in np.asarray(real_groups)[real_pick]])
  if other_groups is None:
    other_groups = np.asarray([f"other/{i}" for i in range(count)])
  else:
    other_groups = np.asarray([f"other/{g}" for g in np.asarray(other_groups)[other_pick]])
  size = CONV_SIZE if kind == "conv" else LINEAR_SIZE
  images = np.concatenate([composites(real[real_pick], size), composites(other[other_pick], size)])
  x = images if kind == "conv" else gradient_features(images)
  y = np.concatenate([np.zeros(count), np.ones(count)])
  fold = fold_of(np.concatenate([real_groups, other_groups]), folds, seed)
  train = _train_conv if kind == "conv" else _train_linear
  p = np.empty(len(y))
  for k in range(folds):
    test = fold == k
    predict = train(x[~test], y[~test], seed + k,
                    steps or (CONV_STEPS if kind == "conv" else LINEAR_STEPS))
    p[test] = predict(x[test])
  p = np.clip(p, _EPS, 1 - _EPS)
  return dict(accuracy=float(np.mean((p > 0.5) == (y > 0.5))),
              log_loss=float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))),
              count=int(count))


def realism(heldout, heldout_groups, sets, *, seed=0):
  """Both two-sample tests of each named set against the held-out sprites.

  Args:
    heldout: real held-out sprites [N, S, S, C].
    heldout_groups: their species groups [N].
    sets: {name: (images, groups or None)}, e.g. samples, reconstructions of
      training sprites, real training sprites.

  Returns:
    {name: {accuracy, log_loss, linear_accuracy, linear_log_loss, count}}.
  """
  out = {}
  for name, (images, groups) in sets.items():
    conv = two_sample_test(heldout, images, heldout_groups, groups, kind="conv", seed=seed)
    linear = two_sample_test(heldout, images, heldout_groups, groups, kind="linear", seed=seed)
    out[name] = dict(accuracy=conv["accuracy"], log_loss=conv["log_loss"],
                     linear_accuracy=linear["accuracy"], linear_log_loss=linear["log_loss"],
                     count=conv["count"])
  return out


def pixel_copies(samples, train, heldout, quantile=0.05):
  """`metrics.memorization` on 32 px composites: near-copies in pixel space."""
  return metrics.memorization(composites(samples, COPY_SIZE), composites(train, COPY_SIZE),
                              composites(heldout, COPY_SIZE), quantile=quantile)


def silhouettes(images, size):
  """The alpha of premultiplied RGBA [N, S, S, 4] in [0, 1], resized to size x size, [N, size * size]."""
  alpha = np.asarray(images, np.float32)[..., 3]
  if alpha.shape[1] != size:
    alpha = np.stack([cv2.resize(a, (size, size), interpolation=cv2.INTER_AREA) for a in alpha])
  return alpha.reshape(len(alpha), -1)


def shape_copies(samples, train, heldout, train_groups, quantile=0.05):
  """`metrics.memorization` on 32 px silhouettes, the second-nearest of another species.

  A sample that keeps a training sprite's outline under other colours is a
  copy of it that `pixel_copies` can miss. A silhouette is shared by a
  sprite, its shiny twin and many forms, so the ratio is taken against the
  nearest sprite of another species (`train_groups`); otherwise a copy of
  either twin would sit as near the other and look new. Images without an
  alpha channel have no silhouette: None.
  """
  if np.shape(samples)[-1] != 4:
    return None
  return metrics.memorization(silhouettes(samples, COPY_SIZE), silhouettes(train, COPY_SIZE),
                              silhouettes(heldout, COPY_SIZE), quantile=quantile,
                              train_groups=train_groups)
