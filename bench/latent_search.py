"""Codes found by gradient through the decoder: two probes on one run's weights.

  python bench/latent_search.py refine [--ckpt pretrained] [--steps 200] [--lr 0.02]
  python bench/latent_search.py langevin --start expost|blend [--samples 500]
      [--rounds 2] [--critic-steps 300] [--steps 20] [--step-size 0.05] [--noise 1]
      [--prior-weight 1] [--realism] [--sheets DIR]
  python bench/latent_search.py chain --start expost|blend [--rounds 4] [--chain-sample]
      [--samples 500] [--realism] [--sheets DIR]

`refine` asks whether the reconstructions' PSNR is held back by the encoder
(an amortisation gap): it starts from the posterior means of the test sprites
and climbs log p(x|z) + log p(z1) + log p(z2|z1) with Adam, printing the
log-joint and the PSNR of the render as it goes.

`chain` is the encoder-decoder Markov chain (Arulkumaran, Creswell and
Bharath 2016): from the `--start` codes it renders each code, encodes the
render (the posterior mean, or a draw with `--chain-sample`) and renders that,
`--rounds` times, printing the measures after each round.

`langevin` is discriminator-driven latent sampling (Che et al. 2020; VAEBM,
Xiao et al. 2021, is its trained-energy cousin): a critic (`vae/critic.py`'s
`Discriminator`, logistic loss, flips and DiffAugment) learns training
sprites against decoded codes, and Langevin dynamics move the codes towards
p(code) exp(D(decoded)), which would be the data's density were the critic
exact. The code is walked in whitened coordinates: z1 = mean_k + L_k e1 for
its component k of a Gaussian mixture fitted to the training z1, the grid
z2 = loc(z1) + scale(z1) e2 under p(z2|z1), so the prior's energy is
|e|^2 / 2 (times `--prior-weight`). Each round trains the critic on the
decoded codes so far (`--critic-steps` batches of 64), then takes `--steps`
steps e <- e - (eta / 2) grad U + noise sqrt(eta) N(0, 1). `--start expost`
starts from the ex-post sampler's draws (z1 from the mixture, the grid from
p(z2|z1)); `--start blend` from the default blend's codes. Every round
prints the measures of `bench/blend_sweep.py` (bench/README.md, section 18).
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # pylint: disable=wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position
import tensorflow as tf  # pylint: disable=wrong-import-position

import blend_sweep  # pylint: disable=wrong-import-position
from vae import critic as critic_lib  # pylint: disable=wrong-import-position
from vae.evaluation import metrics  # pylint: disable=wrong-import-position
from vae.evaluation import report as report_lib  # pylint: disable=wrong-import-position
from vae.rundir import load  # pylint: disable=wrong-import-position
from vae.samplers import blend, mixture  # pylint: disable=wrong-import-position

CHUNK = 100  # codes through the decoder at a time


def grid_prior(model, z1):
  """p(z2|z1), event_shape [g, g, c] (the independent grid prior: its factors need no z2)."""
  return model.grid.prior(model.decoder.top(z1, model._grid_top_stages, None))  # pylint: disable=protected-access


def grid_loc_scale(model, z1):
  """(loc, scale) of p(z2|z1), [B, g, g, c] each."""
  normal = grid_prior(model, z1).distribution
  return tf.cast(normal.loc, tf.float32), tf.cast(normal.scale, tf.float32)


def refine(model, images, steps, lr):
  """Prints the log-joint and PSNR of the test sprites' codes as Adam climbs the log-joint."""
  x = tf.constant(images)
  code = tf.Variable(model.encode(x).mean())
  optimizer = keras.optimizers.Adam(lr)

  @tf.function
  def step():
    with tf.GradientTape() as tape:
      z1, z2 = model.split_code(code)
      joint = (model.decode(code).log_prob(x) + model.prior().log_prob(z1) +
               grid_prior(model, z1).log_prob(z2))
      loss = -tf.reduce_mean(joint)
    optimizer.apply_gradients([(tape.gradient(loss, code), code)])
    return loss

  print(f"{'step':>5s} {'log-joint before it (nats)':>46s} {'PSNR':>7s}")
  for i in range(steps + 1):
    loss = step()  # the log-joint at the code before this step, then one step
    if i % 25 == 0:
      print(f"{i:5d} {-float(loss):46.1f} "
            f"{metrics.psnr(images, model.render(code).numpy()):7.3f}", flush=True)


