"""Every hyperparameter of a PokeVAE run, in one frozen dataclass.

`Config` holds each setting with its default; the data settings are a
`pipelines.DataConfig` nested in `Config.data`. Named presets (`smoke`,
`default`, `quality`) are `Config`s with some fields replaced, `train_loop.py`
offers every field as a flag (`--latent-dim 64`, `--image-size 32`), and the
resolved config is written as `config.json` beside every checkpoint so that
`evaluate.py` rebuilds the model (`VAE.from_config`) without repeating a flag.
`CHECKPOINTS` names the checkpoints a run directory keeps, which `--which`
(`add_which_flag`) picks from in `evaluate.py` and `generate.py`.
No pickles: JSON in, JSON out, checked against the fields. A config.json
written before the data settings were nested (every field at the top level)
loads as well.
"""

import dataclasses
import json
import os

from common.errors import check_choice
from pipelines.config import DataConfig

CONFIG_NAME = "config.json"  # beside the checkpoints of every run directory
CHECKPOINTS = ("best", "latest")  # checkpoints/<name>/ of every run directory

BETA_SCHEDULES = ("constant", "linear", "cyclical", "capacity")
LR_SCHEDULES = ("constant", "cosine", "plateau")
STRATEGIES = ("default", "mirrored", "multiworker")
LIKELIHOODS = ("logistic", "palette", "gaussian", "bernoulli")
PRIORS = ("normal", "mog")
NORMS = ("group", "none")
SAMPLERS = ("prior", "expost", "blend", "quilt")
GRID_PRIORS = ("independent", "autoregressive")
EXPOST_LATENTS = ("top", "all")
DASHBOARDS = ("auto", "rich", "plain")
# What the encoder and decoder are conditioned on: nothing, or each sprite's
# types (a conditional VAE, vae/conditioning.py), which needs data with a
# types table.
CONDITIONS = ("none", "types")

# The DataConfig fields, which flags and old flat config.json files name directly.
DATA_FIELDS = tuple(f.name for f in dataclasses.fields(DataConfig))


