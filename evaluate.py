"""Evaluates a trained PokeVAE: `python evaluate.py --ckpt RUN_DIR [options]`.

Rebuilds the model from the `config.json` saved beside the checkpoint (so no
training flag is repeated), computes the report of `vae/evaluation/report.py` on a
held-out split, prints it as a table (or JSON with --json) and writes, into
--out (default RUN_DIR/eval/):

  report.json             every metric, with the settings that produced it
  report.html             one page to open in a browser: the config, every
                          metric with what it means, the validation curve of
                          training, and the pictures below
  reconstructions.png     held-out sprites, each above its reconstruction
  samples.png             64 samples at --temperature
  samples_vs_real.png     32 samples (left) beside 32 held-out sprites (right)
  interpolations.png      6 rows: sprite, 8 decodings along a slerp path
                          between two held-out posterior means, sprite
  traversals.png          8 rows, the most informative latent dimensions
                          (largest kl_per_dim): a held-out sprite, then its
                          code with that dimension moved -3 .. +3
  nearest_neighbors.png   the 16 samples most like a copy of a training sprite
                          (by the pixel-space ratio test), each above it
  samples_pixel_art.png   with --pixel-art: the samples in 16 colours each,
                          with a hard alpha edge

`fd`, `kid`, `precision`, `recall`, `density` and `coverage` are computed in
a seeded random-convnet feature space (`vae/evaluation/features.py`): comparable between
runs of this project, not with published (ImageNet Inception) FIDs. The
IWAE bound uses --iw-samples K importance samples: 1000 by default when a GPU
is visible, 100 on CPU, where K = 1000 takes ten times as long and the bound
tightens slowly with K (bench/README.md: compare runs at the same K). With
--export DIR the model is also written as a SavedModel that runs with
TensorFlow alone (see `vae/rundir/savedmodel.py`). The same command gives the same
numbers (--seed).
"""

import argparse
import json
import os
import sys

from common import cli, startup
from pipelines.config import SPLITS
from pipelines.errors import NoImagesError
from vae import config as config_lib

PROG = "evaluate.py"
CPU_IW_SAMPLES, GPU_IW_SAMPLES = 100, 1000


def parse_args(argv=None):
  parser = cli.OneLineParser(prog=PROG, description=__doc__,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--ckpt", required=True,
                      help="a run directory (holding config.json and checkpoints/) "
                           "or a checkpoint prefix such as RUN/checkpoints/best/ckpt-40")
  config_lib.add_which_flag(parser)
  parser.add_argument("--data-dir", default=None,
                      help="data folder (default: the run's data_dir)")
  parser.add_argument("--split", choices=SPLITS, default="test",
                      help="split to evaluate (default: test)")
  parser.add_argument("--limit", type=int, default=None, metavar="N",
                      help="evaluate the split's first N sprites only (default: all)")
  parser.add_argument("--out", default=None, help="output folder (default: RUN/eval)")
  parser.add_argument("--iw-samples", type=int, default=None,
                      help=f"importance samples K of the IWAE bound (default: "
                           f"{GPU_IW_SAMPLES} when a GPU is visible, else "
                           f"{CPU_IW_SAMPLES}, which CPUs finish in minutes)")
  parser.add_argument("--num-samples", type=int, default=500,
                      help="samples drawn for the sample metrics (default: 500)")
  parser.add_argument("--temperature", type=float, default=1.0,
                      help="scale of the sampler for the samples (default: 1.0)")
  parser.add_argument("--sampler", choices=config_lib.SAMPLERS, default=None,
                      help="draw the codes of samples from the prior, the ex-post density, "
                           "blends of training codes, or quilts (a new z1, the grid pieced from training "
                           "sprites' blocks) (default: the run's --sampler)")
  parser.add_argument("--grid-temperature", type=float, default=None,
                      help="sampling temperature of the latent grid relative to --temperature "
                           "(default: the run's)")
  parser.add_argument("--expost-latents", choices=config_lib.EXPOST_LATENTS, default=None,
                      help="with --sampler expost: fit the density to the global latent "
                           "only, or to the whole code (default: the run's setting)")
  parser.add_argument("--seed", type=int, default=0, help="seed of every draw (default: 0)")
  parser.add_argument("--export", default=None, metavar="DIR",
                      help="also write the model as a SavedModel to DIR")
  parser.add_argument("--json", action="store_true",
                      help="print the report as JSON on stdout (the table goes to stderr)")
  parser.add_argument("--pixel-art", action="store_true",
                      help="also write samples_pixel_art.png")
  args = parser.parse_args(argv)
  if args.iw_samples is not None and args.iw_samples < 1:
    parser.error(f"--iw-samples must be at least 1, got {args.iw_samples}")
  if args.limit is not None and args.limit < 2:
    parser.error(f"--limit must be at least 2, got {args.limit}")
  if args.num_samples < 2:
    parser.error(f"--num-samples must be at least 2, got {args.num_samples}")
  if not args.temperature > 0:
    parser.error(f"--temperature must be positive, got {args.temperature}")
  if args.grid_temperature is not None and not args.grid_temperature > 0:
    parser.error(f"--grid-temperature must be positive, got {args.grid_temperature}")
  return args