class Walker:
  """Codes in whitened coordinates (component k, e1, e2) and the critic that drives them."""

  def __init__(self, model, means, chols, image_size, channels, prior_weight):
    self.model = model
    self.means = tf.constant(means, tf.float32)
    self.chols = tf.constant(chols, tf.float32)
    self.prior_weight = prior_weight
    self.critic = critic_lib.Discriminator(image_size, channels, name="latent_critic")
    self.optimizer = keras.optimizers.Adam(2e-4, beta_1=0.5)
    self.image = tf.function(lambda k, e1, e2: model.image(self.code(k, e1, e2)))
    self.critic_step = tf.function(self._critic_step)
    self.energy_grad = tf.function(self._energy_grad)

  def code(self, k, e1, e2):
    z1 = tf.gather(self.means, k) + tf.linalg.matvec(tf.gather(self.chols, k), e1)
    loc, scale = grid_loc_scale(self.model, z1)
    return self.model.join_code(z1, loc + scale * e2)

  def whiten(self, codes):
    """(k, e1, e2) of codes [N, code_dim], k the component nearest by Mahalanobis distance."""
    z1, z2 = self.model.split_code(tf.constant(codes))
    e1 = [tf.linalg.triangular_solve(
        tf.broadcast_to(self.chols[k], [len(codes)] + self.chols.shape[1:].as_list()),
        (z1 - self.means[k])[..., None])[..., 0] for k in range(len(self.means))]
    k = tf.argmin(tf.stack([tf.reduce_sum(e**2, 1) for e in e1], 1), 1, output_type=tf.int32)
    e1 = tf.gather_nd(tf.stack(e1, 1), tf.stack([tf.range(len(codes)), k], 1))
    loc, scale = grid_loc_scale(self.model, z1)
    return k, e1, (z2 - loc) / scale

  def _critic_step(self, real, fake, seed):
    flip = tf.random.stateless_uniform([tf.shape(real)[0], 1, 1, 1], seed) < 0.5
    real = tf.where(flip, real, real[:, :, ::-1])
    with tf.GradientTape() as tape:
      real_logits = self.critic(critic_lib.diff_augment(real, seed))
      fake_logits = self.critic(critic_lib.diff_augment(fake, seed + 1))
      loss = (tf.reduce_mean(tf.nn.softplus(-real_logits)) +
              tf.reduce_mean(tf.nn.softplus(fake_logits)))
    variables = self.critic.trainable_variables
    self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
    return loss

  def _energy_grad(self, k, e1, e2):
    with tf.GradientTape() as tape:
      tape.watch([e1, e2])
      logit = self.critic(self.model.image(self.code(k, e1, e2)))
      energy = self.prior_weight * 0.5 * (
          tf.reduce_sum(e1**2, 1) + tf.reduce_sum(e2**2, [1, 2, 3])) - logit
    return (logit, *tape.gradient(energy, [e1, e2]))

  def chunks(self, fn, k, e1, e2):
    parts = [fn(k[i:i + CHUNK], e1[i:i + CHUNK], e2[i:i + CHUNK]) for i in range(0, len(k), CHUNK)]
    if isinstance(parts[0], tuple):
      return tuple(tf.concat(list(p), 0) for p in zip(*parts))
    return tf.concat(parts, 0)

  def render(self, k, e1, e2):
    return self.chunks(lambda *a: self.model.render(self.code(*a)), k, e1, e2).numpy()


def start(model, args, train, train_groups, codes, val_codes, rng):
  """The walker and the whitened start codes (k, e1, e2) that `--start` names."""
  z1 = model.split_code(tf.constant(codes))[0].numpy()
  weights, means, chols, _ = mixture.fit_mixture(
      z1, model.split_code(tf.constant(val_codes))[0].numpy(), (1, 2, 4, 8))
  walker = Walker(model, means, chols, train.shape[1], train.shape[-1], args.prior_weight)
  n = args.samples
  if args.start == "expost":
    k = tf.constant(rng.choice(len(weights), size=n, p=weights / weights.sum()), tf.int32)
    e1 = tf.constant(rng.standard_normal((n, means.shape[1])), tf.float32)
    e2 = tf.constant(rng.standard_normal((n, *model.split_code(
        tf.constant(codes[:1]))[1].shape[1:])), tf.float32)
  else:
    partners = blend.partners(codes, train_groups, k=96)
    default = next(setting for setting in blend_sweep.SETTINGS if "(the default)" in setting[0])
    k, e1, e2 = walker.whiten(blend_sweep.blends(model, codes, partners, default, n))
  print(f"{len(weights)} mixture components; {n} codes from {args.start}")
  return walker, k, e1, e2


