"""Shared machinery of the benchmarks: worker processes, interleaving, statistics.

Every competitor runs in its own long-lived process (`bench/worker.py`), so
each can have its own TensorFlow thread settings and source tree, and none
pays for another's memory or traced graphs. The parent only orchestrates: it
asks the workers for timed blocks in turn, A B C A B C ..., so that the load
of a shared machine falls on all of them alike, and reports min / median / max
over the blocks and ratios of medians from the same run.
"""

import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tarfile
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
WORKER = REPO / "bench" / "worker.py"


def summarise(values):
  """min / median / max / n of a list of numbers."""
  values = sorted(values)
  return {"min": values[0], "median": statistics.median(values), "max": values[-1],
          "n": len(values)}


def machine():
  """What the numbers were measured on, and how busy it was."""
  info = {"platform": platform.platform(), "python": platform.python_version(),
          "cpus": os.cpu_count(), "load_average": os.getloadavg()}
  try:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
      names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    info["cpu_model"] = names[0] if names else ""
    with open("/proc/meminfo", encoding="utf-8") as f:
      info["memory_gb"] = round(int(f.readline().split()[1]) / 2**20, 1)
  except OSError:
    pass
  return info


def write_result(name, payload):
  """Writes bench/results/NAME.json (with the machine) and returns its path."""
  RESULTS.mkdir(parents=True, exist_ok=True)
  path = RESULTS / f"{name}.json"
  payload = {"benchmark": name, "command": " ".join([os.path.relpath(sys.argv[0], REPO)] + sys.argv[1:]),
             "finished": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": machine(), **payload}
  path.write_text(json.dumps(payload, indent=2) + "\n")
  return path


def write_comparison(name, compared, args, **extra):
  """`write_result` of a `compare_rates` run, with the rounds and block size it ran at.

  Args:
    name: the result's name.
    compared: (rows, blocks, specs) as `compare_rates` returns them.
    args: the script's flags, with `rounds` and `block_steps`.
    extra: more fields of the payload.

  Prints the path it wrote and returns it.
  """
  rows, blocks, specs = compared
  path = write_result(name, {"rows": rows, "blocks": blocks, "specs": specs,
                             "rounds": args.rounds, "block_steps": args.block_steps, **extra})
  print(f"wrote {path}")
  return path


def source_tree(commit, scratch):
  """Extracts `commit` of this repository into scratch/COMMIT; returns its path.

  Used to measure a lever against the code as it was before it (the worker
  imports `vae` and `pipelines` from the tree it is given).
  """
  target = pathlib.Path(scratch) / commit
  if not target.exists():
    archive = subprocess.run(["git", "-C", str(REPO), "archive", commit], check=True,
                             capture_output=True).stdout
    target.mkdir(parents=True)
    tar_path = target.with_suffix(".tar")
    tar_path.write_bytes(archive)
    with tarfile.open(tar_path) as tar:
      tar.extractall(target, filter="data")
    tar_path.unlink()
  return str(target)


class Worker:
  """One competitor in its own process: `run()` times one block of steps."""

  def __init__(self, spec):
    self.spec = dict(spec)
    self.name = spec["name"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.update(spec.get("env", {}))
    self.process = subprocess.Popen(
        [sys.executable, str(WORKER), json.dumps(self.spec)], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=str(REPO))
    self.ready = self._read()  # Built, traced and warmed up.

  def _read(self):
    line = self.process.stdout.readline()
    if not line:
      error = self.process.stderr.read().strip().splitlines()
      raise RuntimeError(f"worker {self.name} failed: " + "\n".join(error[-15:]))
    return json.loads(line)

  def ask(self, command, **args):
    self.process.stdin.write(json.dumps({"command": command, **args}) + "\n")
    self.process.stdin.flush()
    return self._read()

  def run(self):
    return self.ask("run")

  def close(self):
    if self.process.poll() is None:
      self.process.stdin.write(json.dumps({"command": "quit"}) + "\n")
      self.process.stdin.flush()
      try:
        self.process.wait(timeout=60)
      except subprocess.TimeoutExpired:
        self.process.kill()


def start_workers(specs, log=print):
  """Starts the workers one after another (tracing them all at once would time nothing)."""
  workers = []
  for spec in specs:
    log(f"starting {spec['name']} ...")
    workers.append(Worker(spec))
  return workers


def interleave(workers, rounds, log=print):
  """Runs `rounds` rounds of one block per worker; returns {name: [block results]}."""
  blocks = {w.name: [] for w in workers}
  for r in range(rounds):
    # Rotate the order each round, so no competitor always follows the same one.
    order = workers[r % len(workers):] + workers[:r % len(workers)]
    for worker in order:
      result = worker.run()
      blocks[worker.name].append(result)
    log(f"round {r + 1}/{rounds}: " + ", ".join(
        f"{w.name} {blocks[w.name][-1]['images_per_s']:.0f}" for w in workers) + " images/s")
  return blocks


def compare_rates(specs, rounds, title):
  """Starts a worker per spec, interleaves `rounds` blocks, closes them, prints the rate table.

  Returns:
    (rows of `rate_rows`, the first spec's worker being the baseline; the
    blocks; the specs as the workers ran them): what `write_result` keeps.
  """
  workers = start_workers(specs)
  try:
    blocks = interleave(workers, rounds)
  finally:
    for worker in workers:
      worker.close()
  rows = rate_rows(blocks, baseline=workers[0].name)
  print(table(rows, RATE_COLUMNS, title=title))
  return rows, blocks, [w.spec for w in workers]


def table(rows, columns, title=None):
  """A plain-text table: rows are dicts, columns (key, header, format) triples."""
  cells = [[header for _, header, _ in columns]]
  for row in rows:
    cells.append([("-" if row.get(key) is None else fmt.format(row[key])) for key, _, fmt in columns])
  widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
  lines = [title] if title else []
  for i, r in enumerate(cells):
    lines.append("  ".join(c.rjust(w) if j else c.ljust(w) for j, (c, w) in enumerate(zip(r, widths))))
    if i == 0:
      lines.append("  ".join("-" * w for w in widths))
  return "\n".join(lines)


def rate_rows(blocks, baseline=None, key="images_per_s"):
  """Rows of min/median/max of `key` per competitor, with the ratio of medians to `baseline`."""
  rows = []
  base = statistics.median(b[key] for b in blocks[baseline]) if baseline else None
  for name, results in blocks.items():
    stats = summarise([b[key] for b in results])
    cpu = summarise([b["cpu_ms_per_image"] for b in results]) if "cpu_ms_per_image" in results[0] else None
    rows.append({"name": name, **stats, "ratio": stats["median"] / base if base else None,
                 "cpu_ms_per_image": cpu["median"] if cpu else None})
  return rows


RATE_COLUMNS = [("name", "competitor", "{}"), ("min", "min", "{:.0f}"), ("median", "median", "{:.0f}"),
                ("max", "max", "{:.0f}"), ("n", "blocks", "{}"), ("ratio", "median ratio", "{:.2f}x"),
                ("cpu_ms_per_image", "CPU ms/image", "{:.2f}")]
