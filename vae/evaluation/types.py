"""A sprite type classifier, and the share of sprites made for a type that it gives that type.

A model conditioned on types (Sohn et al. 2015) is judged as class-conditional
GANs are by the "GAN-test" of Shmelkov et al. 2018 ("How good is my GAN?"):
a classifier trained on real images labels the generated ones, and its
accuracy on real held-out images of the same class is the ceiling that
generated images are measured against.

The classifier (`TypeNet`) is a small convnet trained in seconds on a CPU,
seeded: sprites composited on grey, resized to 32 x 32, three stride-2 3x3
convolutions (16, 32, 64 channels, LeakyReLU), global mean and max pooling,
one linear layer to a logit per type. A sprite's one or two types share the
target (softmax cross-entropy against its multi-hot types over their count),
so its top-2 are its best guess of both. Training sprites are flipped at
random; sprites without types are left out of training and of every figure.

- `accuracy`: on held-out species, the primary type top-1 and "any of the two
  types, top-2" (one of the classifier's two best guesses is one of the
  sprite's types), beside what guessing the commonest training types scores.
- `conditional_accuracy`: for each type T, the share of sprites generated for
  T whose top-1 is T, beside the same share over real held-out sprites that
  have T among their types (the ceiling).
"""

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from vae.evaluation import metrics

IMAGE_SIZE = 32  # side the classifier sees; sprites of any size are resized to it.
WIDTHS = (16, 32, 64)
_LEAKY_SLOPE = 0.2


class TypeNet(tf.Module):
  """The convnet: [N, 32, 32, 3] in [0, 1] -> [N, types] logits."""

  def __init__(self, num_types, *, seed=0, name=None):
    super().__init__(name=name)
    # Initial weights from a NumPy generator, so a seed gives the same net
    # without touching TensorFlow's global random state.
    rng = np.random.default_rng(seed)
    gain = 2.0 / (1.0 + _LEAKY_SLOPE**2)  # He et al. 2015, for LeakyReLU
    with self.name_scope:
      self.kernels, self.biases = [], []
      channels = 3
      for i, width in enumerate(WIDTHS):
        std = np.sqrt(gain / (9 * channels))
        self.kernels.append(tf.Variable(rng.normal(0, std, (3, 3, channels, width))
                                        .astype(np.float32), name=f"conv{i}/w"))
        self.biases.append(tf.Variable(tf.zeros([width]), name=f"conv{i}/b"))
        channels = width
      features = 2 * channels
      self.w = tf.Variable(rng.normal(0, np.sqrt(1.0 / features), (features, num_types))
                           .astype(np.float32), name="logits/w")
      self.b = tf.Variable(tf.zeros([num_types]), name="logits/b")

  def __call__(self, images):
    x = images
    for kernel, bias in zip(self.kernels, self.biases):
      x = tf.nn.leaky_relu(tf.nn.conv2d(x, kernel, 2, "SAME") + bias, alpha=_LEAKY_SLOPE)
    pooled = tf.concat([tf.reduce_mean(x, [1, 2]), tf.reduce_max(x, [1, 2])], axis=-1)
    return pooled @ self.w + self.b


@dataclasses.dataclass
class TypeClassifier:
  """A trained `TypeNet` and what it was trained on.

  Attributes:
    net: The trained network.
    type_names: The name of each logit.
    train_frequency: Share of training sprites having each type, [types].
    train_primary_frequency: Share of training sprites with each primary type.
    held_out: Real held-out (images, types) to take ceilings from, if given
      to `train_classifier`.
  """
  net: TypeNet
  type_names: tuple
  train_frequency: np.ndarray
  train_primary_frequency: np.ndarray
  held_out: tuple = None

  def probabilities(self, images, batch_size=256) -> np.ndarray:
    """float32 [N, types]: the classifier's belief in each type, per sprite.

    Args:
      images: float [N, S, S, C] in [0, 1], C = 4 premultiplied RGBA or 3 RGB,
        as the data pipeline and the model give them.
    """
    prepared = prepare(images)
    out = [tf.nn.softmax(self.net(prepared[i:i + batch_size])).numpy()
           for i in range(0, len(prepared), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, len(self.type_names)), np.float32)


def prepare(images) -> np.ndarray:
  """Sprites as the classifier sees them: on grey, float32 [N, 32, 32, 3]."""
  rgb = metrics.composite(images)
  return tf.image.resize(rgb, [IMAGE_SIZE, IMAGE_SIZE], method="area").numpy()


