"""Packages a trained run as the repository's pretrained model.

    python -m vae.pretrained RUN [--dest pretrained] [--sampler KIND] [--train-command "..."] [--force]

writes DEST (default `pretrained/` beside the programs), which `generate.py`
uses when no --ckpt is given and which `evaluate.py --ckpt DEST` reads like
any run directory:

  config.json               the run's config (and the run's other top-level
                            files, such as summary.json)
  checkpoints/best/ckpt-N   the best checkpoint, the model's variables only
                            (the optimizer's moments would triple the size)
  report.json, report.html  the run's evaluation (RUN/eval, or --report DIR)
  check.json                figures of a small evaluation of DEST itself, and
                            the evaluate.py command that reproduces them
  COMMAND.md                the commands that made all of it

The small evaluation (the test split's first CHECK_IMAGES sprites) is what
`tests/test_pretrained.py` repeats, so a checkout can confirm that the model
it holds is the model whose figures it reports. DEST must stay under
MAX_BYTES.

--sampler packages the run's weights with another sampler than its own,
fitted here to the training codes (no training): config.json then names it,
and the report should be of it (`evaluate.py --ckpt RUN --sampler KIND --out
DIR`, passed as --report DIR).
"""

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys

from common import cli

PROG = "python -m vae.pretrained"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DEST = os.path.join(ROOT, "pretrained")
# The quilt sampler stores every training code, most of the default's checkpoint
# (bench/README.md, section 21): the package holds them, so that a fresh checkout
# samples without encoding its data again.
MAX_BYTES = 16 * 1024 * 1024
CHECK_IMAGES = 16
CHECK_SETTINGS = dict(split="test", limit=CHECK_IMAGES, iw_samples=100, num_samples=16,
                      temperature=1.0, seed=0)
CHECK_KEYS = ("bits_per_dim_elbo", "bits_per_dim_iwae", "recon_psnr", "num_images")


class PackageError(ValueError):
  """A run that cannot be packaged, told in one line."""


def check_command(dest, out):
  """The evaluate.py command of the small evaluation, writing into `out`, as arguments."""
  s = CHECK_SETTINGS
  return ["evaluate.py", "--ckpt", dest, "--split", s["split"], "--limit", str(s["limit"]),
          "--iw-samples", str(s["iw_samples"]), "--num-samples", str(s["num_samples"]),
          "--temperature", str(s["temperature"]), "--seed", str(s["seed"]), "--out", out,
          "--json"]


def _shown(path):
  """`path` relative to the repository when inside it, as a user there would type it."""
  path = os.path.abspath(path)
  return os.path.relpath(path, ROOT) if path.startswith(ROOT + os.sep) else path


def train_command(config):
  """train_loop.py flags that rebuild `config` from its preset (data_dir and out aside)."""
  from vae import config as config_lib  # pylint: disable=import-outside-toplevel
  base = config_lib.flat(config_lib.preset(config.preset))
  words = ["python", "train_loop.py", "--preset", config.preset]
  for name, value in config_lib.flat(config).items():
    if name in ("preset", "out") or base.get(name) == value:
      continue
    flag = "--" + name.replace("_", "-")
    if isinstance(value, bool):
      words.append(flag if value else "--no-" + name.replace("_", "-"))
    else:
      words += [flag, ",".join(map(str, value)) if isinstance(value, tuple) else str(value)]
  return " ".join(shlex.quote(w) for w in words)


def _git_commit():
  try:
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True, check=True, timeout=10)
  except (OSError, subprocess.SubprocessError):
    return "unknown (not a git checkout)"
  return done.stdout.strip()


def _size(directory):
  return sum(os.path.getsize(os.path.join(d, f))
             for d, _, files in os.walk(directory) for f in files)


def refit_sampler(model, config, prefix):
  """Refits the model's sampler where it is not fitted to these weights, or where it
  keeps the training sprites' types and holds none (a run made before it did)."""
  from vae.evaluation import report as report_lib  # pylint: disable=import-outside-toplevel
  data = report_lib.load_data(config)
  _, train, _, (groups, _) = report_lib.load_split(config, "test", data=data)
  return report_lib.ensure_expost(model, prefix, train,
                                  lambda: report_lib.load_split(config, "val", data=data)[0],
                                  groups, data.types("train") if data.type_names else None)


