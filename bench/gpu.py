"""Training speed on a GPU: float32, mixed precision, XLA; mixed precision's loss curve.

  python bench/gpu.py [--quick] [--rounds N] [--batch-size N] [--curve-steps N] [--allow-cpu]

1. Throughput: train_loop.py's compiled loop (`make_train_fn`, guards on) on
   the `default` preset in four processes, timed in turn (bench/harness.py):
   float32, --mixed-precision (float16 arithmetic, float32 variables, dynamic
   loss scale), --xla, and both. Images/s min / median / max and ratios.
2. Loss curve: two train_loop.py runs of --curve-steps steps from the same
   seed, float32 and --mixed-precision, logging every 10 steps; the training
   loss of both (TensorBoard `train/loss`), their largest relative gap after
   the first 10 % of steps, and a PNG of the two curves.

Writes bench/results/gpu.json and gpu_loss_curves.png. Refuses to run
without a GPU unless --allow-cpu (float16 on a CPU measures nothing useful).
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile

import harness


def has_gpu():
  probe = "import tensorflow as tf; print(len(tf.config.list_physical_devices('GPU')))"
  done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"), check=False)
  return done.returncode == 0 and done.stdout.strip().splitlines()[-1:] not in ([], ["0"])


def throughput(args):
  common = {"kind": "pokevae", "block_steps": args.block_steps}
  batch = {"batch_size": args.batch_size}
  workers = harness.start_workers([
      {"name": "float32", "config": batch, **common},
      {"name": "mixed precision", "config": {**batch, "mixed_precision": True}, **common},
      {"name": "xla", "config": {**batch, "xla": True}, **common},
      {"name": "mixed precision + xla", "config": {**batch, "mixed_precision": True, "xla": True},
       **common}])
  try:
    blocks = harness.interleave(workers, args.rounds)
  finally:
    for worker in workers:
      worker.close()
  rows = harness.rate_rows(blocks, baseline="float32")
  print(harness.table(rows, harness.RATE_COLUMNS,
                      title=f"images/s, batch {args.batch_size}, {args.rounds} blocks of {args.block_steps} steps"))
  return {"rows": rows, "blocks": blocks, "ready": {w.name: w.ready for w in workers}}


def train_losses(run_dir):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  losses = {}
  for path in sorted(glob.glob(os.path.join(run_dir, "tb", "events.*"))):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.tag == "train/loss":
          losses[event.step] = float(tf.make_ndarray(value.tensor))
  return sorted(losses.items())


def loss_curves(args, scratch):
  curves = {}
  for name, flags in (("float32", []), ("mixed precision", ["--mixed-precision"])):
    out = os.path.join(scratch, name.replace(" ", "_"))
    command = [sys.executable, str(harness.REPO / "train_loop.py"), "--max-steps", str(args.curve_steps),
               "--log-every", "10", "--batch-size", str(args.batch_size), "--out", out, "--fresh",
               "--dashboard", "plain", "--patience", "1000", *flags]
    print(f"training {name} for {args.curve_steps} steps ...")
    done = subprocess.run(command, cwd=str(harness.REPO), capture_output=True, text=True, check=False,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    if done.returncode != 0:
      raise RuntimeError(f"train_loop.py {' '.join(flags)} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    curves[name] = train_losses(out)
    with open(os.path.join(out, "summary.json"), encoding="utf-8") as f:
      curves[name + " summary"] = json.load(f)
  reference = dict(curves["float32"])
  mixed = dict(curves["mixed precision"])
  steps = [s for s in sorted(reference) if s in mixed and s >= args.curve_steps // 10]
  gaps = [abs(mixed[s] - reference[s]) / abs(reference[s]) for s in steps]
  return curves, (max(gaps) if gaps else None)


def draw(curves, path):
  import cv2  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel
  width, height, margin = 900, 500, 70
  image = np.full((height, width, 3), 255, np.uint8)
  series = {k: v for k, v in curves.items() if not k.endswith("summary")}
  steps = [s for v in series.values() for s, _ in v]
  # Skip the first tenth: the loss starts an order of magnitude higher.
  start = max(steps) // 10
  values = [l for v in series.values() for s, l in v if s >= start]
  lo, hi, top = min(values), max(values), max(steps)
  to_px = lambda s, l: (int(margin + (s - start) / max(top - start, 1) * (width - 2 * margin)),  # noqa: E731
                        int(height - margin - (l - lo) / max(hi - lo, 1e-9) * (height - 2 * margin)))
  cv2.rectangle(image, (margin, margin), (width - margin, height - margin), (0, 0, 0), 1)
  font = cv2.FONT_HERSHEY_SIMPLEX
  for (name, points), colour in zip(series.items(), [(180, 80, 20), (40, 40, 220)]):
    pts = np.array([to_px(s, l) for s, l in points if s >= start], np.int32)
    cv2.polylines(image, [pts], False, colour, 2, cv2.LINE_AA)
    cv2.putText(image, name, (width - margin - 200, margin + 25 + 25 * list(series).index(name)),
                font, 0.6, colour, 1, cv2.LINE_AA)
  cv2.putText(image, f"train loss {lo:.0f} .. {hi:.0f} nats/image, steps {start} .. {top}",
              (margin, margin - 20), font, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
  cv2.imwrite(str(path), image)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--quick", action="store_true", help="3 rounds, 300-step curves")
  parser.add_argument("--rounds", type=int, default=6)
  parser.add_argument("--block-steps", type=int, default=64)
  parser.add_argument("--batch-size", type=int, default=64)
  parser.add_argument("--curve-steps", type=int, default=2000)
  parser.add_argument("--allow-cpu", action="store_true")
  args = parser.parse_args()
  if args.quick:
    args.rounds, args.curve_steps = 3, 300
  gpu = has_gpu()
  if not gpu and not args.allow_cpu:
    print("gpu.py: error: TensorFlow sees no GPU here (pass --allow-cpu to run anyway)", file=sys.stderr)
    return 2
  result = {"gpu_present": gpu, "throughput": throughput(args), "batch_size": args.batch_size,
            "quick": args.quick}
  with tempfile.TemporaryDirectory(prefix="pokevae-gpu-") as scratch:
    curves, gap = loss_curves(args, scratch)
  result.update(loss_curves=curves, max_relative_loss_gap=gap, curve_steps=args.curve_steps)
  png = harness.RESULTS / "gpu_loss_curves.png"
  harness.RESULTS.mkdir(parents=True, exist_ok=True)
  draw(curves, png)
  print(f"largest relative gap of the mixed-precision training loss to float32 "
        f"(after step {args.curve_steps // 10}): {gap:.2%}" if gap is not None else "no common steps")
  path = harness.write_result("gpu", result)
  print(f"wrote {path} and {png}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