def train_classifier(images, types, type_names, *, primary=None, held_out=None, epochs=10,
                     batch_size=64, lr=3e-3, seed=0) -> TypeClassifier:
  """Trains a `TypeNet` on real sprites with random flips; seeded, a few seconds on a CPU.

  Args:
    images: float [N, S, S, C] in [0, 1] (see `TypeClassifier.probabilities`).
    types: float [N, types] multi-hot; rows of zeros (no type) are left out.
    type_names: The name of each column of `types`.
    primary: int [N] index of each sprite's primary type (-1: none), for the
      frequencies of `accuracy`'s baseline; None: the first type of each row.
    held_out: Optional real held-out (images, types) kept for the ceilings of
      `conditional_accuracy`.
    epochs: Passes over the training sprites.
    batch_size: Sprites per step.
    lr: Adam's learning rate.
    seed: Initial weights, order and flips.

  Returns:
    The trained `TypeClassifier`.
  """
  types = np.asarray(types, np.float32)
  if len(images) != len(types) or types.ndim != 2 or types.shape[1] != len(type_names):
    raise ValueError(f"images and types must be [N, ...] and [N, {len(type_names)}], got "
                     f"{np.shape(images)} and {types.shape}")
  keep = types.sum(axis=1) > 0
  if not keep.any():
    raise ValueError("no training sprite has a type: nothing to train the classifier on")
  x, y = prepare(np.asarray(images)[keep]), types[keep]
  primary = (np.argmax(y, axis=1) if primary is None else np.asarray(primary)[keep])
  targets = y / y.sum(axis=1, keepdims=True)
  net = TypeNet(len(type_names), seed=seed)
  optimizer = keras.optimizers.Adam(learning_rate=lr)
  step = tf.function(_train_step, reduce_retracing=True)
  rng = np.random.default_rng(seed)
  for _ in range(epochs):
    order = rng.permutation(len(x))
    for start in range(0, len(x), batch_size):
      rows = order[start:start + batch_size]
      batch = x[rows]
      flip = rng.random(len(rows)) < 0.5
      batch[flip] = batch[flip, :, ::-1]
      step(net, optimizer, tf.constant(batch), tf.constant(targets[rows]))
  return TypeClassifier(
      net, tuple(type_names), train_frequency=y.mean(axis=0),
      train_primary_frequency=np.bincount(primary, minlength=len(type_names)) / len(primary),
      held_out=held_out)


def _train_step(net, optimizer, images, targets):
  with tf.GradientTape() as tape:
    loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(targets, net(images)))
  optimizer.apply_gradients(zip(tape.gradient(loss, net.trainable_variables),
                                net.trainable_variables))
  return loss


def accuracy(classifier, images, types, primary) -> dict:
  """The classifier's accuracy on real sprites (held-out species, for an honest figure).

  Args:
    classifier: A `TypeClassifier`.
    images: float [N, S, S, C] in [0, 1].
    types: float [N, types] multi-hot.
    primary: int [N] index of each sprite's primary type; -1 (no type) rows
      are left out.

  Returns:
    `primary_top1`: share whose primary type is the top-1 guess; `any_top2`:
    share with one of their types among the top-2 guesses; the same for the
    baseline that always guesses the commonest training (primary) types
    (`baseline_primary_top1`, `baseline_any_top2`); `count`, the sprites
    judged; and `per_type`: for each type, `count` (sprites having it) and
    `top1` (share of those whose top-1 guess is that type).
  """
  primary = np.asarray(primary)
  keep = primary >= 0
  types, primary = np.asarray(types)[keep], primary[keep]
  if not keep.any():
    raise ValueError("no sprite with a type to judge the classifier on")
  probabilities = classifier.probabilities(np.asarray(images)[keep])
  top2 = np.argsort(-probabilities, axis=1)[:, :2]
  rows = np.arange(len(primary))
  common_primary = int(np.argmax(classifier.train_primary_frequency))
  common_two = np.argsort(-classifier.train_frequency)[:2]
  return {
      "count": int(len(primary)),
      "primary_top1": float(np.mean(top2[:, 0] == primary)),
      "any_top2": float(np.mean((types[rows[:, None], top2] > 0).any(axis=1))),
      "baseline_primary_top1": float(np.mean(primary == common_primary)),
      "baseline_any_top2": float(np.mean((types[:, common_two] > 0).any(axis=1))),
      "per_type": _per_type(classifier.type_names, top2[:, 0], types),
  }


