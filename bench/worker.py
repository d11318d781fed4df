"""One benchmark competitor in its own process (started by bench/harness.py).

  python bench/worker.py '{"name": ..., "kind": ..., ...}'

Builds the competitor named by `kind`, warms it up (tracing is not timed),
prints one JSON line, then answers JSON commands on stdin, one line each:

  {"command": "run"}     time one block: images/s (wall) and CPU ms per image
  {"command": "flops"}   profiler FLOPs of one training step (kind "pokevae")
  {"command": "profile"} op time of one traced block by kind of op, input wait
  {"command": "quit"}

Kinds (all train the same `vae.model.VAE` on the same loss and the same batches):
  pokevae   `vae.training.step.make_train_fn` driven as train_loop.py drives it
  keras     a keras.Model whose train_step calls `vae.objectives`, run by fit()
  plain     one tf.function per step, called from a Python for loop
  matmul    a 4096 x 4096 float32 matmul, for the machine's peak rate
  pipeline  the training input pipeline alone

Spec fields: name, kind, src (source tree to import vae and pipelines from;
default this checkout), block_steps, steps_per_call (also Keras'
steps_per_execution), jit_compile (keras), threads ({"intra": n, "inter": n}),
input ("pipeline", or "memory": one pipeline batch repeated), data_options
(tf.data threading options), preset (default: "default"), config (Config overrides),
env (environment).
"""

import json
import os
import sys
import time

SPEC = json.loads(sys.argv[1])
SRC = SPEC.get("src") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, SRC)

import numpy as np  # pylint: disable=wrong-import-position
import tensorflow as tf  # pylint: disable=wrong-import-position

THREADS = SPEC.get("threads")
if THREADS:  # Must come before TensorFlow runs its first op.
  tf.config.threading.set_intra_op_parallelism_threads(THREADS.get("intra", 0))
  tf.config.threading.set_inter_op_parallelism_threads(THREADS.get("inter", 0))

import keras  # pylint: disable=wrong-import-position

import pipelines  # pylint: disable=wrong-import-position
from vae import config as config_lib  # pylint: disable=wrong-import-position
from vae import objectives  # pylint: disable=wrong-import-position
# pylint: disable=wrong-import-position,ungrouped-imports
if os.path.isdir(os.path.join(SRC, "vae", "training")):
  from vae.model import VAE
  from vae.training import schedules
  from vae.training import step as train_step
  make_model = VAE.from_config
  data_config = lambda config: config.data  # pylint: disable=unnecessary-lambda-assignment
else:  # A source tree from before vae/training/ (levers.py --group code).
  from vae import schedules, train_step
  make_model = config_lib.make_model
  data_config = lambda config: config.data_config()  # pylint: disable=unnecessary-lambda-assignment

def cpu_seconds():
  return time.process_time()  # All threads of this process.


class Setup:
  """The config, data and model every kind shares."""

  def __init__(self):
    overrides = dict(SPEC.get("config", {}))
    if "widths" in overrides:
      overrides["widths"] = tuple(overrides["widths"])
    self.config = config_lib.preset(SPEC.get("preset", "default"), dashboard="plain", **overrides)
    keras.utils.set_random_seed(self.config.seed)
    start = time.perf_counter()
    self.data = pipelines.load(data_config(self.config))  # Decodes (first pass) into the cache.
    self.load_seconds = time.perf_counter() - start
    self.images = sum(self.data.count(s) for s in ("train", "val", "test"))
    self.batch = self.config.batch_size
    self.steps_per_epoch = self.data.count("train") // self.batch
    self.total_steps = self.config.epochs * self.steps_per_epoch

  def dataset(self):
    """The batches of train_loop.py: shuffled, augmented, repeated."""
    ds = self.data.dataset("train", self.batch, training=True, seed=self.config.seed,
                           drop_remainder=True,
                           with_types=self.config.condition == "types").repeat()
    if SPEC.get("data_options"):
      ds = ds.with_options(data_options(SPEC["data_options"]))
    if SPEC.get("input") == "memory":
      # One batch, materialised once: the step without the pipeline's work.
      ds = tf.data.Dataset.from_tensors(next(iter(ds))).repeat()
    return ds


def data_options(values):
  """tf.data.Options from {"private_threadpool_size": n, "max_intra_op_parallelism": n,
  "autotune_cpu_budget": n}."""
  options = tf.data.Options()
  if "private_threadpool_size" in values:
    options.threading.private_threadpool_size = values["private_threadpool_size"]
  if "max_intra_op_parallelism" in values:
    options.threading.max_intra_op_parallelism = values["max_intra_op_parallelism"]
  if "autotune_cpu_budget" in values:
    options.autotune.cpu_budget = values["autotune_cpu_budget"]
  return options


