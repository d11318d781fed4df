"""Does the training step wait for its input? Pipeline supply against step demand.

  python bench/input_pipeline.py [--quick] [--rounds N]

On the bundled set, cached in memory as train_loop.py uses it, at batch 64:

  first pass      pipelines.load(): list, check, decode, resize, fill the cache
  pipeline alone  the training batches (cache, shuffle, augment, batch,
                  prefetch) pulled as fast as they come, no model
  step            train_loop.py's compiled loop on that pipeline
  step, memory    the same loop fed one batch held in memory (no pipeline work)

Input wait is measured two ways: (1) the profiler's time inside
IteratorGetNext (where the compiled step blocks until a batch is ready) as a
share of the traced block's wall time; (2) the slowdown of "step" against
"step, memory", timed in turn, which also counts the CPU the pipeline's
threads take from the step on a 2-core machine. Target: input wait < 2 % of
step time. Writes bench/results/input_pipeline.json. bench/pipeline.py (the
data engineer's) covers the all-frames set and the disk cache.
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
  parser.add_argument("--profiles", type=int, default=3, help="traced blocks for the IteratorGetNext share")
  args = parser.parse_args()
  if args.quick:
    args.rounds, args.block_steps, args.profiles = 3, 24, 2
  workers = harness.start_workers([
      {"name": "pipeline alone", "kind": "pipeline", "block_steps": 8 * args.block_steps},
      {"name": "step", "kind": "pokevae", "block_steps": args.block_steps},
      {"name": "step, memory", "kind": "pokevae", "input": "memory", "block_steps": args.block_steps}])
  try:
    blocks = harness.interleave(workers, args.rounds)
    profiles = [workers[1].ask("profile") for _ in range(args.profiles)]
  finally:
    for worker in workers:
      worker.close()
  first_pass = workers[1].ready
  rows = [{"name": "first pass (decode, fill cache)", "median": first_pass["images"] / first_pass["load_seconds"],
           "n": 1}]
  rows += harness.rate_rows(blocks)
  print(harness.table(rows, [("name", "", "{}"), ("min", "min", "{:.0f}"), ("median", "median", "{:.0f}"),
                             ("max", "max", "{:.0f}"), ("n", "blocks", "{}")],
                      title=f"images/s, bundled set, batch 64 ({first_pass['images']} images)"))
  medians = {r["name"]: r["median"] for r in rows}
  waits = [100 * p["input_wait_ms"] / p["wall_ms"] for p in profiles]
  slowdown = 100 * (1 - medians["step"] / medians["step, memory"])
  per_round = [100 * (1 - a["images_per_s"] / b["images_per_s"])
               for a, b in zip(blocks["step"], blocks["step, memory"])]
  print(f"pipeline supply / step demand: {medians['pipeline alone'] / medians['step']:.0f}x")
  print(f"input wait in IteratorGetNext: {harness.summarise(waits)['median']:.2f} % of step time "
        f"(min {min(waits):.2f}, max {max(waits):.2f}, {len(waits)} traced blocks)")
  print(f"slowdown against one batch in memory: {slowdown:.1f} % of the medians "
        f"(per round min {min(per_round):.1f}, median {statistics.median(per_round):.1f}, "
        f"max {max(per_round):.1f})")
  met = max(waits) < 2.0
  print(f"target input wait < 2 %: {'met' if met else 'not met'} by the IteratorGetNext measure")
  path = harness.write_result("input_pipeline", {
      "rows": rows, "blocks": blocks, "profiles": profiles, "input_wait_percent": waits,
      "slowdown_vs_memory_percent": slowdown, "slowdown_per_round_percent": per_round,
      "first_pass": first_pass, "rounds": args.rounds, "block_steps": args.block_steps,
      "quick": args.quick})
  print(f"wrote {path}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
