"""What the palette likelihood costs a training step, against the logistic.

  python bench/palette.py [--sizes 16,8] [--rounds 3] [--block-steps 8]

The palette likelihood (`vae/likelihoods.py`) evaluates every pixel under K + 1
discretised logistics (K palette colours and the background) where the
logistic likelihood evaluates one, and the logistic's bin probability is the
largest single cost of a CPU training step. Each competitor is train_loop.py's
compiled loop (`make_train_fn`, guards on) on the `default` preset, changed
only in `--likelihood` (and `--palette-size`), each in its own process; blocks
are timed in turn (see bench/harness.py). Prints images/s min / median / max,
the ratio of medians to the logistic and CPU ms per image; writes
bench/results/palette.json.
"""

import argparse
import sys

import harness


def variants(sizes):
  return [{"name": "logistic (default)"}] + [
      {"name": f"palette K={k}", "config": {"likelihood": "palette", "palette_size": k}}
      for k in sizes]


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--sizes", default="16,8", help="palette sizes K to time, comma-separated")
  parser.add_argument("--rounds", type=int, default=3)
  parser.add_argument("--block-steps", type=int, default=8)
  args = parser.parse_args()
  sizes = [int(k) for k in args.sizes.split(",")]
  specs = [{"kind": "pokevae", "block_steps": args.block_steps, **v} for v in variants(sizes)]
  rows, blocks, ran = harness.compare_rates(
      specs, args.rounds, f"palette likelihood: images/s, {args.rounds} blocks of "
                          f"{args.block_steps} steps each")
  base = rows[0]["cpu_ms_per_image"]
  for row in rows[1:]:
    print(f"{row['name']}: {1 / row['ratio']:.2f}x the logistic's wall time per image, "
          f"{row['cpu_ms_per_image'] / base:.2f}x its CPU time")
  harness.write_comparison("palette", (rows, blocks, ran), args)
  return 0


if __name__ == "__main__":
  sys.exit(main())