def noise_for(config, step, batch, model):
  return tf.random.stateless_normal([batch, model.code_dim], train_step.step_seed(config.seed, step))


class PokeVAE:
  """train_loop.py's inner loop: N compiled steps per call, guards on."""

  def __init__(self, setup):
    config = setup.config
    self.config, self.batch = config, setup.batch
    strategy = tf.distribute.get_strategy()
    with strategy.scope():
      self.model = make_model(config)
      self.optimizer = keras.optimizers.Adam(learning_rate=config.lr)
      self.optimizer.build(self.model.trainable_variables)
      self.state = train_step.TrainState(name="train_state")
    # With `adversary_weight` the critic trains beside it, as from `adversary_start` in a run.
    from vae.training import loop  # pylint: disable=import-outside-toplevel
    critic, critic_optimizer = loop.build_critic(config, strategy)
    self.train_fn = train_step.make_train_fn(self.model, self.optimizer, strategy, config, self.state,
                                             total_steps=setup.total_steps, global_batch=setup.batch,
                                             critic=critic, critic_optimizer=critic_optimizer)
    self.iterator = iter(strategy.experimental_distribute_dataset(setup.dataset()))
    self.consecutive_bad = 0

  def iterations(self):
    return int(self.optimizer.iterations.numpy())

  def steps(self, n):
    per_call = self.config.steps_per_call
    done = 0
    while done < n:
      k = min(per_call, n - done)
      out = self.train_fn(self.iterator, tf.constant(k), tf.constant(self.consecutive_bad, tf.int64))
      out = {key: v.numpy() for key, v in out.items()}  # As train_loop.py does after each call.
      self.consecutive_bad = int(out["consecutive_bad"])
      done += k

  def flops(self):
    """Profiler FLOPs of one step (forward, loss, gradients, clipping, Adam) per image."""
    config, model, optimizer = self.config, self.model, self.optimizer
    variables = model.trainable_variables

    @tf.function(input_signature=[tf.TensorSpec(
        [self.batch, *model.image_shape], tf.float32)])
    def one_step(x):
      step = optimizer.iterations
      with tf.GradientTape() as tape:
        terms = objectives.elbo_terms(model, x, noise=noise_for(config, step, self.batch, model))
        loss = objectives.training_loss(terms, beta=schedules.beta_at(config, step))
      grads = tape.gradient(loss, variables)
      grads, _ = tf.clip_by_global_norm(grads, config.clip_norm)
      optimizer.apply_gradients(zip(grads, variables))
      return loss

    graph = one_step.get_concrete_function().graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    report = tf.compat.v1.profiler.profile(graph, options=options)
    # Split the total into convolutions / matmuls (the part a matmul rate can
    # bound) and everything else.
    heavy = ("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter", "MatMul", "BatchMatMulV2")
    dense = sum(child.total_float_ops for child in _leaves(report)
                if _op_type(graph, child.name) in heavy)
    return {"flops_per_image": report.total_float_ops / self.batch,
            "dense_flops_per_image": dense / self.batch}


def _leaves(node):
  if not node.children:
    yield node
  for child in node.children:
    yield from _leaves(child)


def _op_type(graph, name):
  try:
    return graph.get_operation_by_name(name).type
  except (KeyError, ValueError):
    return ""


class KerasVAE(keras.Model):
  """The same VAE and loss trained by keras.Model.fit.

  Keras 3 does not track tf.Module variables, so the step takes its gradient
  over `self.vae.trainable_variables` and applies it with `self.optimizer`
  (built on those variables before compile). Loss trackers as in keras-io's
  VAE example.
  """

  def __init__(self, vae, config, **kwargs):
    super().__init__(**kwargs)
    self.vae = vae
    self.config = config
    self.trackers = {k: keras.metrics.Mean(name=k) for k in ("loss", "distortion", "rate")}

  @property
  def metrics(self):
    return list(self.trackers.values())

  def train_step(self, data):
    config = self.config
    step = self.optimizer.iterations
    variables = self.vae.trainable_variables
    with tf.GradientTape() as tape:
      terms = objectives.elbo_terms(self.vae, data, noise=noise_for(config, step, tf.shape(data)[0], self.vae))
      loss = objectives.training_loss(terms, beta=schedules.beta_at(config, step))
    grads = tape.gradient(loss, variables)
    self.optimizer.apply(grads, variables)
    self.trackers["loss"].update_state(loss)
    self.trackers["distortion"].update_state(tf.reduce_mean(terms["distortion"]))
    self.trackers["rate"].update_state(tf.reduce_mean(terms["rate"]))
    return {k: m.result() for k, m in self.trackers.items()}


