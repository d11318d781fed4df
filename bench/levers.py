"""What each speed lever buys the training loop, measured side by side.

  python bench/levers.py --group code|runtime|batch|condition|likelihood|decoder|grid
                         [--quick] [--rounds N]

  code     the default training step as the code stood before the speed work
           and after each change to it (source trees from `git archive`)
  runtime  the current code under other settings: steps per tf.function call,
           TensorFlow's thread pools, tf.data thread options, XLA, and the
           pipeline replaced by one batch held in memory
  batch    images/s at batch 32, 64 and 128 (a batch size changes training,
           not only its speed: see bench/README.md)
  condition the default against the same model conditioned on types
           (`--condition types`, batches of images and their types)
  likelihood one logistic per pixel against mixtures of 2 (the default) and 3
           (`--logistic-mixtures`)
  decoder  the default decoder against 1 and 2 full-resolution 3x3
           convolutions before the likelihood (`--output-convs`)
  grid     the default 16x16x8 latent grid against 16x16x4 and 16x16x16
           (`--grid-channels`)

Every variant is train_loop.py's compiled loop (`make_train_fn`, guards on) on
the `default` preset, in its own process; blocks are timed in turn (see
bench/harness.py). Prints images/s min / median / max and the ratio of medians
to the first variant; writes bench/results/levers_GROUP.json.
"""

import argparse
import sys
import tempfile

import harness

# The default step before the speed work, then after each change to vae/.
CODE = [
    ("before (3806d4d)", "3806d4d"),
    ("+ logistic gradient (8488664)", "8488664"),
    ("+ group norm gradient (8b98fe5)", "8b98fe5"),
    ("+ logistic masks (ab946e2)", "ab946e2"),
    ("+ group norm reductions (6d6fbd4)", "6d6fbd4"),
]


GROUPS = ("code", "runtime", "batch", "condition", "likelihood", "decoder", "grid")


def variants(group, scratch):
  if group == "code":
    return [{"name": name, "src": harness.source_tree(commit, scratch)} for name, commit in CODE]
  if group == "runtime":
    return [
        {"name": "as shipped (8 steps/call)"},
        {"name": "1 step/call", "config": {"steps_per_call": 1}},
        {"name": "32 steps/call", "config": {"steps_per_call": 32}},
        {"name": "threads intra 1, inter 2", "threads": {"intra": 1, "inter": 2}},
        {"name": "threads intra 2, inter 1", "threads": {"intra": 2, "inter": 1}},
        {"name": "tf.data private pool 1", "data_options": {"private_threadpool_size": 1,
                                                            "max_intra_op_parallelism": 1}},
        {"name": "XLA (--xla)", "config": {"xla": True}},
        {"name": "input: one batch in memory", "input": "memory"},
    ]
  if group == "batch":
    # Same number of images per block for every batch size.
    return [{"name": f"batch {b}", "config": {"batch_size": b}, "images_per_block": 2048}
            for b in (64, 32, 128)]
  if group == "condition":
    return [{"name": "default"},
            {"name": "--condition types", "config": {"condition": "types"}}]
  if group == "likelihood":
    return [{"name": f"--logistic-mixtures {k}", "config": {"logistic_mixtures": k}}
            for k in (1, 2, 3)]
  if group == "decoder":
    return [{"name": f"--output-convs {k}", "config": {"output_convs": k}} for k in (0, 1, 2)]
  if group == "grid":
    return [{"name": f"--grid-channels {c}", "config": {"grid_channels": c}} for c in (8, 4, 16)]
  raise ValueError(f"group must be one of {', '.join(GROUPS)}, got {group!r}")


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--group", required=True, choices=GROUPS)
  parser.add_argument("--quick", action="store_true", help="3 rounds of 16-step blocks")
  parser.add_argument("--rounds", type=int, default=6)
  parser.add_argument("--block-steps", type=int, default=32)
  args = parser.parse_args()
  if args.quick:
    args.rounds, args.block_steps = 3, 16
  with tempfile.TemporaryDirectory(prefix="pokevae-levers-") as scratch:
    specs = []
    for v in variants(args.group, scratch):
      spec = {"kind": "pokevae", "block_steps": args.block_steps, **v}
      if "images_per_block" in spec:
        spec["block_steps"] = max(1, spec.pop("images_per_block") * args.block_steps // 32
                                  // spec["config"]["batch_size"])
      specs.append(spec)
    compared = harness.compare_rates(
        specs, args.rounds, f"levers: {args.group}, images/s, {args.rounds} blocks each")
  harness.write_comparison(f"levers_{args.group}", compared, args, quick=args.quick)
  return 0


if __name__ == "__main__":
  sys.exit(main())
