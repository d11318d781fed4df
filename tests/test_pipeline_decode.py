"""Tests for pipelines.decode and pipelines.probe: every format and colour mode to RGBA."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# pylint: disable=wrong-import-position
import struct

import cv2
import numpy as np
import tensorflow as tf

from pipelines import decode, probe
from pipelines.errors import SkipFile
from tests import fixtures as fx


def _read(path, frames="first"):
  with open(path, "rb") as f:
    return decode.read_frames(f.read(), frames)


class FormatTest(tf.test.TestCase):
  """Each supported container decodes to RGBA with the right size and alpha."""

  def setUp(self):
    super().setUp()
    self.dir = self.get_temp_dir()
    self.image = fx.sprite()

  def _round_trip(self, name, params=()):
    path = fx.write_image(os.path.join(self.dir, name), self.image, params)
    (frame,) = _read(path)
    self.assertEqual(frame.shape, (20, 30, 4))
    self.assertEqual(frame.dtype, np.uint8)
    return frame

  def test_png_keeps_colour_and_alpha(self):
    self.assertAllEqual(self._round_trip("a.png"), self.image)

  def test_lossless_webp_keeps_alpha(self):
    frame = self._round_trip("a.webp", (cv2.IMWRITE_WEBP_QUALITY, 101))
    self.assertAllEqual(frame[..., 3], self.image[..., 3])

  def test_tiff_keeps_alpha(self):
    self.assertAllEqual(self._round_trip("a.tiff")[..., 3], self.image[..., 3])

  def test_32_bit_bmp_keeps_alpha(self):
    self.assertAllEqual(self._round_trip("a.bmp")[..., 3], self.image[..., 3])

  def test_gif_transparency_becomes_alpha(self):
    frame = self._round_trip("a.gif")
    self.assertAllEqual(frame[..., 3], self.image[..., 3])
    # GIF stores a palette of at most 256 colours; allow its rounding.
    self.assertAllClose(frame[6, 8, :3].astype(int), self.image[6, 8, :3].astype(int), atol=24)

  def test_jpeg_has_no_alpha_so_is_opaque(self):
    path = fx.write_image(os.path.join(self.dir, "a.jpg"), self.image[..., :3])
    (frame,) = _read(path)
    self.assertEqual(frame.shape, (20, 30, 4))
    self.assertAllEqual(frame[..., 3], np.full((20, 30), 255))

  def test_animated_gif_gives_first_frame_or_all_frames(self):
    frames = [fx.sprite(box=(2 + i, 3, 10 + i, 12)) for i in range(3)]
    path = fx.write_animated_gif(os.path.join(self.dir, "anim.gif"), frames)
    (first,) = _read(path, "first")
    every = _read(path, "all")
    self.assertLen(every, 3)
    for got, want in zip([first] + every, frames[:1] + frames):
      self.assertAllEqual(got[..., 3], want[..., 3])


class ColourModeTest(tf.test.TestCase):
  """Gray, palette, 16-bit and alpha-less images all become RGBA uint8."""

  def setUp(self):
    super().setUp()
    self.dir = self.get_temp_dir()

  def test_grayscale_is_grey_and_opaque(self):
    path = fx.write_image(os.path.join(self.dir, "g.png"), np.full((5, 7), 90, np.uint8))
    (frame,) = _read(path)
    self.assertAllEqual(frame[0, 0], (90, 90, 90, 255))

  def test_gray_with_alpha_keeps_alpha(self):
    path = fx.raw_png(os.path.join(self.dir, "ga.png"), 2, 1, 4, 8, bytes([100, 0, 200, 255]))
    (frame,) = _read(path)
    self.assertAllEqual(frame[0], [(100, 100, 100, 0), (200, 200, 200, 255)])

  def test_palette_with_transparency_gives_alpha(self):
    path = fx.raw_png(os.path.join(self.dir, "p.png"), 3, 1, 3, 8, bytes([0, 1, 2]),
                      plte=bytes([0, 0, 0, 255, 0, 0, 0, 255, 0]), trns=bytes([0, 255, 128]))
    (frame,) = _read(path)
    self.assertAllEqual(frame[0], [(0, 0, 0, 0), (255, 0, 0, 255), (0, 255, 0, 128)])

  def test_palette_without_transparency_is_opaque(self):
    path = fx.raw_png(os.path.join(self.dir, "p.png"), 2, 1, 3, 8, bytes([0, 1]),
                      plte=bytes([0, 0, 255, 255, 0, 0]))
    (frame,) = _read(path)
    self.assertAllEqual(frame[0], [(0, 0, 255, 255), (255, 0, 0, 255)])

  def test_16_bit_rgba_is_scaled_to_8_bit(self):
    pixels = struct.pack(">8H", 65535, 0, 257 * 100, 65535, 0, 0, 0, 0)
    path = fx.raw_png(os.path.join(self.dir, "c16.png"), 2, 1, 6, 16, pixels)
    (frame,) = _read(path)
    self.assertEqual(frame.dtype, np.uint8)
    self.assertAllEqual(frame[0], [(255, 0, 100, 255), (0, 0, 0, 0)])

  def test_16_bit_gray_is_scaled_to_8_bit(self):
    path = fx.raw_png(os.path.join(self.dir, "g16.png"), 2, 1, 0, 16, struct.pack(">2H", 65535, 257 * 7))
    (frame,) = _read(path)
    self.assertAllEqual(frame[0], [(255, 255, 255, 255), (7, 7, 7, 255)])

  def test_rgb_without_alpha_is_opaque(self):
    path = fx.raw_png(os.path.join(self.dir, "rgb.png"), 1, 1, 2, 8, bytes([10, 20, 30]))
    (frame,) = _read(path)
    self.assertAllEqual(frame[0, 0], (10, 20, 30, 255))

  def test_gif_with_out_of_range_background_index_still_decodes(self):
    broken = bytearray(fx.ONE_PIXEL_GIF)
    broken[11] = 2  # The table has 2 entries; OpenCV alone rejects this.
    self.assertIsNone(cv2.imdecode(np.frombuffer(bytes(broken), np.uint8), cv2.IMREAD_UNCHANGED))
    (frame,) = decode.read_frames(bytes(broken))
    self.assertAllEqual(frame[0, 0], (255, 0, 0, 255))


class ProbeTest(tf.test.TestCase):
  """Headers give the size without decoding; broken headers are refused with a reason."""

  def setUp(self):
    super().setUp()
    self.dir = self.get_temp_dir()

  def test_header_size_matches_decoded_size_for_every_format(self):
    rgba = fx.sprite(height=13, width=29)
    rgb = rgba[..., :3]
    lossless, lossy = (cv2.IMWRITE_WEBP_QUALITY, 101), (cv2.IMWRITE_WEBP_QUALITY, 80)
    # The three WebP variants store the size in different chunks (VP8L, VP8X, VP8).
    for name, image, params in [("a.png", rgba, ()), ("a.gif", rgba, ()), ("a.bmp", rgba, ()),
                                ("a.tiff", rgba, ()), ("a.jpg", rgb, ()),
                                ("lossless.webp", rgba, lossless),
                                ("alpha.webp", rgba, lossy), ("rgb.webp", rgb, lossy)]:
      path = fx.write_image(os.path.join(self.dir, name), image, params)
      info = probe.probe(probe.read_bytes(path))
      self.assertEqual((info.width, info.height), (29, 13), msg=name)

  def _reason(self, data):
    with self.assertRaises(SkipFile) as raised:
      decode.read_frames(data)
    return str(raised.exception)

  def test_truncated_files_are_refused_for_every_format(self):
    image = fx.sprite(height=40, width=40)
    for name in ["a.png", "a.gif", "a.jpg", "a.bmp", "a.webp", "a.tiff"]:
      path = fx.write_image(os.path.join(self.dir, name), image[..., :3] if name == "a.jpg" else image)
      with open(path, "rb") as f:
        data = f.read()
      reason = self._reason(data[:len(data) * 2 // 3])
      self.assertTrue(reason.startswith(("truncated", "decode failed")), msg=f"{name}: {reason}")

  def test_absurd_dimensions_are_refused_before_decoding(self):
    path = fx.raw_png(os.path.join(self.dir, "huge.png"), 100000, 1, 0, 8, b"\0" * 100000)
    self.assertIn("too large: 100000x1 pixels", self._reason(probe.read_bytes(path)))

  def test_text_is_not_an_image(self):
    self.assertIn("not an image", self._reason(b"hello, I am not a PNG"))


if __name__ == "__main__":
  tf.test.main()
