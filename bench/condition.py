"""How much a conditional model's sprites owe to the condition itself.

  python bench/condition.py RUN [--count 32] [--seed 0]

RUN is a run trained with `--condition types` (`--preset conditional`). The
blend sampler's sprites of a type are blends of two training sprites of the
type, decoded given it (`generate.py --type`), so their conditional accuracy
mixes what the parents bring and what the condition adds. This separates the
two, with the type classifier `evaluate.py` uses (seed `--seed`, trained on
the run's training sprites):

  blends of the type      `--count` blends of two sprites of the type, decoded
                          given it: `report.json`'s types.conditional
  the condition alone     `--count` blends of any two sprites (one set of
                          codes for every type), decoded given the type
  no condition            the same codes, decoded given no types

and, over the first 256 training sprites, the mean absolute pixel change when
each is decoded given Fire instead of its own types (moved to the new
condition, `VAE.recondition`, and not), beside their reconstruction error.
Prints a table; writes bench/results/condition.json.
"""

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# pylint: disable=wrong-import-position
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from vae.evaluation import report as report_lib  # noqa: E402
from vae.evaluation import types as types_lib  # noqa: E402
from vae.rundir import load  # noqa: E402

import harness  # noqa: E402


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("run")
  parser.add_argument("--count", type=int, default=types_lib.SAMPLES_PER_TYPE)
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args()
  model, config, _, _ = load.load_model(args.run, "best", print)
  if not model.conditional:
    parser.error(f"{args.run} is not conditioned on types (train it with --preset conditional)")
  data = report_lib.load_data(config)
  sets = report_lib.type_sets(data)
  train = data.array("train").astype(np.float32) / 255.0
  classifier = types_lib.train_classifier(
      train, sets.train, sets.names, primary=sets.train_primary,
      held_out=(sets.heldout_images, sets.heldout), seed=args.seed)
  names = types_lib.judged_types(model, sets)
  codes = model.sample_codes(args.count, seed=[args.seed, 77])
  sets_of = {
      "blends of the type": {
          n: model.sample(args.count, seed=[args.seed, 1000 + i],
                          types=types_lib.one_hot(n, sets.names)).numpy()
          for i, n in enumerate(names)},
      "the condition alone": {
          n: model.render(codes, types_lib.one_hot(n, sets.names)).numpy() for n in names},
      "no condition": {n: model.render(codes).numpy() for n in names},
  }
  rows = []
  for label, samples in sets_of.items():
    judged = types_lib.conditional_accuracy(classifier, samples)
    rows.append(dict(set=label, overall=judged["overall"], ratio=judged["ratio"],
                     per_type={k: v["accuracy"] for k, v in judged["per_type"].items()}))
  print(harness.table(rows, [("set", "sprites", "{}"), ("overall", "given the type", "{:.3f}"),
                             ("ratio", "/ real held-out", "{:.2f}")],
                      title=f"{args.run}: the classifier's share of {args.count} sprites per type "
                            f"given the type, over {len(names)} types"))
  x, own = train[:256], sets.train[:256]
  fire = types_lib.one_hot("Fire", sets.names)
  code = model.encode(x, own).mean()
  as_own = model.render(code, own).numpy()
  change = dict(
      reconditioned=float(np.abs(model.render(model.recondition(code, own, fire), fire).numpy()
                                 - as_own).mean()),
      kept=float(np.abs(model.render(code, fire).numpy() - as_own).mean()),
      reconstruction_error=float(np.abs(as_own - x).mean()))
  print(f"mean |pixel change| given Fire instead of their own types, 256 training sprites: "
        f"{change['reconditioned']:.4f} moved to the condition, {change['kept']:.4f} kept; "
        f"their reconstruction error {change['reconstruction_error']:.4f}")
  out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "condition.json")
  os.makedirs(os.path.dirname(out), exist_ok=True)
  with open(out, "w", encoding="utf-8") as f:
    json.dump(dict(run=args.run, count=args.count, seed=args.seed, types=names, rows=rows,
                   pixel_change=change), f, indent=2)
  print(f"wrote {out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