def default_iw_samples():
  """K of the IWAE bound when --iw-samples is not given: more with a GPU."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  return GPU_IW_SAMPLES if tf.config.list_physical_devices("GPU") else CPU_IW_SAMPLES


# (key, format, what it means) for the console table, short enough for 80
# columns; kl_per_dim and memorization are summarised rather than listed.
_TABLE_ROWS = (
    ("elbo", "{:.1f}", "nats/image, higher is better"),
    ("distortion", "{:.1f}", "-log p(x|z), nats/image"),
    ("rate", "{:.2f}", "KL(q(z|x) || p(z)), nats/image"),
    ("bits_per_dim_elbo", "{:.4f}", "-ELBO, bits/value, lower is better"),
    ("bits_per_dim_iwae", "{:.4f}", "-IWAE bound, bits/value"),
    ("bits_per_dim_foreground", "{:.4f}", "-ELBO over the sprites' own pixels"),
    ("active_units", "{}", "units whose posterior mean varies"),
    ("recon_psnr", "{:.2f}", "reconstruction PSNR, dB"),
    ("recon_ssim", "{:.4f}", "reconstruction SSIM, 1 is identical"),
    ("fd", "{:.4g}", "Frechet distance *"),
    ("kid", "{:.4g}", "kernel distance *"),
    ("precision", "{:.3f}", "samples near the data (fidelity) *"),
    ("recall", "{:.3f}", "data near samples (diversity) *"),
    ("density", "{:.3f}", "about 1 when samples follow data *"),
    ("coverage", "{:.3f}", "data neighbourhoods with a sample *"),
)


def report_table(report):
  """The report as a `rich.table.Table`."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  from rich.table import Table  # pylint: disable=import-outside-toplevel
  from vae.evaluation import report as report_lib  # pylint: disable=import-outside-toplevel
  copies = report["memorization"]
  table = Table(
      title=(f"{report['checkpoint']}\n{report['num_images']} {report['split']} images, "
             f"{report['num_samples']} samples from the {report['sampler']} "
             f"at temperature {report['temperature']:g}"),
      caption=("* in a seeded random-convnet feature space, not ImageNet FID; "
               f"memorization: share of samples nearer a training sprite than "
               f"{report_lib.MEMORIZATION_QUANTILE:.0%} of held-out sprites are "
               f"(about {report_lib.MEMORIZATION_QUANTILE:g} when nothing is copied)"))
  table.add_column("metric")
  table.add_column("value", justify="right")
  table.add_column("meaning")
  for key, form, meaning in _TABLE_ROWS:
    value = form.format(report[key])
    if key == "bits_per_dim_iwae":
      meaning += f", K={report['iw_samples']}"
    elif key == "active_units":
      value += f" / {report['latent_dim']}"
    elif key == "kid":
      value += f" ± {report['kid_std']:.1g}"
    table.add_row(key, value, meaning)
  kl = np.sort(np.asarray(report["kl_per_dim"]))[::-1]
  table.add_row("kl_per_dim", " ".join(f"{v:.2f}" for v in kl[:3]),
                "largest per-dimension KL, nats")
  table.add_row("memorization", f"{copies['near_copy_fraction']:.3f}",
                f"near-copies (ratio < {copies['threshold']:.3f}) *")
  table.add_row("memorization (pixels)", f"{copies['pixel_near_copy_fraction']:.3f}",
                "near-copies by the ratio test on 32 px composites")
  if copies.get("shape_near_copy_fraction") is not None:
    table.add_row("memorization (shapes)", f"{copies['shape_near_copy_fraction']:.3f}",
                  "the same on 32 px silhouettes: a recoloured copy counts")
  for name, scores in (report["realism"] or {}).items():
    table.add_row(f"realism ({name})", f"{scores['accuracy']:.3f}",
                  f"convnet tells them from held-out: 0.5 cannot; log-loss "
                  f"{scores['log_loss']:.3f}")
    table.add_row(f"realism, linear ({name})", f"{scores['linear_accuracy']:.3f}",
                  "the same, linear on pixels and gradients: texture fools it")
  shapes, sharp, hard = report["silhouette"], report["sharpness"], report["alpha_hardness"]
  for name in ("samples", "reconstructions"):
    table.add_row(f"one_piece ({name})",
                  f"{shapes[name]['one_piece']:.3f}",
                  f"one silhouette; {shapes[name]['pieces']:.2f} pieces "
                  f"(real: {shapes['real']['one_piece']:.2f}, {shapes['real']['pieces']:.2f})")
    table.add_row(f"sharpness ({name})", f"{sharp[name]:.3f}", "edge strength / real's")
    if hard[name] is not None:
      table.add_row(f"alpha_hardness ({name})", f"{hard[name]:.3f}",
                    f"alpha near 0 or 1 (real: {hard['real']:.3f})")
  return table