@dataclasses.dataclass(frozen=True)
class Config:
  """One training run, data to dashboard. Field names are the CLI flags."""

  preset: str = "default"

  # Data: files to batches (see pipelines/config.py); each field is a flag too.
  data: DataConfig = dataclasses.field(default_factory=DataConfig)

  # Model: what `vae.model.VAE.from_config` builds.
  latent_dim: int = 64
  widths: tuple = (16, 32, 64, 128)
  res_blocks: int = 0
  # The decoder's 3x3 convolutions at full resolution (vae/networks.py, Decoder).
  output_convs: int = 0
  norm: str = "group"  # in the encoder
  decoder_norm: str = "none"  # see vae.model.VAE: a normalised decoder ignores |z|
  likelihood: str = "logistic"
  # Components of each pixel's logistic mixture (one: a logistic per channel). Two let
  # a pixel be "transparent" or "this colour" and render at the likelier one: the
  # default since bench/README.md, section 15 (at 1.5x the step's cost).
  logistic_mixtures: int = 2
  palette_size: int = 16  # palette: colours per image, from z1, besides the background.
  palette_offset: float = 0.0  # palette: largest per-pixel nudge of a colour, in 8-bit levels.
  prior: str = "normal"
  prior_components: int = 16
  grid_size: int = 16  # side of the spatial latent grid (vae/hierarchy.py); 0: none.
  # Channels of each grid cell: 8 since bench/README.md, section 21 (4 before it).
  grid_channels: int = 8
  grid_prior: str = "independent"  # independent | autoregressive: p(z2|z1) (vae/hierarchy.py).
  grid_temperature: float = 1.0  # the grid's sampling temperature relative to the global one.
  # prior | expost | blend | quilt: where samples draw their codes from (the quilt
  # since bench/README.md, section 20).
  sampler: str = "quilt"
  expost_latents: str = "top"  # top | all: the ex-post density's latents (vae/samplers/mixture.py).
  expost_components: int = 4  # most components of the ex-post mixture.
  condition: str = "none"  # none | types: what the encoder and decoder are conditioned on.
  condition_dropout: float = 0.1  # types: share of training sprites whose types are hidden.

  # Objective: loss = distortion + beta * rate (or the capacity form).
  beta: float = 1.0
  beta_schedule: str = "linear"
  warmup_steps: int = 2000  # linear: steps from beta 0 to `beta`.
  cycle_steps: int = 4000  # cyclical: length of one cycle (Fu et al. 2019).
  cycle_ramp: float = 0.5  # cyclical: fraction of a cycle spent ramping.
  capacity_max: float = 50.0  # capacity: C_max in nats (Burgess et al. 2018).
  capacity_steps: int = 20000  # capacity: steps for C to reach C_max.
  gamma: float = 100.0  # capacity: weight of |rate - C|.
  free_bits: float = 0.0  # per-dimension KL floor in nats (Kingma et al. 2016).

  # The adversarial critic (vae/critic.py): 0 leaves it out.
  adversary_weight: float = 0.0  # times the adaptive weight of the decoder's adversarial term.
  adversary_start: int = 0  # the step the adversarial term starts at (the critic trains from 0).
  adversary_lr: float = 2e-4  # the critic's Adam learning rate.

  # Optimisation.
  batch_size: int = 64
  lr: float = 2e-3
  lr_schedule: str = "cosine"
  lr_min_ratio: float = 0.05  # cosine floor as a fraction of lr.
  plateau_patience: int = 5  # plateau: epochs without improvement before halving.
  clip_norm: float = 20000.0  # global gradient norm clip; the loss is nats per image, so
  # norms in the thousands are normal (bench/README.md): this only stops a rare spike.
  epochs: int = 250
  max_steps: int = 0  # 0: epochs decide.
  max_minutes: float = 0.0  # 0: no time budget; else stop (and save) after it.
  steps_per_call: int = 8  # compiled steps per tf.function call.

  # Early stopping on validation bits/dim.
  patience: int = 30
  min_delta: float = 1e-3

  # Guards.
  nan_tolerance: int = 3  # non-finite (or spiking) steps in a row before a rollback.
  spike_factor: float = 10.0  # a loss above this times its running average is skipped; 0: off.
  max_rollbacks: int = 4
  checkpoint_every: int = 500  # steps between `latest` checkpoints.
  keep_checkpoints: int = 3

  # Runtime.
  seed: int = 0
  deterministic: bool = False
  xla: bool = False
  mixed_precision: bool = False
  strategy: str = "default"
  log_every: int = 50  # steps between plain log lines / TensorBoard scalars.
  preview_count: int = 16  # images in each epoch's reconstruction/sample PNG.
  out: str = ""  # run directory; "" is runs/<preset>-<timestamp>.
  fresh: bool = False  # ignore an existing checkpoint in `out`.
  init_from: str = ""  # a run or checkpoint whose model weights start this run (fine-tuning).
  dashboard: str = "auto"  # auto | rich | plain

  def __post_init__(self):
    if not isinstance(self.data, DataConfig):
      raise ValueError(f"data must be a DataConfig, got {self.data!r}")
    check_choice("beta_schedule", self.beta_schedule, BETA_SCHEDULES)
    check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
    check_choice("strategy", self.strategy, STRATEGIES)
    check_choice("likelihood", self.likelihood, LIKELIHOODS)
    check_choice("prior", self.prior, PRIORS)
    check_choice("norm", self.norm, NORMS)
    check_choice("decoder_norm", self.decoder_norm, NORMS)
    check_choice("sampler", self.sampler, SAMPLERS)
    check_choice("grid_prior", self.grid_prior, GRID_PRIORS)
    check_choice("expost_latents", self.expost_latents, EXPOST_LATENTS)
    check_choice("dashboard", self.dashboard, DASHBOARDS)
    check_choice("condition", self.condition, CONDITIONS)
    if not 0 <= self.condition_dropout < 1:
      raise ValueError(f"condition_dropout must be in [0, 1), got {self.condition_dropout}")
    # The model's stages halve the image; DataConfig allows any size from 8 px.
    if self.data.image_size not in (32, 64, 96, 128):
      raise ValueError(
          f"image_size must be one of 32, 64, 96, 128, got {self.data.image_size}")
    for name in ("latent_dim", "batch_size", "epochs", "steps_per_call",
                 "log_every", "checkpoint_every", "keep_checkpoints",
                 "nan_tolerance", "warmup_steps", "cycle_steps",
                 "capacity_steps", "preview_count", "grid_channels",
                 "expost_components", "palette_size"):
      if getattr(self, name) < 1:
        raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
    for name in ("lr", "clip_norm", "adversary_lr"):
      if not getattr(self, name) > 0:
        raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
    for name in ("spike_factor", "beta", "free_bits", "gamma", "capacity_max", "max_minutes",
                 "min_delta", "max_steps", "max_rollbacks", "patience",
                 "res_blocks", "output_convs", "grid_size", "adversary_weight",
                 "adversary_start", "palette_offset"):
      if getattr(self, name) < 0:
        raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")
    if not self.grid_temperature > 0:
      raise ValueError(f"grid_temperature must be positive, got {self.grid_temperature}")
    if not 0 < self.cycle_ramp <= 1:
      raise ValueError(f"cycle_ramp must be in (0, 1], got {self.cycle_ramp}")
    if not self.widths or any(w < 1 for w in self.widths):
      raise ValueError(f"widths must be positive integers, got {self.widths}")

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)


