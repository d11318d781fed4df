"""Resident memory of train_loop.py training on the all-frames set through the disk cache.

  python bench/memory.py [--quick] [--epochs N] [--data-dir DIR] [--cache-dir DIR]

Runs `train_loop.py` (the `default` preset) as a child process on the
all-frames sprite set (`python -m pipelines.fetch all-frames` puts it in
~/.cache/pokevae/all-frames) with `--cache DIR`, the on-disk tf.data cache:
the first run decodes every file into it, later runs read it. The parent
samples the child's resident set size (/proc/PID/status VmRSS) twice a second
and reads the child's epoch lines, and reports the peak RSS of loading and of
each epoch, the RSS at each epoch's end, and the kernel's high-water mark
(VmHWM). Target: at most 2 GB, flat over epochs. Writes
bench/results/memory.json. --quick trains 2 epochs, the default 4.
"""

import argparse
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import threading
import time

import harness

EPOCH_LINE = re.compile(r"^epoch (\d+) step (\d+)")


def rss_mb(pid):
  """(VmRSS, VmHWM) of `pid` in MB, or None once it has exited."""
  try:
    with open(f"/proc/{pid}/status", encoding="utf-8") as f:
      fields = dict(line.split(":", 1) for line in f if ":" in line)
  except OSError:
    return None
  kb = lambda key: int(fields.get(key, "0 kB").split()[0])  # noqa: E731
  return kb("VmRSS") / 1024, kb("VmHWM") / 1024


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--quick", action="store_true", help="2 epochs")
  parser.add_argument("--epochs", type=int, default=4)
  parser.add_argument("--data-dir", type=pathlib.Path,
                      default=pathlib.Path("~/.cache/pokevae/all-frames").expanduser())
  parser.add_argument("--cache-dir", type=pathlib.Path,
                      default=pathlib.Path("~/.cache/pokevae/tfdata-all-frames").expanduser(),
                      help="on-disk tf.data cache (kept between runs)")
  args = parser.parse_args()
  if args.quick:
    args.epochs = 2
  if not (args.data_dir / "COMPLETE.json").exists():
    print(f"memory.py: error: no all-frames set in {args.data_dir}; fetch it with "
          f"python -m pipelines.fetch all-frames", file=sys.stderr)
    return 2
  cache_existed = args.cache_dir.exists() and any(args.cache_dir.glob("*.index"))
  with tempfile.TemporaryDirectory(prefix="pokevae-memory-") as out:
    command = [sys.executable, str(harness.REPO / "train_loop.py"), "--data-dir", str(args.data_dir),
               "--cache", str(args.cache_dir), "--epochs", str(args.epochs),
               "--patience", str(args.epochs + 1), "--out", out, "--fresh", "--dashboard", "plain",
               "--checkpoint-every", "1000000"]
    start = time.time()
    child = subprocess.Popen(command, cwd=str(harness.REPO), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True,
                             env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    samples, marks, lines = [], [], []

    def read_output():
      for line in child.stdout:
        lines.append(line.rstrip())
        match = EPOCH_LINE.match(line)
        if match:
          marks.append({"epoch": int(match.group(1)), "step": int(match.group(2)),
                        "seconds": time.time() - start})
        elif line.startswith("training ") and not marks:
          marks.append({"epoch": 0, "step": 0, "seconds": time.time() - start})

    reader = threading.Thread(target=read_output, daemon=True)
    reader.start()
    high_water = 0.0
    while child.poll() is None:
      sample = rss_mb(child.pid)
      if sample:
        samples.append((time.time() - start, sample[0]))
        high_water = max(high_water, sample[1])
      time.sleep(0.5)
    reader.join(timeout=10)
  if child.returncode != 0:
    print("\n".join(lines[-20:]))
    print(f"memory.py: error: train_loop.py exited with {child.returncode}", file=sys.stderr)
    return 1
  # Phases: loading (until the "training ..." line), then one per epoch.
  bounds = [0.0] + [m["seconds"] for m in marks] + [float("inf")]
  names = ["load (decode or read cache, build, trace)"] + [f"epoch {m['epoch'] + 1}" for m in marks[:-1]]
  names += ["after the last epoch"]
  rows = []
  for name, lo, hi in zip(names, bounds, bounds[1:]):
    inside = [rss for t, rss in samples if lo <= t < hi]
    if inside:
      rows.append({"name": name, "peak_mb": max(inside), "end_mb": inside[-1], "seconds": min(hi, samples[-1][0]) - lo})
  epoch_peaks = [r["peak_mb"] for r in rows if r["name"].startswith("epoch")]
  print(harness.table(rows, [("name", "phase", "{}"), ("seconds", "seconds", "{:.0f}"),
                             ("peak_mb", "peak RSS MB", "{:.0f}"), ("end_mb", "RSS at end MB", "{:.0f}")],
                      title=f"train_loop.py on {args.data_dir} through the disk cache "
                            f"({'read' if cache_existed else 'filled'} this run)"))
  peak = max(rss for _, rss in samples)
  spread = (max(epoch_peaks) - min(epoch_peaks)) if epoch_peaks else None
  print(f"peak RSS {peak:.0f} MB sampled, {high_water:.0f} MB high-water mark (target <= 2048 MB: "
        f"{'met' if high_water <= 2048 else 'not met'}); epoch peaks spread "
        f"{spread if spread is None else round(spread)} MB over {len(epoch_peaks)} epochs")
  path = harness.write_result("memory", {
      "rows": rows, "peak_sampled_mb": peak, "high_water_mb": high_water,
      "epoch_peak_spread_mb": spread, "cache_existed": cache_existed, "epochs": args.epochs,
      "data_dir": str(args.data_dir), "cache_dir": str(args.cache_dir), "command": command,
      "samples": samples[::4], "epoch_marks": marks, "log_tail": lines[-8:], "quick": args.quick})
  print(f"wrote {path}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
