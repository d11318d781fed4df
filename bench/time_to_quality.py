"""Validation bits/dim against wall time, read from a run's TensorBoard events.

  python bench/time_to_quality.py --run RUN_DIR [--quick] [--out-name NAME]

Reads `RUN_DIR/tb/events.*` (the `val/bits_per_dim` scalar train_loop.py
writes after every epoch; an event's wall_time says when), and writes
bench/results/NAME.md (a Markdown table), NAME.png (the curve, drawn with
OpenCV: no plotting library needed for one line on two axes) and NAME.json.
Time is counted from the first event of the run (the writer opens once the
data is loaded and the model built, just before the first step). --quick
lists every 10th epoch instead of every 5th in the table.
"""

import argparse
import glob
import json
import math
import os
import sys

import harness

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TAG = "val/bits_per_dim"


def read_curve(run_dir):
  """[(seconds since the first event, step, bits/dim)] in step order."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  paths = sorted(glob.glob(os.path.join(run_dir, "tb", "events.*")))
  if not paths:
    raise FileNotFoundError(f"no TensorBoard events in {os.path.join(run_dir, 'tb')}")
  start, points = None, {}
  for path in paths:
    for event in tf.compat.v1.train.summary_iterator(path):
      start = event.wall_time if start is None else min(start, event.wall_time)
      for value in event.summary.value:
        if value.tag == TAG:
          # A resumed run may repeat a step; the last write wins.
          points[event.step] = (event.wall_time, float(tf.make_ndarray(value.tensor)))
  return [(wall - start, step, bpd) for step, (wall, bpd) in sorted(points.items())]


def draw(curve, path, title):
  """The curve as a PNG: bits/dim (y) against minutes (x), best-so-far marked."""
  import cv2  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel
  width, height, left, right, top, bottom = 900, 540, 80, 30, 50, 60
  image = np.full((height, width, 3), 255, np.uint8)
  minutes = [t / 60 for t, _, _ in curve]
  bpds = [b for _, _, b in curve]
  x_step = _nice_step(max(minutes) or 1.0)
  x_max = x_step * math.ceil(max(minutes) / x_step) or 1.0
  # The first validations sit far above the rest; show the part worth reading.
  y_lo = min(bpds)
  y_step = _nice_step(min(max(bpds), y_lo + 0.8) - y_lo or 0.1)
  y_lo = y_step * math.floor(y_lo / y_step)
  y_hi = y_step * math.ceil(min(max(bpds), y_lo + 0.8) / y_step + 1e-9)

  def to_px(m, b):
    b = min(max(b, y_lo), y_hi)
    return (int(left + m / x_max * (width - left - right)),
            int(height - bottom - (b - y_lo) / (y_hi - y_lo) * (height - top - bottom)))

  grey, black, blue, red = (200, 200, 200), (0, 0, 0), (180, 80, 20), (40, 40, 220)
  font = cv2.FONT_HERSHEY_SIMPLEX
  for i in range(round(x_max / x_step) + 1):  # Grid and tick labels.
    x, _ = to_px(i * x_step, y_lo)
    cv2.line(image, (x, top), (x, height - bottom), grey, 1)
    cv2.putText(image, f"{i * x_step:g}", (x - 8, height - bottom + 22), font, 0.5, black, 1, cv2.LINE_AA)
  for i in range(round((y_hi - y_lo) / y_step) + 1):
    b = y_lo + i * y_step
    _, y = to_px(0, b)
    cv2.line(image, (left, y), (width - right, y), grey, 1)
    cv2.putText(image, f"{b:.2f}", (left - 55, y + 5), font, 0.5, black, 1, cv2.LINE_AA)
  cv2.rectangle(image, (left, top), (width - right, height - bottom), black, 1)
  points = np.array([to_px(m, b) for m, b in zip(minutes, bpds)], np.int32)
  cv2.polylines(image, [points], False, blue, 2, cv2.LINE_AA)
  best = min(range(len(bpds)), key=bpds.__getitem__)
  cv2.circle(image, tuple(int(v) for v in points[best]), 6, red, 2, cv2.LINE_AA)
  cv2.putText(image, f"best {bpds[best]:.3f} at {minutes[best]:.1f} min",
              (int(points[best][0]) - 200, int(points[best][1]) - 14), font, 0.5, red, 1, cv2.LINE_AA)
  cv2.putText(image, "wall time (minutes)", (width // 2 - 80, height - 15), font, 0.55, black, 1,
              cv2.LINE_AA)
  cv2.putText(image, "val bits/dim", (10, top - 15), font, 0.55, black, 1, cv2.LINE_AA)
  cv2.putText(image, title, (left + 150, top - 15), font, 0.55, black, 1, cv2.LINE_AA)
  cv2.imwrite(str(path), image)


def _nice_step(span):
  """A tick spacing of 1, 2 or 5 times a power of ten giving 4 to 10 ticks."""
  for power in range(-3, 4):
    for unit in (1, 2, 5):
      step = unit * 10.0**power
      if span / step <= 10:
        return step
  return 10.0**4


def markdown(curve, every, summary):
  """Every `every`-th validation, the best one and the last one."""
  lines = ["| wall time | step | epoch | val bits/dim | best so far |", "|---:|---:|---:|---:|---:|"]
  best_index = min(range(len(curve)), key=lambda j: curve[j][2])
  best = math.inf
  for i, (seconds, step, bpd) in enumerate(curve):
    best = min(best, bpd)
    if i % every == 0 or i in (best_index, len(curve) - 1):
      epoch = f"{step / summary['steps_per_epoch']:.0f}" if summary else "-"
      lines.append(f"| {int(seconds // 60)}:{int(seconds % 60):02d} | {step} | {epoch} | "
                   f"{bpd:.4f} | {best:.4f} |")
  return "\n".join(lines)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--run", required=True, help="a train_loop.py run directory")
  parser.add_argument("--quick", action="store_true", help="a shorter table")
  parser.add_argument("--out-name", default="time_to_quality")
  args = parser.parse_args()
  curve = read_curve(args.run)
  if not curve:
    print(f"time_to_quality.py: error: no {TAG} events in {args.run}", file=sys.stderr)
    return 2
  summary_path = os.path.join(args.run, "summary.json")
  summary = json.load(open(summary_path, encoding="utf-8")) if os.path.exists(summary_path) else None
  config = json.load(open(os.path.join(args.run, "config.json"), encoding="utf-8"))
  table = markdown(curve, 10 if args.quick else 5, summary)
  print(table)
  harness.RESULTS.mkdir(parents=True, exist_ok=True)
  (harness.RESULTS / f"{args.out_name}.md").write_text(table + "\n")
  png = harness.RESULTS / f"{args.out_name}.png"
  draw(curve, png, f"{config.get('preset', '?')} preset, {os.path.basename(os.path.normpath(args.run))}")
  best = min(curve, key=lambda p: p[2])
  marks = {}
  for target in (4.0, 3.5, 3.0, 2.9, 2.8, 2.75):
    hit = next((p for p in curve if p[2] <= target), None)
    marks[str(target)] = None if hit is None else {"seconds": hit[0], "step": hit[1]}
  path = harness.write_result(args.out_name, {
      "run": os.path.abspath(args.run), "preset": config.get("preset"), "summary": summary,
      "best": {"seconds": best[0], "step": best[1], "bits_per_dim": best[2]},
      "first_reached": marks, "curve": [{"seconds": t, "step": s, "bits_per_dim": b} for t, s, b in curve]})
  print(f"best {best[2]:.4f} bits/dim at step {best[1]}, {best[0] / 60:.1f} min")
  for target, hit in marks.items():
    if hit:
      print(f"  <= {target} bits/dim after {hit['seconds'] / 60:.1f} min (step {hit['step']})")
  print(f"wrote {path}, {png} and {harness.RESULTS / (args.out_name + '.md')}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
