"""Training speed with TensorFlow's oneDNN kernels on and off, side by side.

  python bench/onednn.py [--preset default|smoke] [--grid-prior autoregressive] [--quick] [--rounds N]

TensorFlow turns oneDNN on by default only on x86 CPUs with AVX-512 (and
some others); on AVX2-only CPUs it is off unless TF_ENABLE_ONEDNN_OPTS=1.
Two workers run train_loop.py's compiled loop on one preset (`default`), one with
TF_ENABLE_ONEDNN_OPTS=1 and one with 0; blocks are timed in turn (see
bench/harness.py). Prints images/s min / median / max and the ratio of medians
to oneDNN off; writes bench/results/onednn_PRESET[_GRID_PRIOR].json. The machine's CPU
model is in that file: run it where the question is asked (an AVX2 machine).
"""

import argparse
import sys

import harness


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--preset", default="default", choices=("default", "smoke"))
  parser.add_argument("--grid-prior", default=None, choices=("independent", "autoregressive"))
  parser.add_argument("--quick", action="store_true", help="3 rounds of 16-step blocks")
  parser.add_argument("--rounds", type=int, default=6)
  parser.add_argument("--block-steps", type=int, default=32)
  args = parser.parse_args()
  if args.quick:
    args.rounds, args.block_steps = 3, 16
  config = {"grid_prior": args.grid_prior} if args.grid_prior else {}
  specs = [{"name": f"oneDNN {state}", "kind": "pokevae", "block_steps": args.block_steps,
            "preset": args.preset, "config": config, "env": {"TF_ENABLE_ONEDNN_OPTS": value}}
           for state, value in (("off", "0"), ("on", "1"))]
  compared = harness.compare_rates(
      specs, args.rounds, f"oneDNN on / off, {args.preset} preset, images/s, {args.rounds} blocks each")
  suffix = f"_{args.grid_prior}" if args.grid_prior else ""
  harness.write_comparison(f"onednn_{args.preset}{suffix}", compared, args, quick=args.quick)
  return 0


if __name__ == "__main__":
  sys.exit(main())
