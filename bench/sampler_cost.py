"""What each sampler's fit and draw cost, on one run's weights, side by side.

  python bench/sampler_cost.py [--ckpt pretrained] [--rounds 3] [--n 8]

A training run refits its sampler every few epochs and draws the previews'
codes from it (vae/training/loop.py); `generate.py` draws from it once. This
times, for each of the blend, quilt and ex-post samplers on the same weights
and training codes, the fit (`samplers.fit_model`: encoding the training and
validation sprites, the sampler's own fit, and the quilt's render of every
training code) and a draw of `--n` codes, in rounds that take the samplers in
turn (blend, quilt, expost, blend, ...) so that the load of a shared machine
falls on all alike. The first round is a warm-up and is not counted. It
reports the median seconds of each and their ratio to the blend's, and
writes bench/results/sampler_cost.json.
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import harness  # pylint: disable=wrong-import-position
from common import startup  # pylint: disable=wrong-import-position

KINDS = ("blend", "quilt", "expost")


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--ckpt", default="pretrained", help="run directory (default: pretrained)")
  parser.add_argument("--rounds", type=int, default=3, help="timed rounds after the warm-up")
  parser.add_argument("--n", type=int, default=8, help="codes per draw (default: 8, the previews')")
  args = parser.parse_args(argv)
  tf = startup.import_tensorflow()
  from vae import samplers  # pylint: disable=import-outside-toplevel
  from vae.evaluation import report as report_lib  # pylint: disable=import-outside-toplevel
  from vae.rundir import load  # pylint: disable=import-outside-toplevel

  model, config, prefix, _ = load.load_model(args.ckpt, "best")
  step = report_lib.checkpoint_step(prefix)
  data = report_lib.load_data(config)
  _, train, _, (groups, _) = report_lib.load_split(config, "test", data=data)
  val = report_lib.load_split(config, "val", data=data)[0]
  types = data.types("train") if data.type_names else None
  batch = report_lib.BATCH
  times = {kind: {"fit": [], "draw": []} for kind in KINDS}
  for round_ in range(args.rounds + 1):
    for kind in KINDS:
      model.use_sampler(kind, config.expost_latents, config.expost_components)
      start = time.perf_counter()
      samplers.fit_model(model, report_lib._batches(train, batch),  # pylint: disable=protected-access
                         report_lib._batches(val, batch), step,  # pylint: disable=protected-access
                         train_groups=groups, train_types=types)
      fitted = time.perf_counter()
      codes = model.expost.sample_codes(model, args.n, 1.0, [round_, 1])
      codes.numpy()
      drawn = time.perf_counter()
      if round_:
        times[kind]["fit"].append(fitted - start)
        times[kind]["draw"].append(drawn - fitted)
  medians = {kind: {what: statistics.median(values) for what, values in parts.items()}
             for kind, parts in times.items()}
  print(f"{'sampler':8s} {'fit s':>7s} {'x blend':>8s} {'draw s':>7s} {'x blend':>8s}")
  for kind in KINDS:
    m, b = medians[kind], medians["blend"]
    print(f"{kind:8s} {m['fit']:7.2f} {m['fit'] / b['fit']:8.2f} {m['draw']:7.3f} "
          f"{m['draw'] / b['draw']:8.2f}")
  path = harness.write_result("sampler_cost", dict(
      ckpt=args.ckpt, checkpoint=prefix, n=args.n, rounds=args.rounds,
      codes=len(train), seconds={k: {w: harness.summarise(v) for w, v in p.items()}
                                 for k, p in times.items()}))
  print(f"wrote {path}")
  del tf
  return 0


if __name__ == "__main__":
  sys.exit(main())
