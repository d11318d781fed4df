"""Whether blur or new colours hide copies from the near-copy tests, on one run's weights.

  python bench/copies_blur.py [--ckpt pretrained] [--samples 500]

A sharper decoder's samples come out as near-copies more often
(bench/README.md, section 16). Either the sharper samples copy more, or the
blur of the softer ones hid their copying from the ratio test
(`realism.pixel_copies`). This blurs the same samples, and the held-out
sprites the test is calibrated on, with Gaussians of a few widths (in pixels
of the 64 px sprite, every channel alpha included) and reports each set's
near-copy share: if blur hid copies, the blurred samples would score lower.

Then every training sprite as it is, and with its colours rotated (R, G, B to
B, R, G: the same drawing in new colours), through both the pixel test and
the silhouette test (`realism.shape_copies`), the shares of copies each
catches (bench/README.md, section 18).
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cv2  # pylint: disable=wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position

from vae.evaluation import realism  # pylint: disable=wrong-import-position
from vae.evaluation import report as report_lib  # pylint: disable=wrong-import-position
from vae.rundir import load  # pylint: disable=wrong-import-position

SIGMAS = (0.0, 0.7, 1.5)


def blurred(images, sigma):
  """`images` [N, S, S, C] in [0, 1], each channel blurred by a Gaussian of `sigma` pixels."""
  if not sigma:
    return images
  return np.stack([cv2.GaussianBlur(image, (0, 0), sigma) for image in images]).reshape(
      images.shape).astype(np.float32)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--ckpt", default="pretrained")
  parser.add_argument("--samples", type=int, default=500)
  args = parser.parse_args()
  model, config, _, _ = load.load_model(args.ckpt)
  _, train, heldout, (train_groups, _) = report_lib.load_split(config, "test")
  samples = report_lib.draw_samples(model, args.samples)  # evaluate.py's, at its default seed
  print(f"{args.ckpt}: {len(samples)} samples, {len(heldout)} held-out sprites")
  print(f"{'set':10s} {'blur sigma':>10s} {'pixel near-copies':>18s} {'shape near-copies':>18s}")
  for name, images in (("samples", samples), ("held-out", heldout)):
    for sigma in SIGMAS:
      soft = blurred(images, sigma)
      share = realism.pixel_copies(soft, train, heldout)["near_copy_fraction"]
      shapes = realism.shape_copies(soft, train, heldout, train_groups)["near_copy_fraction"]
      print(f"{name:10s} {sigma:10.1f} {share:18.3f} {shapes:18.3f}", flush=True)
  print(f"\n{'every training sprite':28s} {'pixel near-copies':>18s} {'shape near-copies':>18s}")
  for name, images in (("as it is", train), ("colours rotated", train[..., [2, 0, 1, 3]])):
    share = realism.pixel_copies(images, train, heldout)["near_copy_fraction"]
    shapes = realism.shape_copies(images, train, heldout, train_groups)["near_copy_fraction"]
    print(f"{name:28s} {share:18.3f} {shapes:18.3f}", flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
