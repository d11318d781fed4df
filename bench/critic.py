"""What the adversarial critic costs a training step, against a step without it.

  python bench/critic.py [--rounds 3] [--block-steps 8]

With `--adversary-weight` above 0 (`vae/critic.py`) each step from
`--adversary-start` on also decodes the critic's codes and runs the critic
over twice the batch, forward and backward. Each competitor is
train_loop.py's compiled loop (`make_train_fn`, guards on) on the `default`
preset, changed only in `adversary_weight`, each in its own process; blocks
are timed in turn (see bench/harness.py). Prints images/s min / median /
max and the ratio of medians; writes bench/results/critic.json. A run's
wall time follows: steps before the start cost 1, steps after cost the
ratio's inverse.
"""

import argparse
import sys

import harness


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--rounds", type=int, default=3)
  parser.add_argument("--block-steps", type=int, default=8)
  args = parser.parse_args()
  variants = [{"name": "without the critic (steps before adversary_start)"},
              {"name": "with the critic", "config": {"adversary_weight": 0.5}}]
  specs = [{"kind": "pokevae", "block_steps": args.block_steps, **v} for v in variants]
  rows, blocks, ran = harness.compare_rates(
      specs, args.rounds, f"adversarial critic: images/s, {args.rounds} blocks of "
                          f"{args.block_steps} steps each")
  print(f"a step with the critic takes {1 / rows[1]['ratio']:.2f}x the time of one without")
  harness.write_comparison("critic", (rows, blocks, ran), args)
  return 0


if __name__ == "__main__":
  sys.exit(main())
