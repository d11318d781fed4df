"""How the blend sampler's settings change its samples, on one run's weights.

  python bench/blend_sweep.py [--ckpt pretrained] [--samples 500] [--realism]

For each setting it draws `--samples` blends of the training codes (posterior
means, each with one of its nearest codes of another species; seeded) and
reports the share of pixel-space near-copies (`realism.pixel_copies`), the
sample sharpness, alpha hardness and one-piece share of
`vae/evaluation/appearance.py`, on the test split, and with `--realism` the
two-sample tests of `vae/evaluation/realism.py`. The settings: the range of
t, which neighbours serve as partners, how many parents a blend has, and
whether the blended grid's detail is rescaled to its parents' length about
the grid prior's mean (what the blend sampler does). Quicker than a whole
evaluate.py run, for choosing the settings.
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # pylint: disable=wrong-import-position
import tensorflow as tf  # pylint: disable=wrong-import-position

from vae.samplers import blend  # pylint: disable=wrong-import-position
from vae.evaluation import appearance, realism  # pylint: disable=wrong-import-position
from vae.evaluation import report as report_lib  # pylint: disable=wrong-import-position
from vae.rundir import load  # pylint: disable=wrong-import-position

# (name, partners from, to (nearest first), t low, t high, rescale the detail,
#  parents): with more than two parents, the first code and `parents - 1` of its
#  partners (different ones), in equal shares; t then does not apply.
SETTINGS = (
    ("the previous blend", 0, 32, 0.35, 0.65, False, 2),
    ("t = 0.5", 0, 32, 0.5, 0.5, False, 2),
    ("t in [0.45, 0.55]", 0, 32, 0.45, 0.55, False, 2),
    ("full-length detail", 0, 32, 0.35, 0.65, True, 2),
    ("t = 0.5, full-length detail (the default)", 0, 32, 0.5, 0.5, True, 2),
    ("t in [0.45, 0.55], full-length detail", 0, 32, 0.45, 0.55, True, 2),
    ("partners 16th to 64th nearest", 16, 64, 0.35, 0.65, False, 2),
    ("partners 8 nearest", 0, 8, 0.35, 0.65, False, 2),
    ("t = 0.5, full length, partners 32nd to 96th", 32, 96, 0.5, 0.5, True, 2),
    ("3 parents, full-length detail", 0, 32, 0, 0, True, 3),
    ("3 parents", 0, 32, 0, 0, False, 3),
    ("4 parents, full-length detail", 0, 32, 0, 0, True, 4),
)


def blends(model, codes, partners, setting, count, seed=0):
  """`count` blended codes of one setting of `SETTINGS`, seeded."""
  _, first, last, low, high, rescale, parents = setting
  rng = np.random.default_rng(seed)
  i = rng.integers(len(codes), size=count)
  if parents == 2:
    weights = rng.uniform(low, high, size=(count, 1))
    weights = np.concatenate([1 - weights, weights], 1)
  else:
    weights = np.full((count, parents), 1.0 / parents)
  columns = np.stack([rng.choice(np.arange(first, last), size=parents - 1, replace=False)
                      for _ in range(count)])
  chosen = np.concatenate([i[:, None], partners[i[:, None], columns]], 1)  # [count, parents]
  mixed = np.einsum("nk,nkd->nd", weights, codes[chosen]).astype(np.float32)
  if not rescale:
    return mixed
  return model.full_length_detail(tf.constant(mixed), tf.constant(weights, tf.float32)).numpy()


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--ckpt", default="pretrained")
  parser.add_argument("--samples", type=int, default=500)
  parser.add_argument("--realism", action="store_true",
                      help="also the convnet and linear two-sample tests (about 30 s a setting)")
  args = parser.parse_args()
  model, config, _, _ = load.load_model(args.ckpt)
  images, train, heldout, (train_groups, heldout_groups) = report_lib.load_split(config, "test")
  codes = np.concatenate([model.encode(tf.constant(train[i:i + 128])).mean().numpy()
                          for i in range(0, len(train), 128)])
  partners = blend.partners(codes, train_groups, k=96)
  print(f"{args.ckpt}: {len(codes)} training codes, {args.samples} samples per setting, "
        f"{len(images)} test sprites")
  header = f"{'setting':46s} {'pixel copies':>12s} {'sharpness':>9s} {'hardness':>8s} {'one piece':>9s}"
  print(header + ("  convnet  log-loss  linear" if args.realism else ""))
  for setting in SETTINGS:
    mixed = blends(model, codes, partners, setting, args.samples)
    samples = np.concatenate([model.render(tf.constant(mixed[k:k + 100])).numpy()
                              for k in range(0, len(mixed), 100)])
    copies = realism.pixel_copies(samples, train, heldout)["near_copy_fraction"]
    looks = appearance.compare(heldout, samples=samples)
    line = (f"{setting[0]:46s} {copies:12.3f} {looks['sharpness']['samples']:9.3f} "
            f"{looks['alpha_hardness']['samples']:8.3f} "
            f"{looks['silhouette']['samples']['one_piece']:9.3f}")
    if args.realism:
      conv = realism.two_sample_test(heldout, samples, heldout_groups, kind="conv")
      linear = realism.two_sample_test(heldout, samples, heldout_groups, kind="linear")
      line += f"  {conv['accuracy']:7.3f}  {conv['log_loss']:8.3f}  {linear['accuracy']:6.3f}"
    print(line, flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