class LRSchedule(keras.optimizers.schedules.LearningRateSchedule):
  """PokeVAE's cosine learning rate as a Keras schedule."""

  def __init__(self, config, total_steps):
    self.config, self.total_steps = config, total_steps

  def __call__(self, step):
    return schedules.lr_at(self.config, step, self.total_steps)


class KerasFit:
  """fit() with steps_per_execution and jit_compile as the spec sets them.

  One fit() call trains for the whole benchmark, as a user's run would: a
  fit() per block would make a new dataset iterator each time, whose start
  and teardown (seconds, at times) no real run pays once per 64 steps. A
  callback holds training between blocks, so fit runs only while timed.
  """

  def __init__(self, setup):
    import queue  # pylint: disable=import-outside-toplevel
    import threading  # pylint: disable=import-outside-toplevel
    config = setup.config
    vae = make_model(config)
    optimizer = keras.optimizers.Adam(learning_rate=LRSchedule(config, setup.total_steps),
                                      global_clipnorm=config.clip_norm)
    optimizer.build(vae.trainable_variables)
    self.model = KerasVAE(vae, config)
    self.model.compile(optimizer=optimizer, jit_compile=bool(SPEC.get("jit_compile", False)),
                       steps_per_execution=SPEC.get("steps_per_call", 8))
    self.requests, self.done = queue.Queue(), queue.Queue()
    gate = _Gate(self.requests, self.done)
    self.thread = threading.Thread(
        target=self.model.fit, args=(setup.dataset(),), daemon=True,
        kwargs=dict(epochs=1, steps_per_epoch=10**9, verbose=0, shuffle=False, callbacks=[gate]))
    self.thread.start()

  def iterations(self):
    return int(self.model.optimizer.iterations.numpy())

  def steps(self, n):
    self.requests.put(n)
    error = self.done.get()
    if error:
      raise RuntimeError(error)


class _Gate(keras.callbacks.Callback):
  """Lets fit() run the requested number of steps, then waits for the next request."""

  def __init__(self, requests, done):
    super().__init__()
    self.requests, self.done = requests, done
    self.left, self.last = 0, -1

  def on_train_begin(self, logs=None):
    self.left = self.requests.get()

  def on_train_batch_end(self, batch, logs=None):
    # Called after each steps_per_execution steps; `batch` is the last step's index.
    self.left -= batch - self.last
    self.last = batch
    if self.left <= 0:
      self.done.put(None)
      self.left = self.requests.get()


class Plain:
  """A per-step tf.function in a Python loop: no multi-step calls, no guards."""

  def __init__(self, setup):
    config = setup.config
    model = make_model(config)
    optimizer = keras.optimizers.Adam(learning_rate=config.lr, global_clipnorm=config.clip_norm)
    optimizer.build(model.trainable_variables)
    variables = model.trainable_variables
    total_steps = setup.total_steps

    @tf.function
    def step(x):
      it = optimizer.iterations
      optimizer.learning_rate.assign(schedules.lr_at(config, it, total_steps))
      with tf.GradientTape() as tape:
        terms = objectives.elbo_terms(model, x, noise=noise_for(config, it, tf.shape(x)[0], model))
        loss = objectives.training_loss(terms, beta=schedules.beta_at(config, it))
      optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
      return loss

    self.step = step
    self.optimizer = optimizer
    self.iterator = iter(setup.dataset())

  def iterations(self):
    return int(self.optimizer.iterations.numpy())

  def steps(self, n):
    for _ in range(n):
      loss = self.step(next(self.iterator))
    float(loss)


class Matmul:
  """float32 [4096, 4096] x [4096, 4096]: the machine's dense peak as TF reaches it."""

  size = 4096

  def __init__(self, setup=None):
    del setup
    rng = np.random.default_rng(0)
    self.a = tf.constant(rng.standard_normal((self.size, self.size), np.float32))
    self.b = tf.constant(rng.standard_normal((self.size, self.size), np.float32))

  def steps(self, n):
    for _ in range(n):
      c = tf.linalg.matmul(self.a, self.b)
    c.numpy()


class Pipeline:
  """The training batches alone, as fast as tf.data makes them.

  A fresh iterator per block: one kept between blocks would hand out what its
  prefetch buffer filled while the other workers were being timed.
  """

  def __init__(self, setup):
    self.dataset = setup.dataset()

  def steps(self, n):
    iterator = iter(self.dataset)
    for _ in range(n):
      batch = next(iterator)
    batch.numpy()


