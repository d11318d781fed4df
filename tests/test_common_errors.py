"""Tests for common/errors.py: a bad choice named with its value, any error cut to one line."""

import tensorflow as tf

from common.errors import check_choice, first_line


class CheckChoiceTest(tf.test.TestCase):

  def test_a_choice_passes_and_anything_else_names_the_argument_the_choices_and_the_value(self):
    check_choice("sampler", "blend", ("prior", "expost", "blend"))
    with self.assertRaisesRegex(ValueError, r"^sampler must be one of prior, expost, blend, "
                                            r"got 'Blend'$"):
      check_choice("sampler", "Blend", ("prior", "expost", "blend"))

  def test_choices_that_are_not_strings_are_listed_as_written(self):
    with self.assertRaisesRegex(ValueError, "size must be one of 32, 64, got 48"):
      check_choice("size", 48, (32, 64))


class FirstLineTest(tf.test.TestCase):

  def test_keeps_the_first_line_of_the_message_without_surrounding_space(self):
    self.assertEqual(first_line(ValueError("\n  bad value\nTraceback detail\n")), "bad value")

  def test_an_empty_message_gives_the_default(self):
    self.assertEqual(first_line(OSError(), "OSError"), "OSError")
    self.assertEqual(first_line(ValueError("  ")), "")


if __name__ == "__main__":
  tf.test.main()