def _per_type(type_names, top1, types):
  out = {}
  for index, name in enumerate(type_names):
    having = types[:, index] > 0
    if having.any():
      out[name] = {"count": int(having.sum()), "top1": float(np.mean(top1[having] == index))}
  return out


def conditional_accuracy(classifier, samples_by_type, held_out=None) -> dict:
  """How often sprites generated for a type are given that type, beside the ceiling.

  Args:
    classifier: A `TypeClassifier`.
    samples_by_type: {type name: float [n, S, S, C] in [0, 1]}, the sprites
      generated with that one type as their condition.
    held_out: Real held-out (images, types) for the ceilings; None: those
      given to `train_classifier`.

  Returns:
    `per_type`: {type: {"count", "accuracy" (share of its samples whose top-1
    is the type), "ceiling" (the same share over real held-out sprites having
    the type; None when there are none), "real_count"}}; `overall` and
    `ceiling`: the mean over the types asked for (each type once, so the
    figure does not depend on how many sprites each got), the ceiling over
    those with real held-out sprites; `ratio`: overall / ceiling over those
    same types, the issue's target being >= 0.8.

  Raises:
    ValueError: an unknown type name, or no real held-out sprites.
  """
  held_out = held_out if held_out is not None else classifier.held_out
  if held_out is None:
    raise ValueError("conditional_accuracy needs real held-out sprites for the ceilings: pass "
                     "held_out=(images, types) here or to train_classifier")
  unknown = sorted(set(samples_by_type) - set(classifier.type_names))
  if unknown:
    raise ValueError(f"unknown type(s) {', '.join(unknown)}; the types are "
                     f"{', '.join(classifier.type_names)}")
  real_images, real_types = held_out
  real_types = np.asarray(real_types)
  real_top1 = np.argmax(classifier.probabilities(real_images), axis=1)
  per_type = {}
  for name, samples in samples_by_type.items():
    index = classifier.type_names.index(name)
    guesses = np.argmax(classifier.probabilities(samples), axis=1)
    having = real_types[:, index] > 0
    per_type[name] = {
        "count": int(len(guesses)),
        "accuracy": float(np.mean(guesses == index)) if len(guesses) else float("nan"),
        "real_count": int(having.sum()),
        "ceiling": float(np.mean(real_top1[having] == index)) if having.any() else None,
    }
  judged = [v for v in per_type.values() if v["ceiling"] is not None]
  overall = float(np.mean([v["accuracy"] for v in per_type.values()]))
  ceiling = float(np.mean([v["ceiling"] for v in judged])) if judged else None
  paired = float(np.mean([v["accuracy"] for v in judged])) if judged else None
  return {"per_type": per_type, "overall": overall, "ceiling": ceiling,
          "ratio": paired / ceiling if judged and ceiling > 0 else None}


def fit_on_data(data, *, seed=0, epochs=10, held_out_splits=("val", "test")) -> tuple:
  """Trains on a `pipelines.SpriteData`'s training sprites and judges it on held-out species.

  Args:
    data: Loaded data with a types table.
    seed: The classifier's seed.
    epochs: Passes over the training sprites.
    held_out_splits: Splits of species the classifier never sees; by default
      both, as the classifier chooses nothing on validation data and the
      figures of 72 test species alone vary by a few points.

  Returns:
    (classifier, `accuracy` on the held-out splits).
  """
  held_images = np.concatenate([data.array(s) for s in held_out_splits]).astype(np.float32) / 255
  held_types = np.concatenate([data.types(s) for s in held_out_splits])
  held_primary = np.concatenate([data.primary_types(s) for s in held_out_splits])
  classifier = train_classifier(
      data.array("train").astype(np.float32) / 255.0, data.types("train"), data.type_names,
      primary=data.primary_types("train"), held_out=(held_images, held_types),
      epochs=epochs, seed=seed)
  return classifier, accuracy(classifier, held_images, held_types, held_primary)


# Types judged by `judge_model`: those with at least this many training
# sprites (the bar for a sheet a viewer can recognise), and how many
# sprites are generated for each.
MIN_TRAINING_SPRITES = 20
SAMPLES_PER_TYPE = 32


