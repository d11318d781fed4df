"""Tests for vae.training.dashboard: both views render without a terminal."""

import io

import tensorflow as tf
from rich.console import Console

from vae.training import dashboard

STATS = dict(step=10, epoch=1, loss=1234.5, distortion=1200.0, rate=34.5, beta=0.5,
             lr=1e-3, grad_norm=12.0, images_per_s=480.0, skipped_steps=2, rollbacks=1)


class DashboardTest(tf.test.TestCase):

  def test_plain_lines_carry_every_logged_value(self):
    stream = io.StringIO()
    board = dashboard.make_dashboard("auto", total_steps=100, stream=stream)
    self.assertIsInstance(board, dashboard.PlainDashboard)  # pytest's stdout is no terminal
    board.update(STATS)
    board.epoch(dict(step=10, epoch=1, val_elbo=-900.0, val_bpd=1.25, patience_left=4))
    board.message("rollback 1/4")
    text = stream.getvalue()
    for needle in ("step 10/100", "loss=1234.5", "rate=34.50", "skipped=2", "rollbacks=1",
                   "val_bpd=1.2500", "best_val_bpd=1.2500", "patience=4", "rollback 1/4"):
      self.assertIn(needle, text)

  def test_rich_view_renders_table_progress_and_history(self):
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=100)
    board = dashboard.RichDashboard(total_steps=100, console=console)
    board.update(STATS)
    board.epoch(dict(step=10, epoch=1, val_elbo=-900.0, val_bpd=1.5))
    board.epoch(dict(step=20, epoch=2, val_elbo=-800.0, val_bpd=1.25))
    board.close()
    text = out.getvalue()
    for needle in ("step 10/100", "distortion", "1200.0", "images_per_s", "1.2500", "val bits/dim"):
      self.assertIn(needle, text)

  def test_best_tracks_the_lowest_loss_and_highest_elbo(self):
    board = dashboard.PlainDashboard(10, io.StringIO())
    board.update(dict(STATS, loss=5.0, elbo=-5.0))
    board.update(dict(STATS, loss=7.0, elbo=-7.0))
    self.assertEqual(board.best["loss"], 5.0)
    self.assertEqual(board.best["elbo"], -5.0)
    self.assertEqual(board.current["loss"], 7.0)

  def test_sparkline_scales_to_the_range(self):
    self.assertEqual(dashboard.sparkline([1.0, 2.0, 3.0]), "▁▄█")
    self.assertEqual(dashboard.sparkline([]), "")


if __name__ == "__main__":
  tf.test.main()