def measurer(args, train, train_groups, heldout, heldout_groups):
  """measure(name, samples, number): prints blend_sweep's measures of samples, saves a sheet."""
  started = time.time()

  def measure(name, samples, number):
    print(blend_sweep.measures(name, 22, samples, train, heldout, (train_groups, heldout_groups),
                               args.realism) + f"  [{time.time() - started:.0f} s]", flush=True)
    if args.sheets:
      blend_sweep.sheet(samples, os.path.join(args.sheets, f"{args.mode}_{args.start}_{number}.png"))

  print(blend_sweep.header(22, args.realism))
  return measure


def chain(model, args, train, train_groups, heldout, heldout_groups, codes, val_codes):
  """The encoder-decoder chain: render each code, encode the render, `--rounds` times."""
  walker, k, e1, e2 = start(model, args, train, train_groups, codes, val_codes,
                            np.random.default_rng(0))
  measure = measurer(args, train, train_groups, heldout, heldout_groups)
  samples = walker.render(k, e1, e2)
  measure("start", samples, 0)
  for r in range(args.rounds):
    posterior = [model.encode(tf.constant(samples[i:i + CHUNK])) for i in range(0, len(samples), CHUNK)]
    chained = np.concatenate([
        (q.sample(seed=tf.constant([r, i], tf.int32)) if args.chain_sample else q.mean()).numpy()
        for i, q in enumerate(posterior)])
    samples = blend_sweep.render(model, chained)
    measure(f"round {r + 1}", samples, r + 1)


def langevin(model, args, train, train_groups, heldout, heldout_groups, codes, val_codes):
  rng = np.random.default_rng(0)
  walker, k, e1, e2 = start(model, args, train, train_groups, codes, val_codes, rng)
  real = tf.constant(train)
  measure_samples = measurer(args, train, train_groups, heldout, heldout_groups)

  def measure(name, k, e1, e2, number):
    measure_samples(name, walker.render(k, e1, e2), number)

  measure("start", k, e1, e2, 0)
  pool = walker.chunks(walker.image, k, e1, e2).numpy()
  for r in range(args.rounds):
    for i in range(args.critic_steps):
      loss = walker.critic_step(tf.gather(real, rng.integers(len(train), size=64)),
                                tf.constant(pool[rng.integers(len(pool), size=64)]),
                                tf.constant([2 * r, 2 * i], tf.int32))
    walked1, walked2 = e1, e2
    for _ in range(args.steps):
      logit, g1, g2 = walker.chunks(walker.energy_grad, k, walked1, walked2)
      shake = args.noise * np.sqrt(args.step_size)
      walked1 = walked1 - 0.5 * args.step_size * g1 + shake * tf.random.normal(walked1.shape)
      walked2 = walked2 - 0.5 * args.step_size * g2 + shake * tf.random.normal(walked2.shape)
    print(f"round {r + 1}: critic loss {float(loss):.3f}, mean logit at the end "
          f"{float(tf.reduce_mean(logit)):.2f}")
    measure(f"round {r + 1}", k, walked1, walked2, r + 1)
    pool = np.concatenate([pool, walker.chunks(walker.image, k, walked1, walked2).numpy()])


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("mode", choices=("refine", "langevin", "chain"))
  parser.add_argument("--ckpt", default="pretrained")
  parser.add_argument("--steps", type=int, default=None,
                      help="Adam steps (refine, default 200) or Langevin steps a round (default 20)")
  parser.add_argument("--lr", type=float, default=0.02)
  parser.add_argument("--start", choices=("expost", "blend"), default="expost")
  parser.add_argument("--samples", type=int, default=500)
  parser.add_argument("--rounds", type=int, default=2)
  parser.add_argument("--critic-steps", type=int, default=300)
  parser.add_argument("--step-size", type=float, default=0.05)
  parser.add_argument("--noise", type=float, default=1.0, help="1 for Langevin dynamics proper")
  parser.add_argument("--prior-weight", type=float, default=1.0)
  parser.add_argument("--chain-sample", action="store_true",
                      help="chain: draw each new code from q(code|x), not its mean")
  parser.add_argument("--realism", action="store_true")
  parser.add_argument("--sheets", default="")
  args = parser.parse_args()
  tf.random.set_seed(0)
  model, config, _, _ = load.load_model(args.ckpt)
  images, train, heldout, (train_groups, heldout_groups) = report_lib.load_split(config, "test")
  if args.mode == "refine":
    refine(model, images, 200 if args.steps is None else args.steps, args.lr)
    return 0
  args.steps = 20 if args.steps is None else args.steps  # langevin's
  val = report_lib.load_split(config, "val")[0]
  (chain if args.mode == "chain" else langevin)(
      model, args, train, np.asarray(train_groups), heldout, heldout_groups,
      blend_sweep.encode(model, train), blend_sweep.encode(model, val))
  return 0


if __name__ == "__main__":
  sys.exit(main())