def profile(competitor, steps):
  """Op time of one traced block, by kind of op, and the time spent waiting for input.

  Op times are summed over TensorFlow's threads (two ops may run at once), so
  shares are of the summed op time; `input_wait_ms` is the time the steps spent
  in IteratorGetNext (over `input_waits` calls), i.e. waiting for the
  pipeline's next batch; with a batch prefetched it is a copy of microseconds.
  """
  import glob  # pylint: disable=import-outside-toplevel
  import shutil  # pylint: disable=import-outside-toplevel
  import tempfile  # pylint: disable=import-outside-toplevel
  from tensorflow.tsl.profiler.protobuf import xplane_pb2  # pylint: disable=import-outside-toplevel
  logdir = tempfile.mkdtemp(prefix="pokevae-profile-")
  tf.profiler.experimental.start(logdir)
  wall = time.perf_counter()
  competitor.steps(steps)
  wall = time.perf_counter() - wall
  tf.profiler.experimental.stop()
  space = xplane_pb2.XSpace()
  with open(glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True)[0], "rb") as f:
    space.ParseFromString(f.read())
  shutil.rmtree(logdir, ignore_errors=True)
  kinds, by_type, waits = {}, {}, []
  for plane in space.planes:
    if plane.name != "/host:CPU":
      continue
    for line in plane.lines:
      for event in line.events:
        name = plane.event_metadata[event.metadata_id].name
        if name == "IteratorGetNextOp::DoCompute":
          waits.append(event.duration_ps / 1e9)
        if ":" not in name or "::" in name or " " in name:  # Op events are "scope/op:Type".
          continue
        op_type = name.rsplit(":", 1)[1]
        ms = event.duration_ps / 1e9
        by_type[op_type] = by_type.get(op_type, 0.0) + ms
        kinds[_op_kind(op_type)] = kinds.get(_op_kind(op_type), 0.0) + ms
  total = sum(kinds.values())
  return {"wall_ms": 1000 * wall, "op_ms": total, "kinds_ms": kinds,
          "input_wait_ms": sum(waits), "input_waits": len(waits),
          "top_types_ms": dict(sorted(by_type.items(), key=lambda kv: -kv[1])[:15])}


def _op_kind(op_type):
  if "Conv2D" in op_type or "MatMul" in op_type:
    return "convolution/matmul"
  if op_type in ("Mean", "Sum", "Max", "Min", "Prod", "L2Loss", "SquaredDifference"):
    return "reduction"
  if "Adam" in op_type or "Assign" in op_type or "Variable" in op_type:
    return "variables/optimizer"
  return "elementwise/other"


KINDS = {"pokevae": PokeVAE, "keras": KerasFit, "plain": Plain, "matmul": Matmul, "pipeline": Pipeline}


def main():
  kind = SPEC["kind"]
  setup = None if kind == "matmul" else Setup()
  competitor = KINDS[kind](setup)
  block = SPEC.get("block_steps", 64)
  if kind == "matmul":
    images, flops = 0, 2 * Matmul.size**3 * block
  else:
    images, flops = block * setup.batch, 0
  warm = time.perf_counter()
  competitor.steps(block)  # Traces and compiles; then one more block to settle.
  competitor.steps(block)
  loaded = {} if setup is None else {"load_seconds": setup.load_seconds, "images": setup.images}
  print(json.dumps({"ready": kind, "warmup_s": time.perf_counter() - warm, **loaded,
                    "tensorflow": tf.__version__, "keras": keras.__version__,
                    "threads": [tf.config.threading.get_intra_op_parallelism_threads(),
                                tf.config.threading.get_inter_op_parallelism_threads()]}), flush=True)
  for line in sys.stdin:
    command = json.loads(line)["command"]
    if command == "quit":
      break
    if command == "flops":
      print(json.dumps(competitor.flops()), flush=True)
      continue
    if command == "profile":
      print(json.dumps(profile(competitor, block)), flush=True)
      continue
    wall, cpu = time.perf_counter(), cpu_seconds()
    competitor.steps(block)
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    result = {"seconds": wall, "cpu_seconds": cpu, "steps": block}
    if hasattr(competitor, "iterations"):  # Check that the block ran what it claims.
      result["optimizer_iterations"] = competitor.iterations()
    if images:
      result.update(images_per_s=images / wall, cpu_ms_per_image=1000 * cpu / images)
    else:
      result.update(images_per_s=0.0, gflops=flops / wall / 1e9)
    print(json.dumps(result), flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