def package(run, dest=DEFAULT_DEST, *, report_dir=None, train=None, force=False, sampler=None):
  """Writes `dest` from `run` (see the module docstring), with the weights' sampler
  `sampler` where given (refitted here); returns check.json's dict."""
  report_dir = report_dir or os.path.join(run, "eval")
  report_json = os.path.join(report_dir, "report.json")
  source, target = os.path.realpath(run), os.path.realpath(dest)
  if target == source or source.startswith(target + os.sep):
    raise PackageError(f"--dest {dest} would replace the run {run} itself: choose another --dest")
  if os.path.exists(dest) and not os.path.isdir(dest):
    raise PackageError(f"--dest {dest} is a file: choose a folder")
  if os.path.isdir(dest) and os.listdir(dest) and not force:
    raise PackageError(f"--dest {dest} already holds files: pass --force to replace them")
  if not os.path.isfile(report_json):
    raise PackageError(f"no report in {report_dir}: run python evaluate.py --ckpt {run} first "
                       "(or pass --report DIR)")
  from common import startup  # pylint: disable=import-outside-toplevel
  tf = startup.import_tensorflow()
  from vae import rundir  # pylint: disable=import-outside-toplevel
  from vae.evaluation import report as report_lib  # pylint: disable=import-outside-toplevel
  from vae.rundir import load  # pylint: disable=import-outside-toplevel
  from vae import config as config_lib  # pylint: disable=import-outside-toplevel
  try:
    model, run_config, prefix, config_path = load.load_model(run, "best")
  except rundir.RunDirError as error:
    raise PackageError(str(error)) from None
  run_sampler = model.sampler
  config = report_lib.switch_sampler(model, run_config, sampler)
  resampled = config is not run_config
  refit_sampler(model, config, prefix)
  if os.path.exists(dest):
    shutil.rmtree(dest)
  os.makedirs(dest)
  # config.json, summary.json, and whatever else the run keeps beside them
  # (a sampler fitted after training, say): small files, all of them.
  run_dir = os.path.dirname(config_path)
  for name in sorted(os.listdir(run_dir)):
    if os.path.isfile(os.path.join(run_dir, name)) and name != "lock.json":  # a training's, not the model's
      shutil.copy(os.path.join(run_dir, name), os.path.join(dest, name))
  if resampled:
    config_lib.save(config, os.path.join(dest, "config.json"))
  step = int(prefix.rsplit("-", 1)[1]) if prefix.rsplit("-", 1)[-1].isdigit() else 0
  tf.train.CheckpointManager(
      tf.train.Checkpoint(model=model), os.path.join(dest, "checkpoints", "best"),
      max_to_keep=1, checkpoint_name="ckpt").save(checkpoint_number=step)
  for name in ("report.json", "report.html"):
    if os.path.isfile(os.path.join(report_dir, name)):
      shutil.copy(os.path.join(report_dir, name), os.path.join(dest, name))

  settings = dict(CHECK_SETTINGS)
  split = settings.pop("split")
  _, _, _, result = report_lib.report_on_run(dest, split=split, **settings)
  command = ["python", *check_command(_shown(dest), "/tmp/pretrained-check")]
  check = dict(command=" ".join(shlex.quote(w) for w in command),
               settings=CHECK_SETTINGS, **{k: result.report[k] for k in CHECK_KEYS})
  with open(os.path.join(dest, "check.json"), "w", encoding="utf-8") as f:
    f.write(json.dumps(check, indent=2) + "\n")

  with open(report_json, encoding="utf-8") as f:
    full = json.load(f)
  evaluate = ["python", "evaluate.py", "--ckpt", run, "--split", full.get("split", "test"),
              "--iw-samples", str(full.get("iw_samples")), "--num-samples",
              str(full.get("num_samples")), "--temperature", str(full.get("temperature")),
              "--seed", str(full.get("seed"))]
  packaging = ["python", "-m", "vae.pretrained", run, "--dest", _shown(dest)]
  if resampled:
    evaluate += ["--sampler", sampler, "--out", report_dir]
    packaging += ["--sampler", sampler, "--report", report_dir]
  lines = [
      "# How this pretrained model was made", "",
      f"Source commit: `{_git_commit()}`; run `{run}`, best checkpoint `{prefix}`.", "",
      "Training" + ("" if train else " (flags derived from config.json: they rebuild "
                                     "its config from the preset)") + ":", "",
      "```bash", train or train_command(config), "```", "",
      *([f"The run trained with the {run_sampler} sampler; its weights are packaged with the "
         f"{sampler} sampler, fitted to their training codes when packaging (no training).", ""]
        if resampled else []),
      "Evaluation (report.json and report.html):", "",
      "```bash", " ".join(shlex.quote(w) for w in evaluate), "```", "",
      "Packaging:", "",
      "```bash", " ".join(shlex.quote(w) for w in packaging), "```", "",
      f"check.json: the same model on the test split's first {CHECK_IMAGES} sprites; "
      "`tests/test_pretrained.py` runs this and compares:", "",
      "```bash", check["command"], "```", ""]
  with open(os.path.join(dest, "COMMAND.md"), "w", encoding="utf-8") as f:
    f.write("\n".join(lines))
  if _size(dest) > MAX_BYTES:
    raise PackageError(f"{dest} holds {_size(dest) / 2**20:.1f} MB, over the "
                       f"{MAX_BYTES / 2**20:.0f} MB a repository copy may take")
  return check


def main(argv=None):
  from vae import config as config_lib  # pylint: disable=import-outside-toplevel
  parser = cli.OneLineParser(prog=PROG, description=__doc__,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("run", help="the run directory to package")
  parser.add_argument("--dest", default=DEFAULT_DEST, help="output folder (default: pretrained/)")
  parser.add_argument("--report", default=None, metavar="DIR",
                      help="folder of report.json (default: RUN/eval)")
  parser.add_argument("--train-command", default=None,
                      help="the exact training command, for COMMAND.md (default: derived "
                           "from config.json)")
  parser.add_argument("--sampler", default=None, choices=config_lib.SAMPLERS,
                      help="package the weights with this sampler, fitted here "
                           "(default: the run's own)")
  parser.add_argument("--force", action="store_true", help="replace a --dest that holds files")
  args = parser.parse_args(argv)
  try:
    check = package(args.run, args.dest, report_dir=args.report, train=args.train_command,
                    force=args.force, sampler=args.sampler)
  except (PackageError, OSError) as error:
    print(f"{PROG}: error: {error}", file=sys.stderr)
    return 2
  print(f"wrote {args.dest}: {CHECK_IMAGES} test sprites at "
        f"{check['bits_per_dim_elbo']:.4f} bits/dim")
  return 0


if __name__ == "__main__":
  sys.exit(main())
