"""How close the training step comes to the machine's dense float32 rate.

  python bench/ceiling.py [--quick] [--rounds N] [--block-steps N]

FLOPs per image of one full training step (encode, sample, decode, log_prob,
loss, gradients, clipping, Adam) are counted by TensorFlow's profiler
(`tf.compat.v1.profiler.profile(graph, ProfileOptionBuilder.float_operation())`)
on the concrete function graph of that step at batch 64, divided by 64; the
convolutions and matmuls among them are reported apart (the profiler counts an
elementwise op as one FLOP per element and transcendental ones as none).
Images/s of train_loop.py's compiled loop (`vae.training.step.make_train_fn`)
and the GFLOP/s of a 4096 x 4096 float32 matmul are measured in turn, in two
processes, so both see the same machine; the fraction is

    FLOPs/image x images/s / matmul FLOP/s,

per round (one step block and the matmul block after it) and of the medians.
Writes bench/results/ceiling.json.
"""

import argparse
import statistics
import sys

import harness


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--quick", action="store_true", help="3 rounds of 24-step blocks")
  parser.add_argument("--rounds", type=int, default=7)
  parser.add_argument("--block-steps", type=int, default=64)
  parser.add_argument("--matmuls", type=int, default=4, help="matmuls per matmul block")
  args = parser.parse_args()
  if args.quick:
    args.rounds, args.block_steps, args.matmuls = 3, 24, 2
  workers = harness.start_workers([
      {"name": "pokevae", "kind": "pokevae", "block_steps": args.block_steps},
      {"name": "matmul-4096", "kind": "matmul", "block_steps": args.matmuls}])
  try:
    flops = workers[0].ask("flops")
    step_blocks, matmul_blocks = [], []
    for r in range(args.rounds):
      step_blocks.append(workers[0].run())
      matmul_blocks.append(workers[1].run())
      print(f"round {r + 1}/{args.rounds}: {step_blocks[-1]['images_per_s']:.0f} images/s, "
            f"matmul {matmul_blocks[-1]['gflops']:.0f} GFLOP/s")
  finally:
    for worker in workers:
      worker.close()
  per_image = flops["flops_per_image"]
  rates = [b["images_per_s"] for b in step_blocks]
  gflops = [b["gflops"] for b in matmul_blocks]
  fractions = [per_image * r / (g * 1e9) for r, g in zip(rates, gflops)]
  achieved = [per_image * r / 1e9 for r in rates]
  rows = [
      {"name": "training step, images/s", **harness.summarise(rates)},
      {"name": "training step, GFLOP/s (profiler FLOPs)", **harness.summarise(achieved)},
      {"name": "float32 matmul 4096, GFLOP/s", **harness.summarise(gflops)},
      {"name": "fraction of matmul rate, per round (%)", **harness.summarise([100 * f for f in fractions])},
  ]
  print(harness.table(rows, [("name", "", "{}"), ("min", "min", "{:.1f}"),
                             ("median", "median", "{:.1f}"), ("max", "max", "{:.1f}")],
                      title=f"ceiling, batch 64, {args.rounds} rounds"))
  median_fraction = per_image * statistics.median(rates) / (statistics.median(gflops) * 1e9)
  print(f"FLOPs per image per training step: {per_image / 1e6:.1f} M "
        f"({flops['dense_flops_per_image'] / 1e6:.1f} M in convolutions and matmuls)")
  print(f"fraction of the matmul rate (medians): {100 * median_fraction:.1f} % "
        f"(target >= 60 %: {'met' if median_fraction >= 0.6 else 'not met'})")
  path = harness.write_result("ceiling", {
      "flops": flops, "rows": rows, "median_fraction": median_fraction,
      "step_blocks": step_blocks, "matmul_blocks": matmul_blocks, "rounds": args.rounds,
      "block_steps": args.block_steps, "quick": args.quick,
      "ready": {w.name: w.ready for w in workers}})
  print(f"wrote {path}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
