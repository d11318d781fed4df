"""Makes sprites with a trained PokeVAE: `python generate.py [--ckpt RUN] -n 16 --out DIR`.

--ckpt is a run directory, a checkpoint prefix or a SavedModel folder written
by `evaluate.py --export`; without it, the pretrained model in pretrained/.
One of four things is made, each written into --out with a sheet of them
all and generate.json, which records the model, seed and every setting (the
same command gives byte-identical files):

  (default)          -n new sprites: sprite_0000.png, ...; sheet.png
  --between A B      the path between two sprite files, --steps frames of
                     slerp between their latent codes: frame_0000.png, ...;
                     strip.png (A, the frames, B)
  --mix A B          one 50/50 fusion of two sprite files: mix.png;
                     strip.png (A, the fusion, B)
  --like A           -n variations of one sprite file: its code plus
                     --spread times standard normal noise: sprite_0000.png,
                     ...; sheet.png

--type T (one type, or two as water,flying) makes sprites of that kind, with
a model whose sampler holds the training sprites' types (the pretrained one
does): alone, -n blends of two training sprites of the type; with --like A,
A restyled toward the type, blended halfway with each of its -n nearest
training sprites of the type (one per species).

A, B are image files of any size and format the data pipeline reads (PNG,
JPEG, GIF, BMP, WebP, TIFF): sprites of your own, not just the bundled set.
Files are straight-alpha RGBA (RGB for a model trained on 3 channels, or
with --channels 3, which composites on white). An --out that holds files is
never overwritten without --force.
"""

import argparse
import os
import sys

from common.cli import OneLineParser
from common.errors import first_line
from vae import config as config_lib

PROG = "generate.py"
ROOT = os.path.dirname(os.path.abspath(__file__))
# Where a packaged model lives (see vae/pretrained.py); the variable lets a
# user or a test point elsewhere.
PRETRAINED_ENV = "POKEVAE_PRETRAINED"
OUTPUT_PREFIXES = ("sprite_", "frame_", "sheet.", "strip.", "mix.", "generate.json")


def pretrained_dir():
  return os.environ.get(PRETRAINED_ENV) or os.path.join(ROOT, "pretrained")


def _at_least(minimum, name):
  def parse(text):
    try:
      value = int(text)
    except ValueError:
      raise argparse.ArgumentTypeError(f"{name} must be an integer, got {text!r}") from None
    if value < minimum:
      raise argparse.ArgumentTypeError(f"{name} must be at least {minimum}, got {value}")
    return value
  return parse


def _positive(name):
  def parse(text):
    try:
      value = float(text)
    except ValueError:
      raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
    if not value > 0:  # also refuses nan
      raise argparse.ArgumentTypeError(f"{name} must be positive, got {text}")
    return value
  return parse


def parse_args(argv=None):
  parser = OneLineParser(prog=PROG, description=__doc__,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--ckpt", default=None,
                      help="run directory, checkpoint prefix or SavedModel folder "
                           f"(default: pretrained/, or ${PRETRAINED_ENV})")
  config_lib.add_which_flag(parser)
  parser.add_argument("-n", type=_at_least(1, "-n"), default=16,
                      help="sprites to make, or variations with --like (default: 16)")
  parser.add_argument("--out", default="generated", help="output folder (default: generated)")
  parser.add_argument("--force", action="store_true",
                      help="write into an --out that already holds files")
  parser.add_argument("--seed", type=int, default=0, help="seed of every draw (default: 0)")
  parser.add_argument("--temperature", type=_positive("--temperature"), default=1.0,
                      help="sampler scale: 1 is the model's own, lower is cleaner and "
                           "less varied; the blend sampler has none (default: 1.0)")
  parser.add_argument("--scale", type=_at_least(1, "--scale"), default=1, metavar="K",
                      help="nearest-neighbour upscaling of every pixel (default: 1)")
  parser.add_argument("--size", choices=("native", "96"), default="native",
                      help="native: the model's size; 96: on a 96 px canvas like the "
                           "original sprites (default: native)")
  parser.add_argument("--pixel-art", action="store_true",
                      help="16 colours per sprite and a hard alpha edge")
  parser.add_argument("--format", choices=("png", "webp"), default="png",
                      help="file format, both lossless (default: png)")
  parser.add_argument("--channels", type=int, choices=(3, 4), default=None,
                      help="4: RGBA, 3: RGB on white (default: the model's)")
  mode = parser.add_mutually_exclusive_group()
  mode.add_argument("--between", nargs=2, metavar=("A", "B"),
                    help="the path between two sprite files")
  mode.add_argument("--mix", nargs=2, metavar=("A", "B"), help="a 50/50 fusion of two sprite files")
  mode.add_argument("--like", metavar="A", help="variations of one sprite file")
  parser.add_argument("--steps", type=_at_least(2, "--steps"), default=None,
                      help="frames of --between, ends included (default: 8)")
  parser.add_argument("--spread", type=_positive("--spread"), default=None,
                      help="noise of --like in prior standard deviations (default: 0.5)")
  parser.add_argument("--type", default=None, metavar="T",
                      help="sprites of a type (fire) or two (water,flying); with --like, "
                           "that sprite restyled toward it")
  args = parser.parse_args(argv)
  if args.type is not None:
    from pipelines.types_table import parse_types  # pylint: disable=import-outside-toplevel
    try:
      parse_types(args.type)
    except ValueError as error:
      parser.error(f"--type: {error}")
    if args.between or args.mix:
      parser.error("--type goes with sampling or --like, not --between or --mix")
    if args.spread is not None:
      parser.error("--spread goes with --like without --type (a restyle has no noise)")
  if args.spread is not None and not args.like:
    parser.error("--spread goes with --like")
  if args.steps is not None and not args.between:
    parser.error("--steps goes with --between")
  args.steps = 8 if args.steps is None else args.steps
  args.spread = 0.5 if args.spread is None else args.spread
  return args


