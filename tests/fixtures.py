"""What the tests are given: synthetic sprites, image files and runs, all seeded and offline.

* Sprites as arrays: `sprite` (one rectangle, straight RGBA uint8: exact
  geometry for the pipeline), `sprites` (outlined ellipses with an eye,
  premultiplied float: learnable, for the model and the pictures) and
  `blocky_sprites` (8x8 pixel art scaled up: for the feature space).
* Files: `write_image`, `write_animated_gif`, `raw_png` (OpenCV cannot write
  palette or gray+alpha PNGs, so it assembles those chunk by chunk: PNG spec,
  ISO/IEC 15948), `sprite_folder` (named rectangles) and `make_sprite_folder`
  (numbered `sprites`, which the pipeline groups and splits).
* Training: `trainables` (model, optimizer, loop state as a run builds them),
  `compiled_steps` (those and the compiled step), `random_batches`, and `make_run` (a run directory as train_loop.py leaves it).
* Shared by the test files of one session: `smoke_run` (a smoke-preset run
  directory on `shared_sprites`, made once per config) for the files that
  evaluate, load or export a run.
* Programs: `start_program` / `finish_program` (a program in a fresh
  interpreter, as a user runs it, so several can run side by side) and
  `run_program` (both in one call).
"""

import atexit
import collections
import os
import pathlib
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

import cv2
import keras
import numpy as np
import tensorflow as tf

from vae import config as config_lib
from vae.evaluation import metrics
from vae.model import VAE
from vae.training import loop
from vae.training import step as step_lib

# A 1x1 red GIF with a 2-colour global table, written by hand so that its
# background-colour index (byte 11) can be set out of range.
ONE_PIXEL_GIF = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\x00\x00\x00\x00\x00"
                 b"!\xf9\x04\x00\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00"
                 b"\x02\x02D\x01\x00;")


def sprite(height=20, width=30, colour=(200, 40, 10), box=(4, 6, 12, 20), hidden=(0, 0, 0)):
  """Straight RGBA uint8: an opaque `colour` rectangle on transparent pixels.

  Args:
    box: (top, left, bottom, right) of the opaque rectangle.
    hidden: RGB stored under the transparent pixels (invisible, but a naive
      resize would blend it in).
  """
  image = np.zeros((height, width, 4), np.uint8)
  image[..., :3] = hidden
  top, left, bottom, right = box
  image[top:bottom, left:right] = (*colour, 255)
  return image


def write_image(path, rgba, params=()):
  """Writes straight RGBA (or RGB / gray) with OpenCV; the format comes from the extension.

  Args:
    params: OpenCV imwrite flags, e.g. (cv2.IMWRITE_WEBP_QUALITY, 101).
  """
  image = np.asarray(rgba)
  if image.ndim == 3:
    image = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA if image.shape[2] == 4 else cv2.COLOR_RGB2BGR)
  if not cv2.imwrite(str(path), image, list(params)):
    raise OSError(f"could not write fixture {path}")
  return str(path)


def write_animated_gif(path, frames_rgba):
  """Writes straight-RGBA frames as an animated GIF (OpenCV's own encoder)."""
  animation = cv2.Animation()
  animation.frames = [cv2.cvtColor(f, cv2.COLOR_RGBA2BGRA) for f in frames_rgba]
  animation.durations = [100] * len(frames_rgba)
  if not cv2.imwriteanimation(str(path), animation):
    raise OSError(f"could not write fixture {path}")
  return str(path)


def raw_png(path, width, height, colour_type, bit_depth, pixels: bytes, plte=None, trns=None,
            end=True):
  """Assembles a PNG from raw scanline bytes (filter type 0 on every row)."""
  def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
  row = len(pixels) // height
  scanlines = b"".join(b"\0" + pixels[i * row:(i + 1) * row] for i in range(height))
  data = b"\x89PNG\r\n\x1a\n" + chunk(
      b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0))
  if plte:
    data += chunk(b"PLTE", plte)
  if trns:
    data += chunk(b"tRNS", trns)
  data += chunk(b"IDAT", zlib.compress(scanlines))
  if end:
    data += chunk(b"IEND", b"")
  with open(path, "wb") as f:
    f.write(data)
  return str(path)


