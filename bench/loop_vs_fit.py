"""PokeVAE's training loop against Keras fit() and a plain tf.function loop.

  python bench/loop_vs_fit.py [--quick] [--rounds N] [--block-steps N] [--keras-sweep]

Every competitor trains the same `vae.model.VAE` (the `default` preset: widths
16,32,64,128, latent 64, logistic likelihood, 64x64x4) on the same loss
(`vae.objectives.elbo_terms` + `training_loss`, the same beta and learning-rate
schedules, the same posterior noise, gradients clipped to the same global norm)
and the same batches of 64 (the bundled set through `pipelines`, cached in
memory, shuffled and augmented as train_loop.py gets them):

  pokevae        `vae.training.step.make_train_fn` called as train_loop.py calls it
                 (steps_per_call from the preset, NaN/spike guard on)
  keras-fit      a keras.Model whose train_step runs the same objective on the
                 same tf.Module, trained by fit() with steps_per_execution
                 (32, tuned with --keras-sweep) and jit_compile off (the faster on
                 this CPU; see keras-fit-xla)
  keras-fit-xla  the same with jit_compile=True (Keras' "auto" turns XLA on only
                 where there is a GPU)
  plain-step     one tf.function per step called from a Python loop

Each runs in its own process; blocks of --block-steps steps are timed in turn
(A B C D, B C D A, ...). Prints images/s min / median / max over the blocks,
the ratio of each median to pokevae's, and CPU ms per image (all threads), and
writes bench/results/loop_vs_fit.json. --keras-sweep instead compares
steps_per_execution 1, 8 and 32 for fit().
"""

import argparse
import sys

import harness


def specs(args):
  common = {"block_steps": args.block_steps}
  if args.keras_sweep:
    return [{"name": f"keras-fit-spe{n}", "kind": "keras", "steps_per_call": n, **common}
            for n in (1, 8, 32)]
  return [
      {"name": "pokevae", "kind": "pokevae", **common},
      {"name": "keras-fit", "kind": "keras", "steps_per_call": args.keras_spe, "jit_compile": False,
       **common},
      {"name": "keras-fit-xla", "kind": "keras", "steps_per_call": args.keras_spe, "jit_compile": True,
       **common},
      {"name": "plain-step", "kind": "plain", **common},
  ]


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--quick", action="store_true", help="3 rounds of 24-step blocks")
  parser.add_argument("--rounds", type=int, default=7)
  parser.add_argument("--block-steps", type=int, default=64)
  parser.add_argument("--keras-spe", type=int, default=32,
                      help="steps_per_execution of fit() (32: the best of 1, 8, 32 in --keras-sweep)")
  parser.add_argument("--keras-sweep", action="store_true")
  args = parser.parse_args()
  if args.quick:
    args.rounds, args.block_steps = 3, 24
  workers = harness.start_workers(specs(args))
  try:
    blocks = harness.interleave(workers, args.rounds)
  finally:
    for worker in workers:
      worker.close()
  baseline = workers[0].name
  rows = harness.rate_rows(blocks, baseline=baseline)
  print(harness.table(rows, harness.RATE_COLUMNS,
                      title=f"images/s, batch 64, {args.rounds} blocks of {args.block_steps} steps each"))
  name = "loop_vs_fit_keras_sweep" if args.keras_sweep else "loop_vs_fit"
  if not args.keras_sweep:
    by_name = {r["name"]: r for r in rows}
    speedup = by_name["pokevae"]["median"] / by_name["keras-fit"]["median"]
    print(f"pokevae / keras-fit (medians): {speedup:.2f}x (target >= 1.3x: "
          f"{'met' if speedup >= 1.3 else 'not met'})")
  path = harness.write_result(name, {
      "rows": rows, "blocks": blocks, "specs": [w.spec for w in workers],
      "ready": {w.name: w.ready for w in workers}, "rounds": args.rounds,
      "block_steps": args.block_steps, "quick": args.quick})
  print(f"wrote {path}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