@dataclasses.dataclass
class TypeSets:
  """The types of the sprites an evaluation sees (`pipelines.SpriteData.types`)."""
  names: tuple  # the columns, `pipelines.types_table.TYPE_NAMES`
  train: np.ndarray  # multi-hot [M, T] of the training sprites
  train_primary: np.ndarray  # int [M], -1 for none
  heldout_images: np.ndarray  # float [H, S, S, C]: sprites of species never trained on
  heldout: np.ndarray  # their multi-hot [H, T]
  heldout_primary: np.ndarray  # int [H]


def one_hot(name, names) -> np.ndarray:
  """The multi-hot float32 [T] of one type."""
  out = np.zeros(len(names), np.float32)
  out[list(names).index(name)] = 1.0
  return out


def judged_types(model, type_sets) -> list:
  """The types `judge_model` generates for: enough training sprites, and two species of
  the type in a sampler that holds types (a conditional model's other samplers draw
  any code, which its decoder takes with the type)."""
  counts = type_sets.train.sum(axis=0)
  if model.conditional and not model.expost.holds_types:
    return [name for i, name in enumerate(type_sets.names) if counts[i] >= MIN_TRAINING_SPRITES]
  species = model.expost.type_species()
  return [name for i, name in enumerate(type_sets.names)
          if counts[i] >= MIN_TRAINING_SPRITES and len(species) > i and species[i] >= 2]


def judge_model(model, train, type_sets, *, seed=0, samples_per_type=SAMPLES_PER_TYPE):
  """The type classifier's accuracy on held-out sprites, and the model's conditional accuracy.

  The classifier is trained on `train` (float [M, S, S, C]) with
  `type_sets.train` and judged on `type_sets.heldout_images`; then
  `samples_per_type` sprites are drawn for each of `judged_types`
  (`model.sample(types=...)`) and classified.

  Returns:
    (report dict {"classifier": `accuracy`, "conditional": `conditional_accuracy`,
    "samples_per_type"}, {type: samples [n, S, S, C]}).
  """
  classifier = train_classifier(train, type_sets.train, type_sets.names,
                                primary=type_sets.train_primary,
                                held_out=(type_sets.heldout_images, type_sets.heldout),
                                seed=seed)
  judged = accuracy(classifier, type_sets.heldout_images, type_sets.heldout,
                    type_sets.heldout_primary)
  types = tf.TensorSpec([len(type_sets.names)], tf.float32)
  draw = tf.function(lambda t, s: model.sample(samples_per_type, seed=s, types=t),
                     input_signature=[types, tf.TensorSpec([2], tf.int32)])
  samples = {}
  for i, name in enumerate(judged_types(model, type_sets)):
    samples[name] = draw(tf.constant(one_hot(name, type_sets.names)),
                         tf.constant([seed, 1000 + i], tf.int32)).numpy()
  conditional = conditional_accuracy(classifier, samples) if samples else None
  return dict(classifier=judged, conditional=conditional,
              samples_per_type=samples_per_type), samples


def main(argv=None) -> int:
  """`python -m vae.evaluation.types`: trains the classifier on a data folder, prints its accuracy."""
  import dataclasses  # pylint: disable=import-outside-toplevel
  import json  # pylint: disable=import-outside-toplevel
  import sys  # pylint: disable=import-outside-toplevel
  import time  # pylint: disable=import-outside-toplevel

  import pipelines  # pylint: disable=import-outside-toplevel
  from common import cli  # pylint: disable=import-outside-toplevel
  from pipelines.config import DataConfig  # pylint: disable=import-outside-toplevel

  prog = "python -m vae.evaluation.types"
  parser = cli.OneLineParser(prog=prog, description=main.__doc__.split(": ", 1)[1])
  parser.add_argument("--seed", type=int, default=0, help="the classifier's seed")
  parser.add_argument("--epochs", type=int, default=10, help="passes over the training sprites")
  parser.add_argument("--held-out", choices=("val,test", "test", "val"), default="val,test",
                      help="the held-out species to judge it on")
  cli.add_field_flags(parser, dataclasses.fields(DataConfig))
  args = parser.parse_args(argv)
  try:
    data = pipelines.load(cli.from_flags(DataConfig, args))
    start = time.perf_counter()
    _, report = fit_on_data(data, seed=args.seed, epochs=args.epochs,
                            held_out_splits=tuple(args.held_out.split(",")))
  except (ValueError, OSError) as error:
    print(f"{prog}: error: {error}", file=sys.stderr)
    return 2
  report["train_seconds"] = round(time.perf_counter() - start, 1)
  report["train_count"] = int((data.types("train").sum(axis=1) > 0).sum())
  print(json.dumps(report, indent=2))
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