class RequestError(ValueError):
  """A request that cannot be served, found before the model is loaded."""


def check_request(args):
  """Checks paths and inputs without TensorFlow, so that mistakes answer at once.

  Returns:
    The checkpoint path to load.
  """
  ckpt = args.ckpt
  if ckpt is None:
    ckpt = pretrained_dir()
    if not os.path.isdir(ckpt):
      raise RequestError(f"no --ckpt given and no pretrained model in {ckpt}: train one "
                         "(python train_loop.py) and pass --ckpt RUN")
  elif not (os.path.exists(ckpt) or os.path.exists(ckpt + ".index")):
    raise RequestError(f"--ckpt {ckpt} does not exist: pass a run directory, a checkpoint "
                       "prefix or a SavedModel folder")
  for path in inputs(args):
    if not os.path.isfile(path):
      raise RequestError(f"{path} does not exist or is not a file: pass a sprite image file")
  if os.path.exists(args.out) and not os.path.isdir(args.out):
    raise RequestError(f"--out {args.out} is a file, not a folder: choose another --out")
  if os.path.isdir(args.out) and os.listdir(args.out) and not args.force:
    raise RequestError(f"--out {args.out} already holds files: pass --force to write "
                       "into it or choose another --out")
  return ckpt


def inputs(args):
  return list(args.between or args.mix or ([args.like] if args.like else []))


def clear_previous_output(out):
  """Removes the files an earlier run of this program left in `out` (--force)."""
  for name in os.listdir(out):
    if name.startswith(OUTPUT_PREFIXES) and os.path.isfile(os.path.join(out, name)):
      os.remove(os.path.join(out, name))


def mode_of(args):
  return ("between" if args.between else "mix" if args.mix else "like" if args.like
          else "sample")


def draw(args, generator, bar, task):
  """What the request asks for, as model images [N, S, S, C].

  Returns:
    (images, the slice of them written one per file, file name stem, sheet name stem).
  """
  import numpy as np  # pylint: disable=import-outside-toplevel
  mode = mode_of(args)
  sources = [generator.read_sprite(path) for path in inputs(args)]
  types = None if args.type is None else generator.parse_types(args.type)
  if mode == "sample":
    bar.update(task, description="sampling", total=args.n, completed=0)
    images = generator.sample(args.n, args.temperature, args.seed,
                              on_chunk=lambda count: bar.advance(task, count), types=types)
    return images, slice(None), "sprite", "sheet"
  bar.update(task, description=f"decoding ({mode})", total=None)
  if mode == "like" and types is not None:
    return generator.restyle(sources[0], args.n, types), slice(None), "sprite", "sheet"
  if mode == "like":
    images = generator.like(sources[0], args.n, args.spread, args.seed)
    return images, slice(None), "sprite", "sheet"
  # A strip: sprite A, what lies between, sprite B (the fusion is the path's midpoint).
  made = (generator.between(*sources, args.steps) if mode == "between" else
          generator.between(*sources, 3)[1:2])
  images = np.concatenate([sources[0][None], made, sources[1][None]])
  return images, slice(1, -1), "frame" if mode == "between" else "mix", "strip"


