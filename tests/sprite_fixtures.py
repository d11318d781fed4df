"""Synthetic sprite folders for tests that train: small, seeded, offline."""

import os

import cv2
import numpy as np


def make_sprite_folder(directory, count=80, size=40, seed=0):
  """Writes `count` RGBA PNG sprites named `<dex number>.png` into `directory`.

  Each is a filled ellipse with a dark outline and an eye on a transparent
  canvas, in a random palette, position and shape: enough structure for a VAE
  to learn quickly, and numbered names so the pipeline groups and splits them.
  """
  rng = np.random.default_rng(seed)
  os.makedirs(directory, exist_ok=True)
  for i in range(1, count + 1):
    image = np.zeros((size, size, 4), np.uint8)
    colour = tuple(int(c) for c in rng.integers(40, 255, 3)) + (255,)
    centre = tuple(int(c) for c in rng.integers(size // 3, 2 * size // 3, 2))
    axes = tuple(int(a) for a in rng.integers(size // 6, size // 3, 2))
    cv2.ellipse(image, centre, axes, float(rng.integers(0, 180)), 0, 360, colour, -1)
    cv2.ellipse(image, centre, axes, 0, 0, 360, (20, 20, 30, 255), 1)
    cv2.circle(image, (centre[0] + axes[0] // 3, centre[1] - axes[1] // 3), 2, (0, 0, 0, 255), -1)
    cv2.imwrite(os.path.join(directory, f"{i}.png"), image)
  return directory
