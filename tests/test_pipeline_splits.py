"""Tests for pipelines.splits: species groups and stable, hash-based splits."""

import collections

import tensorflow as tf

from pipelines import splits


class GroupTest(tf.test.TestCase):

  def test_group_is_the_leading_dex_number(self):
    cases = {"201-question.png": "201", "25_f3.png": "25", "regular/25.png": "25",
             "shiny/025.gif": "25", "386-attack.png": "386", "back/shiny/641_f12.png": "641"}
    for path, group in cases.items():
      self.assertEqual(splits.group_of(path), group, msg=path)

  def test_group_without_a_number_is_the_stem_without_frame_suffix(self):
    self.assertEqual(splits.group_of("front/substitute.png"), "substitute")
    self.assertEqual(splits.group_of("front/substitute_f7.png"), "substitute")
    self.assertEqual(splits.group_of("my-fakemon.webp"), "my-fakemon")


class SplitTest(tf.test.TestCase):

  def test_all_files_of_a_species_share_a_split(self):
    names = [f"{v}/{n}{form}{frame}.png" for n in range(1, 300)
             for v in ("regular", "shiny", "back") for form in ("", "-alola")
             for frame in ("", "_f0", "_f9")]
    by_group = collections.defaultdict(set)
    for name in names:
      group = splits.group_of(name)
      by_group[group].add(splits.split_of(group))
    self.assertTrue(all(len(s) == 1 for s in by_group.values()))

  def test_adding_files_moves_no_existing_file(self):
    before = {str(n): splits.split_of(str(n)) for n in range(1, 500)}
    # A hash of the name alone, so new groups cannot shift old ones.
    after = {str(n): splits.split_of(str(n)) for n in range(1, 2000)}
    self.assertEqual({k: after[k] for k in before}, before)

  def test_fractions_are_respected_over_many_groups(self):
    counts = collections.Counter(splits.split_of(f"g{i}", 0.1, 0.2) for i in range(20000))
    self.assertAllClose([counts["train"] / 20000, counts["val"] / 20000, counts["test"] / 20000],
                        [0.7, 0.1, 0.2], atol=0.015)

  def test_zero_fractions_put_everything_in_train(self):
    self.assertEqual({splits.split_of(str(i), 0.0, 0.0) for i in range(1000)}, {"train"})


if __name__ == "__main__":
  tf.test.main()
