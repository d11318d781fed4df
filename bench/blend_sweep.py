"""How the blend sampler's settings change its samples, on one run's weights.

  python bench/blend_sweep.py [--ckpt pretrained] [--samples 500]

For each setting it draws `--samples` blends of the training codes (posterior
means, each with one of its nearest codes of another species; seeded) and
reports the share of pixel-space near-copies (`realism.pixel_copies`), the
sample sharpness, alpha hardness and one-piece share of
`vae/evaluation/appearance.py`, on the test split. The settings: the range of
t, which neighbours serve as partners, and whether the blended grid's detail
is rescaled to its parents' length about the grid prior's mean (what
`VAE.sample_codes` does for the blend sampler). Quicker than a whole
evaluate.py run (no two-sample tests), for choosing the settings.
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

# (name, partners from, to (nearest first), t low, t high, rescale the detail)
SETTINGS = (
    ("the previous blend", 0, 32, 0.35, 0.65, False),
    ("t = 0.5", 0, 32, 0.5, 0.5, False),
    ("t in [0.45, 0.55]", 0, 32, 0.45, 0.55, False),
    ("full-length detail", 0, 32, 0.35, 0.65, True),
    ("t = 0.5, full-length detail (the default)", 0, 32, 0.5, 0.5, True),
    ("t in [0.45, 0.55], full-length detail", 0, 32, 0.45, 0.55, True),
    ("partners 16th to 64th nearest", 16, 64, 0.35, 0.65, False),
    ("partners 8 nearest", 0, 8, 0.35, 0.65, False),
)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--ckpt", default="pretrained")
  parser.add_argument("--samples", type=int, default=500)
  args = parser.parse_args()
  model, config, _, _ = load.load_model(args.ckpt)
  images, train, heldout, (train_groups, _) = report_lib.load_split(config, "test")
  codes = np.concatenate([model.encode(tf.constant(train[i:i + 128])).mean().numpy()
                          for i in range(0, len(train), 128)])
  partners = blend.partners(codes, train_groups, k=64)
  print(f"{args.ckpt}: {len(codes)} training codes, {args.samples} samples per setting, "
        f"{len(images)} test sprites")
  print(f"{'setting':55s} {'pixel copies':>12s} {'sharpness':>9s} {'hardness':>8s} {'one piece':>9s}")
  for name, first, last, low, high, rescale in SETTINGS:
    rng = np.random.default_rng(0)
    i = rng.integers(len(codes), size=args.samples)
    j = partners[i, rng.integers(first, last, size=args.samples)]
    t = rng.uniform(low, high, size=(args.samples, 1)).astype(np.float32)
    mixed = codes[i] + t * (codes[j] - codes[i])
    if rescale:
      mixed = model.full_length_detail(tf.constant(mixed), tf.constant(t)).numpy()
    samples = np.concatenate([model.render(tf.constant(mixed[k:k + 100])).numpy()
                              for k in range(0, len(mixed), 100)])
    copies = realism.pixel_copies(samples, train, heldout)["near_copy_fraction"]
    looks = appearance.compare(heldout, samples=samples)
    print(f"{name:55s} {copies:12.3f} {looks['sharpness']['samples']:9.3f} "
          f"{looks['alpha_hardness']['samples']:8.3f} "
          f"{looks['silhouette']['samples']['one_piece']:9.3f}", flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