def record(args, generator, files):
  """generate.json: the model, the sampler, every setting, the inputs and the files."""
  import hashlib  # pylint: disable=import-outside-toplevel
  import json  # pylint: disable=import-outside-toplevel

  def sha256(path):
    with open(path, "rb") as f:
      return hashlib.sha256(f.read()).hexdigest()

  return json.dumps(dict(
      program=PROG, mode=mode_of(args), checkpoint=generator.checkpoint,
      sampler=generator.sampler,
      # Where the files went is not how they were made: leaving --out and
      # --force out lets two folders made by one request compare equal.
      settings={k: v for k, v in sorted(vars(args).items()) if k not in ("out", "force")},
      inputs=[dict(path=path, sha256=sha256(path)) for path in inputs(args)],
      model=dict(image_size=generator.image_size, channels=generator.channels,
                 code_dim=generator.code_dim),
      files=files, config=json.loads(generator.config.to_json())),
      indent=2, sort_keys=True) + "\n"


def run(args, ckpt):
  """Loads the model, draws, and writes the files; returns what was written, in words."""
  # pylint: disable=import-outside-toplevel
  from rich.console import Console
  from rich import progress as rich_progress

  import pipelines
  from vae import generation
  from vae.rundir import files

  columns = (rich_progress.SpinnerColumn(), rich_progress.TextColumn("{task.description}"),
             rich_progress.BarColumn(), rich_progress.MofNCompleteColumn(),
             rich_progress.TimeElapsedColumn())
  with rich_progress.Progress(*columns, console=Console(stderr=True), transient=True) as bar:
    task = bar.add_task("loading the model", total=None)
    generator = generation.load(ckpt, args.which, log=warn)
    if args.channels == 4 and generator.channels == 3:
      raise generation.GenerationError(
          f"--channels 4 asks for RGBA, but {generator.checkpoint} was trained on 3 channels "
          "(RGB): leave out --channels")
    images, single, stem, sheet_stem = draw(args, generator, bar, task)
    pixels = generation.finish(
        images, generator.channels, size=96 if args.size == "96" else None,
        pixel_art=args.pixel_art, rgb=args.channels == 3, scale=args.scale, seed=args.seed)
    singles = pixels[single]
    names = ([f"mix.{args.format}"] if stem == "mix" else
             [f"{stem}_{i:04d}.{args.format}" for i in range(len(singles))])
    sheet = f"{sheet_stem}.{args.format}"
    bar.update(task, description="writing", total=len(names) + 2, completed=0)
    # Each file is written whole or not at all (pipelines.write_png); a failed
    # write is one line naming the file and the space left.
    with files.writing(args.out):
      os.makedirs(args.out, exist_ok=True)
      if args.force:
        clear_previous_output(args.out)
      for name, image in zip(names, singles):
        pipelines.write_png(os.path.join(args.out, name), image)  # the extension picks the codec
        bar.advance(task)
      ncols = len(pixels) if sheet_stem == "strip" else min(8, len(pixels))
      pipelines.write_png(os.path.join(args.out, sheet), pipelines.image_grid(pixels, ncols=ncols))
    files.write_text(os.path.join(args.out, "generate.json"), record(args, generator, names + [sheet]))
    bar.advance(task, 2)
  return f"{len(names)} {'file' if len(names) == 1 else 'files'}, {sheet} and generate.json"


def warn(line):
  """One line on stderr: a damaged checkpoint skipped."""
  print(f"{PROG}: warning: {line}", file=sys.stderr)


def main(argv=None):
  args = parse_args(argv)
  from vae import rundir  # pylint: disable=import-outside-toplevel  # (no TensorFlow)
  try:
    ckpt = check_request(args)
    # TensorFlow loads only now, so --help and mistakes above answer at once.
    from common import startup  # pylint: disable=import-outside-toplevel
    tf = startup.import_tensorflow()
    tf.get_logger().setLevel("ERROR")
    written = run(args, ckpt)
  except rundir.RunDirError as error:  # No readable model (2), a failed write (1).
    print(f"{PROG}: error: {error}", file=sys.stderr)
    return error.status
  except (RequestError, OSError) as error:
    print(f"{PROG}: error: {error}", file=sys.stderr)
    return 2
  except ValueError as error:  # GenerationError and the model's own checks
    print(f"{PROG}: error: {first_line(error)}", file=sys.stderr)
    return 2
  print(f"wrote {written} to {args.out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
