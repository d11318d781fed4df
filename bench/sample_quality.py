"""The sample-quality ablation: each model variant trained for the same wall time, then evaluated.

  python bench/sample_quality.py [--minutes 8] [--only NAME ...] [--out bench/results/sample_quality]

Each variant is `train_loop.py` with the flags in `VARIANTS` below, run alone
(one at a time, so each has the machine's cores) for `--minutes` with
`--max-minutes`, then `evaluate.py` on the test split once per sampler in
`SAMPLERS` (the ex-post sampler is refitted by evaluate.py when the run trained
another one). With --table-only, rows whose report is missing are left out. Every variant uses the same short schedule (a 600-step beta
warm-up, a cosine over 100 epochs), so that each has left the warm-up well
before the budget ends. It writes OUT/NAME/ (the run and its eval-*/ folders)
and OUT/table.md, the table of bench/README.md. A full run takes about
(minutes + 4) x the number of variants.
"""

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The front sprites of `python -m pipelines.fetch all-frames` (regular and
# shiny, every frame), linked into one folder by `all_frames_front`.
ALL_FRAMES_FRONT = "ALL_FRAMES_FRONT"

COMMON = ["--epochs", "100", "--warmup-steps", "600", "--dashboard", "plain", "--fresh"]
VARIANTS = {
    # The previous default: one global latent of 64.
    "flat64": ["--grid-size", "0", "--latent-dim", "64", "--sampler", "expost"],
    # A global latent of 64 over an 8x8x4 grid.
    "grid8x8x4": ["--grid-size", "8", "--grid-channels", "4", "--latent-dim", "64",
                  "--sampler", "expost"],
    # A global latent of 64 over a 16x16x4 grid (the default until bench/README.md, section 21).
    "grid16x16x4": ["--grid-size", "16", "--grid-channels", "4", "--latent-dim", "64",
                    "--grid-prior", "independent", "--sampler", "expost"],
    # The same, its grid prior a chain over the cells (vae/hierarchy.py).
    "grid16x16x4-ar": ["--grid-size", "16", "--grid-channels", "4", "--latent-dim", "64",
                       "--grid-prior", "autoregressive", "--sampler", "expost"],
    # grid16x16x4 trained on every animation frame of the front sprites,
    # regular and shiny (`all_frames_front` below), evaluated on the bundled
    # test split; its cosine is as long as the bundled set's 100 epochs.
    "grid16x16x4-allframes": ["--grid-size", "16", "--grid-channels", "4", "--latent-dim", "64",
                              "--grid-prior", "independent", "--sampler", "expost",
                              "--max-steps", "1900", "--data-dir", ALL_FRAMES_FRONT],
}
# (name, evaluate.py flags): the prior; the ex-post density of the global
# latent, the grid drawn from p(z2|z1) at three temperatures; the ex-post
# density of the whole code; blends of training codes (vae/samplers/blend.py).
SAMPLERS = (
    ("prior", ["--sampler", "prior", "--grid-temperature", "1.0"]),
    ("expost-top", ["--sampler", "expost", "--expost-latents", "top", "--grid-temperature", "1.0"]),
    ("expost-top-grid0.7", ["--sampler", "expost", "--expost-latents", "top",
                            "--grid-temperature", "0.7"]),
    ("expost-top-grid0.5", ["--sampler", "expost", "--expost-latents", "top",
                            "--grid-temperature", "0.5"]),
    ("expost-all", ["--sampler", "expost", "--expost-latents", "all"]),
    ("blend", ["--sampler", "blend"]),
)
COLUMNS = (
    ("steps", lambda s, r: f"{s['steps']}"),
    ("test bits/dim (IWAE)", lambda s, r: f"{r['bits_per_dim_iwae']:.3f}"),
    ("foreground bits/dim", lambda s, r: f"{r['bits_per_dim_foreground']:.3f}"),
    ("recon PSNR", lambda s, r: f"{r['recon_psnr']:.1f}"),
    ("recon sharpness", lambda s, r: f"{r['sharpness']['reconstructions']:.2f}"),
    ("samples one piece", lambda s, r: f"{r['silhouette']['samples']['one_piece']:.2f}"),
    ("sample pieces", lambda s, r: f"{r['silhouette']['samples']['pieces']:.2f}"),
    ("sample sharpness", lambda s, r: f"{r['sharpness']['samples']:.2f}"),
    ("sample alpha hardness", lambda s, r: f"{r['alpha_hardness']['samples']:.2f}"),
    ("KID", lambda s, r: f"{r['kid']:.4f}"),
    ("precision / recall", lambda s, r: f"{r['precision']:.2f} / {r['recall']:.2f}"),
    ("near-copies", lambda s, r: f"{r['memorization']['near_copy_fraction']:.3f}"),
)


def run(command, log):
  with open(log, "w", encoding="utf-8") as f:
    subprocess.run(command, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, check=True)


def all_frames_front(out):
  """OUT/all-frames-front: hard links to the all-frames set's front sprites, regular and shiny."""
  source = os.path.expanduser(os.path.join("~", ".cache", "pokevae", "all-frames"))
  if not os.path.isfile(os.path.join(source, "COMPLETE.json")):
    sys.exit(f"{source} holds no all-frames set: run python -m pipelines.fetch all-frames first")
  folder = os.path.join(out, "all-frames-front")
  for variant in ("front", "shiny"):
    os.makedirs(os.path.join(folder, variant), exist_ok=True)
    for entry in os.scandir(os.path.join(source, variant)):
      target = os.path.join(folder, variant, entry.name)
      if entry.is_file() and not os.path.exists(target):
        os.link(entry.path, target)
  return folder


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--minutes", type=float, default=8.0)
  parser.add_argument("--only", nargs="*", choices=sorted(VARIANTS), default=None)
  parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "sample_quality"))
  parser.add_argument("--table-only", action="store_true",
                      help="only rebuild table.md from the runs and reports already in --out")
  args = parser.parse_args()
  rows = []
  for name in args.only or VARIANTS:
    run_dir = os.path.join(args.out, name)
    os.makedirs(run_dir, exist_ok=True)
    tic = time.time()
    flags = VARIANTS[name]
    evaluate_flags = []
    if ALL_FRAMES_FRONT in flags:
      evaluate_flags = ["--data-dir", os.path.join(ROOT, "data", "sprites")]
      if not args.table_only:
        flags = [all_frames_front(args.out) if f == ALL_FRAMES_FRONT else f for f in flags]
    if not args.table_only:
      run([sys.executable, "train_loop.py", *flags, *COMMON, "--max-minutes",
           str(args.minutes), "--out", run_dir], os.path.join(args.out, f"{name}.train.log"))
      print(f"{name}: trained in {time.time() - tic:.0f} s", flush=True)
    with open(os.path.join(run_dir, "summary.json"), encoding="utf-8") as f:
      summary = json.load(f)
    for sampler, flags in SAMPLERS:
      if name.startswith("flat") and ("all" in sampler or "grid" in sampler):
        continue  # without a grid these are the expost-top row again.
      report_path = os.path.join(run_dir, f"eval-{sampler}", "report.json")
      if args.table_only and not os.path.exists(report_path):
        continue  # a row not measured.
      if not args.table_only:
        run([sys.executable, "evaluate.py", "--ckpt", run_dir, *flags, *evaluate_flags, "--out",
             os.path.dirname(report_path)], os.path.join(args.out, f"{name}.{sampler}.log"))
      with open(report_path, encoding="utf-8") as f:
        report = json.load(f)
      rows.append([name, sampler] + [cell(summary, report) for _, cell in COLUMNS])
      print(" | ".join(rows[-1]), flush=True)
  header = ["variant", "sampler"] + [title for title, _ in COLUMNS]
  lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
  lines += ["| " + " | ".join(row) + " |" for row in rows]
  with open(os.path.join(args.out, "table.md"), "w", encoding="utf-8") as f:
    f.write("\n".join(lines) + "\n")
  print("\n".join(lines))


if __name__ == "__main__":
  main()