def run(args):
  """Evaluates, writes the outputs and prints the report; returns the report.

  An --export into a run directory holds that run's lock while it writes.
  """
  import contextlib  # pylint: disable=import-outside-toplevel
  from rich.console import Console  # pylint: disable=import-outside-toplevel
  from vae import pictures  # pylint: disable=import-outside-toplevel
  from vae.evaluation import page  # pylint: disable=import-outside-toplevel
  from vae.evaluation import report as report_lib  # pylint: disable=import-outside-toplevel
  from vae.rundir import files, lock, savedmodel  # pylint: disable=import-outside-toplevel
  export_run = lock.run_containing(args.export) if args.export else None
  owner = lock.RunLock(export_run, PROG).acquire(warn) if export_run else contextlib.nullcontext()
  with owner:
    model, config, config_path, result = report_lib.report_on_run(
        args.ckpt, which=args.which, data_dir=args.data_dir, split=args.split, limit=args.limit,
        log=warn, iw_samples=args.iw_samples or default_iw_samples(),
        num_samples=args.num_samples, temperature=args.temperature, seed=args.seed,
        sampler=args.sampler, expost_latents=args.expost_latents,
        grid_temperature=args.grid_temperature)
    out = args.out or os.path.join(os.path.dirname(config_path), "eval")
    files.write_json(os.path.join(out, "report.json"), result.report)
    with files.writing(out):  # Each picture is written whole or not at all.
      drawn = pictures.write_pictures(out, model, result, with_pixel_art=args.pixel_art,
                                      seed=args.seed)
    page.write(out, result.report, json.loads(config.to_json()), drawn,
               run_dir=os.path.dirname(config_path))
    if args.export:
      savedmodel.export(model, args.export, config_json=config.to_json())
  console = Console(stderr=args.json)
  console.print(report_table(result.report))
  console.print(f"wrote {out}" + (f" and the SavedModel {args.export}" if args.export else ""))
  if args.json:
    print(json.dumps(result.report, indent=2))
  return result.report


def warn(line):
  """One line on stderr: a damaged checkpoint skipped, a stale lock taken over."""
  print(f"{PROG}: warning: {line}", file=sys.stderr)


def main(argv=None):
  args = parse_args(argv)
  # TensorFlow loads only now, so --help and a bad flag answer at once.
  tf = startup.import_tensorflow()
  from vae import rundir  # pylint: disable=import-outside-toplevel
  from vae.evaluation import report as report_lib  # pylint: disable=import-outside-toplevel
  # Restoring only the model from a training checkpoint leaves the optimizer's
  # values unread; TensorFlow's warnings about that say nothing to a user.
  tf.get_logger().setLevel("ERROR")
  try:
    run(args)
  except rundir.RunDirError as error:  # No readable checkpoint, a run in use (2), a failed write (1).
    print(f"{PROG}: error: {error}", file=sys.stderr)
    return error.status
  except (report_lib.EvaluationError, NoImagesError, OSError) as error:
    print(f"{PROG}: error: {error}", file=sys.stderr)
    return 2
  return 0


if __name__ == "__main__":
  sys.exit(main())
