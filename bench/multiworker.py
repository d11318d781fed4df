"""One process against two multi-worker processes on this machine: wall time and images/s.

  python bench/multiworker.py --preset smoke --steps 200 --rounds 2
  python bench/multiworker.py --preset default --steps 100 --rounds 1

Runs `train_loop.py` as one process (default strategy) and as two workers of
one `--strategy multiworker` job on localhost (TF_CONFIG, free ports, CPU
collectives over gRPC), in turn, at the same global batch, fresh each time.
Reports per competitor the wall time of the whole command (start-up, data
loading, tracing and the cluster's rendezvous included) and the training
images/s the chief's summary.json gives (the first, tracing call excluded).

Both workers share this machine's cores, so this measures what a second
worker costs here (collectives, a second copy of the input pipeline), not
what a second machine would gain.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import harness

sys.path.insert(0, str(harness.REPO))  # Run as a script from anywhere in the checkout.
from vae.training import localhost  # pylint: disable=wrong-import-position


def run(workers, argv, out):
  """Trains with `workers` processes (0: one plain process); returns (wall s, images/s)."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  tic = time.perf_counter()
  if not workers:
    subprocess.run([*argv, "--out", out], cwd=harness.REPO, env=env, check=True,
                   stdout=subprocess.DEVNULL)
  else:
    ports = localhost.free_ports(workers)
    processes = []
    for index in range(workers):
      processes.append(subprocess.Popen(
          [*argv, "--out", out, "--strategy", "multiworker"], cwd=harness.REPO,
          env=dict(env, TF_CONFIG=localhost.tf_config(ports, index)), stdout=subprocess.DEVNULL))
    for process in processes:
      if process.wait() != 0:
        raise RuntimeError(f"a worker failed with status {process.returncode}")
  wall = time.perf_counter() - tic
  with open(os.path.join(out, "summary.json"), encoding="utf-8") as f:
    return wall, json.load(f)["images_per_s"]


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--preset", default="smoke")
  parser.add_argument("--steps", type=int, default=200)
  parser.add_argument("--rounds", type=int, default=2)
  args = parser.parse_args()
  argv = [sys.executable, "train_loop.py", "--preset", args.preset, "--epochs", "100000",
          "--max-steps", str(args.steps), "--dashboard", "plain", "--fresh", "--seed", "0"]
  competitors = {"one process": 0, "two workers": 2}
  results = {name: {"wall_s": [], "images_per_s": []} for name in competitors}
  scratch = tempfile.mkdtemp(prefix="bench_multiworker_")
  for round_index in range(args.rounds):
    for name, workers in competitors.items():  # Interleaved: the load falls on both alike.
      wall, speed = run(workers, argv, os.path.join(scratch, f"{workers}-{round_index}"))
      results[name]["wall_s"].append(wall)
      results[name]["images_per_s"].append(speed)
      print(f"{name}: {wall:.1f} s wall, {speed:.0f} images/s", flush=True)
  shutil.rmtree(scratch)
  report = {name: {k: harness.summarise(v) for k, v in r.items()} for name, r in results.items()}
  path = harness.write_result(f"multiworker_{args.preset}", {"steps": args.steps, "results": report})
  print(json.dumps(report, indent=2))
  print(f"written to {path}")


if __name__ == "__main__":
  main()
