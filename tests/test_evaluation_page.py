"""Tests for vae/evaluation/page.py: report.html's rows, curve and self-containment."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import html.parser  # pylint: disable=wrong-import-position
import re  # pylint: disable=wrong-import-position
import tempfile  # pylint: disable=wrong-import-position

import numpy as np  # pylint: disable=wrong-import-position
import tensorflow as tf  # pylint: disable=wrong-import-position

import pipelines  # pylint: disable=wrong-import-position
from vae.evaluation import page  # pylint: disable=wrong-import-position


class PageParser(html.parser.HTMLParser):
  """Collects what a report page refers to and the cells of its tables."""

  def __init__(self):
    super().__init__()
    self.images, self.references, self.cells, self.tags, self.titles = [], [], [], [], []
    self._cell = None

  def handle_starttag(self, tag, attrs):
    attrs = dict(attrs)
    self.tags.append(tag)
    if "title" in attrs:
      self.titles.append(attrs["title"])
    if tag == "img":
      self.images.append(attrs.get("src", ""))
    for name in ("src", "href", "srcset", "data", "poster", "action"):
      if name in attrs:
        self.references.append(attrs[name])
    if tag == "td":
      self._cell = ""

  def handle_endtag(self, tag):
    if tag == "td" and self._cell is not None:
      self.cells.append(self._cell)
      self._cell = None

  def handle_data(self, data):
    if self._cell is not None:
      self._cell += data


def parse(text):
  parser = PageParser()
  parser.feed(text)
  parser.close()
  return parser


def decode_data_uri(uri):
  """The image a `data:image/...;base64,` URI holds, decoded by OpenCV (None if it fails)."""
  import base64  # pylint: disable=import-outside-toplevel
  import cv2  # pylint: disable=import-outside-toplevel
  header, _, payload = uri.partition(",")
  if header not in ("data:image/png;base64", "data:image/webp;base64"):
    return None
  return cv2.imdecode(np.frombuffer(base64.b64decode(payload), np.uint8), cv2.IMREAD_UNCHANGED)


def assert_same_picture(test, embedded, original):
  """Same size, alpha and visible colour (lossless WebP may recolour invisible pixels)."""
  test.assertIsNotNone(embedded)
  test.assertEqual(embedded.shape, original.shape)
  test.assertAllEqual(embedded[..., 3], original[..., 3])
  visible = original[..., 3] > 0
  test.assertAllEqual(embedded[visible], original[visible])


REPORT = {
    "elbo": -100.5, "bits_per_dim": 2.5, "kl_per_dim": [0.5, 0.25],
    "silhouette": {"samples": {"one_piece": 0.4, "pieces": 2.5},
                   "reconstructions": {"one_piece": 0.6, "pieces": 1.5},
                   "real": {"one_piece": 0.9, "pieces": 1.1}},
    "alpha_hardness": {"samples": 0.7, "reconstructions": 0.8, "real": 0.93},
    "edges": 0.2, "edges.real": 0.3,
    "lonely": {"real": 14.0},
    "memorization": {"near_copy_fraction": 0.05, "threshold": 0.1},
    "expost": None,
    "split": "test", "brand_new": 1,
}


class PageTest(tf.test.TestCase):

  def test_flatten_joins_nested_keys_with_dots(self):
    self.assertEqual(page.flatten({"a": 1, "b": {"c": 2, "d": {"e": 3}}}),
                     {"a": 1, "b.c": 2, "b.d.e": 3})

  def test_real_values_sit_beside_their_counterpart(self):
    rows = {key: (value, real) for key, value, real, _ in page.metric_rows(REPORT)}
    self.assertEqual(rows["silhouette.samples.one_piece"],
                     (0.4, ("silhouette.real.one_piece", 0.9)))
    self.assertEqual(rows["silhouette.reconstructions.pieces"],
                     (1.5, ("silhouette.real.pieces", 1.1)))
    self.assertEqual(rows["alpha_hardness.samples"], (0.7, ("alpha_hardness.real", 0.93)))
    self.assertEqual(rows["alpha_hardness.reconstructions"],
                     (0.8, ("alpha_hardness.real", 0.93)))
    self.assertEqual(rows["edges"], (0.2, ("edges.real", 0.3)))
    self.assertEqual(rows["elbo"], (-100.5, None))
    for real in ("silhouette.real.one_piece", "alpha_hardness.real", "edges.real"):
      self.assertNotIn(real, rows)
    # Nothing to sit beside: the real value gets a row of its own.
    self.assertEqual(rows["lonely.real"], (14.0, None))
    self.assertEqual(rows["expost"], (None, None))

  def test_every_key_has_a_meaning_or_says_it_has_none(self):
    meanings = {key: meaning for key, _, _, meaning in page.metric_rows(REPORT)}
    self.assertEqual(meanings["brand_new"], page.UNDESCRIBED)
    self.assertIn("near-copies", meanings["memorization.near_copy_fraction"])
    self.assertIn("one piece", meanings["silhouette.samples.one_piece"])
    self.assertEqual(meanings["silhouette.reconstructions.one_piece"],
                     meanings["silhouette.samples.one_piece"])
    page.MEANINGS["colours"] = "how many colours a sprite has"
    try:
      self.assertEqual(page.meaning("colours.samples"), "how many colours a sprite has")
    finally:
      del page.MEANINGS["colours"]

  def test_values_are_formatted_for_reading(self):
    self.assertEqual(page.format_value(2.7781234), "2.778")
    self.assertEqual(page.format_value(-31553.44), "-31553.4")
    self.assertEqual(page.format_value([0.12345, 2.0]), "0.123 2")
    self.assertEqual(page.format_value("test"), "test")

  def test_read_curve_numbers_epochs_in_step_order_and_keeps_the_last_write(self):
    tb = os.path.join(self.get_temp_dir(), "tb")
    with tf.summary.create_file_writer(tb).as_default():
      for step, value in ((10, 4.0), (20, 3.0), (30, 2.5), (20, 2.9)):
        tf.summary.scalar(page.CURVE_TAG, value, step=step)
        tf.summary.scalar("val/elbo", -value, step=step)
    curve = page.read_curve(tb)
    self.assertEqual([(epoch, step) for epoch, step, _ in curve], [(1, 10), (2, 20), (3, 30)])
    self.assertAllClose([value for _, _, value in curve], [4.0, 2.9, 2.5])

  def test_the_page_is_self_contained_and_shows_every_key_and_picture(self):
    directory = tempfile.mkdtemp(dir=self.get_temp_dir())
    picture = os.path.join(directory, "samples.png")
    pixels = np.random.default_rng(0).integers(0, 256, (6, 5, 4), dtype=np.uint8)
    pixels[0, 0] = 0  # one transparent pixel
    pipelines.write_png(picture, pixels)
    run_dir = os.path.join(directory, "run")
    with tf.summary.create_file_writer(os.path.join(run_dir, "tb")).as_default():
      for step in range(1, 6):
        tf.summary.scalar(page.CURVE_TAG, 3.0 / step, step=step * 10)
    path = page.write(directory, REPORT, {"latent_dim": 8, "widths": [8, 16]},
                      {"samples.png": picture}, run_dir)
    with open(path, encoding="utf-8") as f:
      text = f.read()
    parsed = parse(text)
    self.assertLen(parsed.images, 1)
    assert_same_picture(self, decode_data_uri(parsed.images[0]), pixels[..., [2, 1, 0, 3]])
    self.assertTrue(all(ref.startswith("data:") for ref in parsed.references))
    # No address of anything elsewhere (base64 payloads aside, which may spell anything).
    self.assertFalse(re.search(r"https?:|//", re.sub(r'data:[^"]*', "", text)))
    # A real-data value's key is the title of its cell, beside its counterpart.
    for key in page.flatten(REPORT):
      self.assertIn(key, parsed.cells + parsed.titles)
    self.assertIn("silhouette.real.one_piece", parsed.titles)
    self.assertIn("latent_dim", parsed.cells)
    self.assertIn("svg", parsed.tags)
    self.assertIn("polyline", parsed.tags)
    self.assertIn("after each of 5 epochs", text)

  def test_a_run_without_events_says_so(self):
    directory = tempfile.mkdtemp(dir=self.get_temp_dir())
    path = page.write(directory, REPORT, {}, {}, run_dir=os.path.join(directory, "none"))
    with open(path, encoding="utf-8") as f:
      text = f.read()
    self.assertIn("No training records", text)
    self.assertNotIn("<svg", text)


class TypesSectionTest(tf.test.TestCase):

  def test_each_judged_type_has_a_row_with_its_figures_and_its_sheet(self):
    directory = tempfile.mkdtemp(dir=self.get_temp_dir())
    sheet = os.path.join(directory, "type_fire.png")
    pipelines.write_png(sheet, np.full((4, 9, 4), 200, np.uint8))
    types = dict(
        classifier=dict(primary_top1=0.25, baseline_primary_top1=0.125, any_top2=0.5, count=40),
        conditional=dict(per_type={"Fire": dict(count=32, accuracy=0.75, real_count=12,
                                                ceiling=0.5),
                                   "Ghost": dict(count=32, accuracy=0.0, real_count=0,
                                                 ceiling=None)},
                         overall=0.375, ceiling=0.5, ratio=1.5),
        samples_per_type=32)
    report = dict(REPORT, types=types)
    path = page.write(directory, report, {}, {"type_fire.png": sheet}, run_dir=directory)
    with open(path, encoding="utf-8") as f:
      text = f.read()
    parsed = parse(text)
    self.assertIn("<h2>Types</h2>", text)
    self.assertIn("top-1 0.250 of the time (always guessing the commonest: 0.125)", text)
    self.assertIn("0.375 over the types (real held-out sprites of those types: 0.5, 1.50 of "
                  "the ceiling)", text)
    start = parsed.cells.index("Fire")
    self.assertEqual(parsed.cells[start:start + 3], ["Fire", "0.750", "0.5 (12)"])
    start = parsed.cells.index("Ghost")
    self.assertEqual(parsed.cells[start:start + 3], ["Ghost", "0.000", "None (0)"])
    self.assertLen(parsed.images, 1)  # the sheet, in the types table, not among the pictures
    self.assertNotIn("types.classifier.primary_top1", parsed.cells)


if __name__ == "__main__":
  tf.test.main()
