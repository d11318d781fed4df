"""Benchmark of the data pipeline: decoding and cached throughput, peak memory.

  python bench/pipeline.py [--quick] [--all-frames-dir DIR] [--out FILE.json]

For the bundled set, and for the all-frames set when it has been extracted
(python -m pipelines.fetch all-frames), each with the in-memory cache and
with an on-disk cache, it measures in a fresh process:

  first pass   load(): list, check headers, decode, resize, fill the cache
  reload       load() again: with a disk cache this reads it, decoding nothing
  train epoch  dataset("train", training=True): shuffle, augment, batch
  eval epoch   dataset("val"... training=False) over every split: cache -> batch

as images/s, plus the process's peak resident memory. Prints a table and
writes JSON (default bench/results/pipeline.json).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# pylint: disable=wrong-import-position
import argparse
import json
import pathlib
import platform
import resource
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # Run as a script from anywhere in the checkout.

from pipelines.fetch import sprite_sets  # pylint: disable=wrong-import-position

BATCH = 256


def measure(data_dir, cache, epochs, image_size) -> dict:
  """Runs in the child process: one data set, one cache mode."""
  import pipelines  # pylint: disable=import-outside-toplevel
  from pipelines import dataset  # pylint: disable=import-outside-toplevel,unused-import
  # TensorFlow is now imported, so its start-up is not timed as decoding.
  config = pipelines.DataConfig(data_dir=data_dir, cache=cache, image_size=image_size, hue=True)
  start = time.perf_counter()
  data = pipelines.load(config)
  first = time.perf_counter() - start
  total = sum(data.count(s) for s in ("train", "val", "test"))
  result = {"images": total, "files": len(data.records),
            "first_pass_images_per_s": total / first, "first_pass_s": first}
  if cache not in ("memory", "none"):
    start = time.perf_counter()
    data = pipelines.load(config)
    result["reload_images_per_s"] = total / (time.perf_counter() - start)
  train_rates = []
  for epoch in range(epochs):
    start = time.perf_counter()
    for _ in data.dataset("train", BATCH, training=True, seed=epoch):
      pass
    train_rates.append(data.count("train") / (time.perf_counter() - start))
  start = time.perf_counter()
  for split in ("train", "val", "test"):
    for _ in data.dataset(split, BATCH, training=False):
      pass
  result["train_epoch_images_per_s"] = max(train_rates)
  result["eval_epoch_images_per_s"] = total / (time.perf_counter() - start)
  # ru_maxrss is in KiB on Linux.
  result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  return result


def run_child(name, data_dir, cache, args) -> dict:
  command = [sys.executable, __file__, "--child", data_dir, "--cache", cache,
             "--epochs", str(args.epochs), "--image-size", str(args.image_size)]
  done = subprocess.run(command, capture_output=True, text=True, check=False)
  if done.returncode != 0:
    lines = done.stderr.strip().splitlines() or ["no output"]
    return {"set": name, "cache": cache, "error": lines[-1]}
  return {"set": name, "cache": cache, **json.loads(done.stdout.strip().splitlines()[-1])}


def print_table(rows):
  from rich.console import Console  # pylint: disable=import-outside-toplevel
  from rich.table import Table  # pylint: disable=import-outside-toplevel
  table = Table("set", "cache", "images", "first pass img/s", "reload img/s",
                "train epoch img/s", "eval epoch img/s", "peak RSS MB",
                title=f"pipeline throughput (batch {BATCH})")
  for row in rows:
    if "error" in row:
      table.add_row(row["set"], row["cache"], "error: " + row["error"])
      continue
    reload = row.get("reload_images_per_s")
    table.add_row(row["set"], row["cache"], str(row["images"]),
                  f"{row['first_pass_images_per_s']:,.0f}",
                  f"{reload:,.0f}" if reload else "-",
                  f"{row['train_epoch_images_per_s']:,.0f}",
                  f"{row['eval_epoch_images_per_s']:,.0f}", f"{row['peak_rss_mb']:,.0f}")
  Console(width=max(Console().width, 120)).print(table)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--quick", action="store_true",
                      help="one cached epoch, and only the front sprites of the all-frames set")
  parser.add_argument("--all-frames-dir", type=pathlib.Path,
                      default=sprite_sets.DEFAULT_ALL_FRAMES.expanduser())
  parser.add_argument("--out", type=pathlib.Path, default=REPO / "bench/results/pipeline.json")
  parser.add_argument("--epochs", type=int, default=3, help="cached epochs (best is reported)")
  parser.add_argument("--image-size", type=int, default=64)
  parser.add_argument("--child", help=argparse.SUPPRESS)
  parser.add_argument("--cache", default="memory", help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child is not None:
    print(json.dumps(measure(args.child, args.cache, args.epochs, args.image_size)))
    return 0
  if args.quick:
    args.epochs = 1
  sets = [("bundled", "")]
  if (args.all_frames_dir / "COMPLETE.json").exists():
    sets.append(("all-frames/front" if args.quick else "all-frames",
                 str(args.all_frames_dir / "front" if args.quick else args.all_frames_dir)))
  else:
    print(f"all-frames set not found in {args.all_frames_dir}; extract it with:\n"
          f"  python -m pipelines.fetch all-frames --cache-dir {args.all_frames_dir}")
  rows, load_before = [], os.getloadavg()
  with tempfile.TemporaryDirectory(prefix="pokevae-bench-") as scratch:
    for name, data_dir in sets:
      for cache in ("memory", os.path.join(scratch, name.replace("/", "-"))):
        rows.append(run_child(name, data_dir, cache, args))
        if not cache.startswith("memory"):
          rows[-1]["cache"] = "disk"
  print_table(rows)
  # Other processes share the CPUs; the load average says how much they took.
  load = {"before": load_before, "after": os.getloadavg()}
  print(f"{os.cpu_count()} CPUs; 1-minute load average {load['before'][0]:.1f} before, "
        f"{load['after'][0]:.1f} after")
  args.out.parent.mkdir(parents=True, exist_ok=True)
  args.out.write_text(json.dumps({
      "rows": rows, "batch_size": BATCH, "image_size": args.image_size,
      "epochs": args.epochs, "quick": args.quick, "cpus": os.cpu_count(),
      "load_average": load, "machine": platform.platform(),
      "python": platform.python_version()}, indent=2))
  print(f"wrote {args.out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