PRESETS = {
    # Tiny and fast: a whole run, start-up included, in well under a minute.
    "smoke": dict(image_size=32, widths=(8, 16, 32), latent_dim=8,
                  batch_size=32, epochs=2, max_steps=40, warmup_steps=20,
                  steps_per_call=4, checkpoint_every=20, log_every=10,
                  patience=5, preview_count=8, lr=1e-3, grid_size=8, grid_channels=2,
                  logistic_mixtures=1),
    # The best model of the ablations (bench/README.md, sections 8 and 15); how long it
    # trains on two CPU cores is measured in README.md.
    "default": dict(),
    # The default conditioned on the sprites' types (vae/conditioning.py): its
    # figures beside the default's are in README.md ("Sprites of a type"), with
    # the blend sampler and the 16x16x4 grid they were measured with.
    "conditional": dict(condition="types", sampler="blend", grid_channels=4),
    # Longer and wider, for a GPU or a patient user.
    "quality": dict(widths=(32, 64, 128, 256), res_blocks=1, latent_dim=128,
                    grid_channels=8, logistic_mixtures=3, epochs=1000,
                    warmup_steps=5000, patience=60, hue=True),
}


def replace(config: Config, **changes) -> Config:
  """`dataclasses.replace` that also takes the `DataConfig` fields by name.

  `replace(config, image_size=32, latent_dim=8)` changes `config.data.image_size`
  and `config.latent_dim`; the new config is validated as a whole.
  """
  data = {name: changes.pop(name) for name in DATA_FIELDS if name in changes}
  if data:
    changes["data"] = dataclasses.replace(changes.get("data", config.data), **data)
  return dataclasses.replace(config, **changes)


def flat(config: Config) -> dict:
  """Every field by its flag's name, the `DataConfig` fields among them."""
  values = {f.name: getattr(config, f.name) for f in dataclasses.fields(Config) if f.name != "data"}
  values.update(dataclasses.asdict(config.data))
  return values


def preset(name: str, **overrides) -> Config:
  """Returns the named preset with `overrides` (any field, data fields by name) applied."""
  check_choice("preset", name, tuple(PRESETS))
  return replace(Config(), **{**PRESETS[name], **overrides, "preset": name})


# Model fields added after runs had been made, with the values of the model
# those runs trained: a config.json without them is of such a run, and must
# rebuild that model, not today's default.
LEGACY_MODEL_FIELDS = dict(grid_size=0, grid_channels=4, grid_prior="independent",
                           grid_temperature=1.0, sampler="prior",
                           expost_latents="top", expost_components=16,
                           adversary_weight=0.0)


def from_dict(values: dict) -> Config:
  """Rebuilds a Config from `json.loads(config.to_json())`; unknown keys are an error.

  Also takes the flat layout of config.json files written before the data
  settings were nested: `image_size` etc. at the top level, no `data`; and
  files written before the latent grid and the ex-post sampler existed.
  """
  values = {**LEGACY_MODEL_FIELDS, **values}
  data = dict(values.pop("data", {}))
  data.update({name: values.pop(name) for name in DATA_FIELDS if name in values})
  known = {f.name for f in dataclasses.fields(Config)}
  unknown = sorted(set(values) - known) + sorted(f"data.{k}" for k in set(data) - set(DATA_FIELDS))
  if unknown:
    raise ValueError(f"unknown config field(s): {', '.join(unknown)}")
  if "widths" in values:
    values["widths"] = tuple(values["widths"])
  return Config(data=DataConfig(**data), **values)


def add_which_flag(parser) -> None:
  """`--which best|latest`: the checkpoint of a run directory a program reads."""
  parser.add_argument("--which", choices=CHECKPOINTS, default=CHECKPOINTS[0],
                      help=f"checkpoint of a run directory (default: {CHECKPOINTS[0]})")


def load(path: str) -> Config:
  with open(path, encoding="utf-8") as f:
    return from_dict(json.load(f))


def save(config: Config, path: str) -> None:
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  tmp = path + ".tmp"
  with open(tmp, "w", encoding="utf-8") as f:
    f.write(config.to_json() + "\n")
  os.replace(tmp, path)
