"""What the user sees while training: a rich live view, or plain log lines.

`make_dashboard` picks the live view when the output is a terminal and plain,
greppable lines otherwise (CI, a pipe, a file), so logs stay readable where a
live display would be a mess of control codes. Both take the same calls:
`update(stats)` every log interval, `epoch(stats)` after each validation,
`message(text)` for events (a rollback, a checkpoint), and `close()`.
"""

import math
import sys
import time

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

_SPARK = "▁▂▃▄▅▆▇█"

# Shown in the table, with a format and whether lower is better (for "best").
_ROWS = (
    ("loss", "{:.1f}", True),
    ("distortion", "{:.1f}", True),
    ("rate", "{:.2f}", None),
    ("elbo", "{:.1f}", False),
    ("beta", "{:.3f}", None),
    ("lr", "{:.2e}", None),
    ("grad_norm", "{:.1f}", None),
    ("images_per_s", "{:.0f}", None),
    ("val_bpd", "{:.4f}", True),
    ("val_elbo", "{:.1f}", False),
    ("adversary", "{:.3f}", None),
    ("critic", "{:.3f}", None),
    ("adversary_weight", "{:.3g}", None),
)
# Rows of the adversarial critic (vae/critic.py), shown only for a run that has one.
_CRITIC_ROWS = ("adversary", "critic", "adversary_weight")


def _shown(name, values):
  return name not in _CRITIC_ROWS or bool(values.get("critic"))


def sparkline(values, width=40):
  """Unicode bars for the last `width` finite values (empty when none)."""
  values = [v for v in values[-width:] if v is not None and math.isfinite(v)]
  if not values:
    return ""
  low, high = min(values), max(values)
  span = (high - low) or 1.0
  return "".join(_SPARK[int((v - low) / span * (len(_SPARK) - 1))] for v in values)


def _fmt(fmt, value):
  if value is None:
    return "-"
  if isinstance(value, float) and not math.isfinite(value):
    return str(value)
  return fmt.format(value)


class _Tracker:
  """Current and best values, shared by both views."""

  def __init__(self):
    self.current = {}
    self.best = {}
    self.val_history = []
    self.events = []

  def record(self, stats):
    for name, value in stats.items():
      if value is None:
        continue
      self.current[name] = value
    for name, _, lower in _ROWS:
      value = stats.get(name)
      if lower is None or value is None or not math.isfinite(value):
        continue
      best = self.best.get(name)
      if best is None or (value < best if lower else value > best):
        self.best[name] = value


class PlainDashboard(_Tracker):
  """One line per log interval and per epoch, flushed (for pipes and CI)."""

  def __init__(self, total_steps, stream=None):
    super().__init__()
    self.total_steps = total_steps
    self.stream = stream or sys.stdout

  def _print(self, text):
    print(text, file=self.stream, flush=True)

  def update(self, stats):
    self.record(stats)
    keys = ("loss", "distortion", "rate", "beta", "lr", "grad_norm", "images_per_s") + _CRITIC_ROWS
    fields = " ".join(f"{k}={_fmt(f, stats.get(k))}" for k, f, _ in _ROWS
                      if k in keys and _shown(k, stats))
    self._print(f"step {stats['step']}/{self.total_steps} epoch {stats.get('epoch', 0)} {fields} "
                f"skipped={stats.get('skipped_steps', 0)} rollbacks={stats.get('rollbacks', 0)}")

  def epoch(self, stats):
    self.record(stats)
    self.val_history.append(stats.get("val_bpd"))
    self._print(f"epoch {stats['epoch']} step {stats['step']} val_elbo={_fmt('{:.2f}', stats.get('val_elbo'))} "
                f"val_bpd={_fmt('{:.4f}', stats.get('val_bpd'))} best_val_bpd={_fmt('{:.4f}', self.best.get('val_bpd'))} "
                f"patience={stats.get('patience_left', '-')}")

  def message(self, text):
    self.events.append(text)
    self._print(text)

  def close(self):
    pass


class RichDashboard(_Tracker):
  """A live panel: progress with ETA, metrics (current and best), val history."""

  def __init__(self, total_steps, start_step=0, console=None, title="PokeVAE"):
    super().__init__()
    self.console = console or Console()
    self.title = title
    self.progress = Progress(
        TextColumn("[bold]step {task.completed}/{task.total}"), BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(), TextColumn("eta"),
        TimeRemainingColumn(), console=self.console)
    self.task = self.progress.add_task("train", total=total_steps, completed=start_step)
    self.live = Live(self._render(), console=self.console, refresh_per_second=4, transient=False)
    self.live.start()

  def _render(self):
    table = Table(expand=False, show_edge=False, pad_edge=False)
    table.add_column("metric")
    table.add_column("current", justify="right")
    table.add_column("best", justify="right")
    for name, fmt, _ in _ROWS:
      if not _shown(name, self.current):
        continue
      table.add_row(name, _fmt(fmt, self.current.get(name)), _fmt(fmt, self.best.get(name)))
    for name in ("epoch", "skipped_steps", "rollbacks", "patience_left"):
      table.add_row(name, str(self.current.get(name, "-")), "")
    history = sparkline(self.val_history) or "(after the first epoch)"
    parts = [self.progress, table, f"val bits/dim  {history}"]
    parts.extend(f"[dim]{e}" for e in self.events[-4:])
    return Panel(Group(*parts), title=self.title)

  def update(self, stats):
    self.record(stats)
    self.progress.update(self.task, completed=stats["step"])
    self.live.update(self._render())

  def epoch(self, stats):
    self.record(stats)
    self.val_history.append(stats.get("val_bpd"))
    self.live.update(self._render())

  def message(self, text):
    self.events.append(f"{time.strftime('%H:%M:%S')} {text}")
    self.live.update(self._render())

  def close(self):
    self.live.update(self._render())
    self.live.stop()


def make_dashboard(kind, total_steps, start_step=0, stream=None):
  """`kind` is auto | rich | plain; auto means rich only on a terminal."""
  if kind == "auto":
    kind = "rich" if Console().is_terminal else "plain"
  if kind == "rich":
    return RichDashboard(total_steps, start_step)
  return PlainDashboard(total_steps, stream)