def sprite_folder(root, names, size=24):
  """Writes one small PNG sprite per relative name; colours vary with the name."""
  for i, name in enumerate(names):
    path = os.path.join(root, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    colour = (40 + 37 * i % 200, 200 - 13 * i % 180, 90 + 29 * i % 160)
    box = (2 + i % 5, 3 + i % 4, size - 2 - i % 3, size - 4)
    write_image(path, sprite(size, size, colour, box))
  return root


def sprites(count, size=32, seed=0):
  """Premultiplied RGBA float32 [count, size, size, 4] in [0, 1]: sprite-like shapes.

  Each is a filled ellipse with a dark outline and an eye on a transparent
  canvas, in a random colour, position and shape: enough structure for a VAE
  to learn quickly. Alpha is 0 or 1, so straight and premultiplied agree.
  """
  rng = np.random.default_rng(seed)
  out = np.zeros((count, size, size, 4), np.uint8)
  for image in out:
    colour = tuple(int(c) for c in rng.integers(40, 255, 3)) + (255,)
    centre = tuple(int(c) for c in rng.integers(size // 3, 2 * size // 3, 2))
    axes = tuple(int(a) for a in rng.integers(size // 6, size // 3, 2))
    cv2.ellipse(image, centre, axes, float(rng.integers(0, 180)), 0, 360, colour, -1)
    cv2.ellipse(image, centre, axes, 0, 0, 360, (20, 20, 30, 255), 1)
    cv2.circle(image, (centre[0] + axes[0] // 3, centre[1] - axes[1] // 3), 2, (0, 0, 0, 255), -1)
  return out.astype(np.float32) / 255.0


def blocky_sprites(count, size, channels=4, seed=0):
  """Pixel art: random 8x8 premultiplied RGBA with hard alpha, scaled up to `size`.

  With `channels` 3, composited on the metrics' grey.
  """
  rng = np.random.default_rng(seed)
  source = rng.random((count, 8, 8, 4)).astype(np.float32)
  source[..., 3] = source[..., 3] > 0.4  # hard alpha, as in sprite sheets
  source[..., :3] *= source[..., 3:]
  images = source.repeat(size // 8, axis=1).repeat(size // 8, axis=2)
  return images if channels == 4 else metrics.composite(images)


def make_sprite_folder(directory, count=80, size=40, seed=0):
  """Writes `count` of `sprites` as `<dex number>.png` into `directory`, which it returns.

  Numbered names make the pipeline group and split them like species.
  """
  os.makedirs(directory, exist_ok=True)
  images = np.round(sprites(count, size, seed) * 255).astype(np.uint8)
  for number, image in enumerate(images, start=1):
    write_image(os.path.join(directory, f"{number}.png"), image)
  return directory


def trainables(config, strategy=None):
  """(model, optimizer, TrainState) for `config`, built as a training run builds them."""
  return loop.build_trainables(config, strategy or tf.distribute.get_strategy())


def compiled_steps(config, strategy=None, total_steps=100):
  """(model, optimizer, TrainState, train_fn): `trainables` with their compiled step."""
  strategy = strategy or tf.distribute.get_strategy()
  keras.utils.set_random_seed(config.seed)
  model, optimizer, state = trainables(config, strategy)
  train_fn = step_lib.make_train_fn(model, optimizer, strategy, config, state,
                                    total_steps=total_steps, global_batch=config.batch_size)
  return model, optimizer, state, train_fn


def random_batches(config, count, poison=None):
  """`count` batches of uniform 8-bit noise [count, batch, S, S, C]; NaN at batch `poison`."""
  rng = np.random.default_rng(0)
  data = config.data
  shape = (count, config.batch_size, data.image_size, data.image_size, data.channels)
  batches = rng.integers(0, 256, shape).astype(np.float32) / 255.0
  if poison is not None:
    batches[poison, 0, 0, 0, 0] = np.nan
  return batches


def make_run(run_dir, config, model=None):
  """A run directory as train_loop.py writes it: config.json and checkpoints/best.

  Returns:
    The checkpoint prefix.
  """
  model = model or VAE.from_config(config)
  config_lib.save(config, os.path.join(run_dir, config_lib.CONFIG_NAME))
  manager = tf.train.CheckpointManager(
      tf.train.Checkpoint(model=model), os.path.join(run_dir, "checkpoints", "best"),
      max_to_keep=1, checkpoint_name="ckpt")
  return manager.save()


ROOT = pathlib.Path(__file__).resolve().parent.parent


def start_program(*args, env=None):
  """Starts `python ARGS` in the repository root in a fresh interpreter; returns the process.

  Args:
    args: what follows `python`: a program and its flags (`"evaluate.py",
      "--ckpt", run`), `"-m", module, ...` or `"-c", code, ...`.
    env: variables set on top of this process's environment.
  """
  return subprocess.Popen([sys.executable, *map(str, args)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})})


def finish_program(process, timeout=300):
  """(exit status, stdout, stderr) of a `start_program` process, once it ends."""
  stdout, stderr = process.communicate(timeout=timeout)
  return process.returncode, stdout, stderr


def run_program(*args, env=None, timeout=600):
  """`start_program` and `finish_program` in one call."""
  return finish_program(start_program(*args, env=env), timeout)


# Made at most once per test session (one pytest process), removed at its exit.
_SESSION = {}
_RUNS = {}
SmokeRun = collections.namedtuple("SmokeRun", "run_dir config model prefix")


def _session_dir():
  if "dir" not in _SESSION:
    path = tempfile.mkdtemp(prefix="pokevae_tests_")
    _SESSION["dir"] = path
    atexit.register(shutil.rmtree, path, True)
  return _SESSION["dir"]


def shared_sprites():
  """A folder of 160 numbered `sprites` (`make_sprite_folder`), written once per session."""
  if "sprites" not in _SESSION:
    _SESSION["sprites"] = make_sprite_folder(os.path.join(_session_dir(), "sprites"),
                                             count=160, size=40)
  return _SESSION["sprites"]


def smoke_run(**changes):
  """A smoke-preset run directory on `shared_sprites`, made once per session for `changes`.

  The model is built with a fixed seed and saved untrained, as
  `checkpoints/best` with `config.json` beside it (`make_run`): what the
  tests that load, evaluate or export a run need, without the minute a
  training run would add to every session. Callers must not write into it.

  Returns:
    A `SmokeRun`: run_dir, config, model (the saved weights), prefix.
  """
  key = tuple(sorted(changes.items()))
  if key not in _RUNS:
    config = config_lib.preset("smoke", data_dir=shared_sprites(), **changes)
    tf.random.set_seed(0)
    model = VAE.from_config(config)
    run_dir = os.path.join(_session_dir(), f"run{len(_RUNS)}")
    _RUNS[key] = SmokeRun(run_dir, config, model, make_run(run_dir, config, model))
  return _RUNS[key]

# TensorFlow's own C++ log lines (e.g. "E0000 00:00:... cuda_platform.cc:52] ...")
# are not a program's output.
TF_LOG_LINE = r"^[IWEF]\d{4} "


def program_lines(stderr):
  """The lines of a program's stderr that are not TensorFlow's log, blank ones left out."""
  import re  # pylint: disable=import-outside-toplevel
  return [line for line in stderr.splitlines() if line.strip() and not re.match(TF_LOG_LINE, line)]
