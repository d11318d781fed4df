"""Tests for pipelines.splits: species groups and stable, hash-based splits."""

import collections

from absl.testing import parameterized
import tensorflow as tf

from pipelines import splits


class GroupTest(tf.test.TestCase, parameterized.TestCase):

  def test_group_is_the_leading_dex_number(self):
    cases = {"201-question.png": "201", "25_f3.png": "25", "regular/25.png": "25",
             "shiny/025.gif": "25", "386-attack.png": "386", "back/shiny/641_f12.png": "641"}
    for path, group in cases.items():
      self.assertEqual(splits.group_of(path), group, msg=path)

  def test_group_without_a_number_is_the_stem_without_frame_suffix(self):
    self.assertEqual(splits.group_of("front/substitute.png"), "substitute")
    self.assertEqual(splits.group_of("front/substitute_f7.png"), "substitute")
    self.assertEqual(splits.group_of("my-fakemon.webp"), "my-fakemon")

  @parameterized.parameters(
      # Numeric names: the Dex number, whatever follows it.
      ("25.png", "25"), ("regular/25-shiny.png", "25"), ("0025-gmax.png", "25"),
      # Forms and markers go to the species.
      ("abomasnow.png", "abomasnow"), ("abomasnow-mega.png", "abomasnow"),
      ("charizard-mega-x.png", "charizard"), ("charizard-mega-y.png", "charizard"),
      ("pikachu-gmax.png", "pikachu"), ("vulpix-alola.png", "vulpix"),
      ("meowth-galar.png", "meowth"), ("growlithe-hisui.png", "growlithe"),
      ("wooper-paldea.png", "wooper"), ("meowstic-f.png", "meowstic"),
      ("indeedee-m.png", "indeedee"), ("unown-b.png", "unown"), ("zygarde-10.png", "zygarde"),
      ("burmy-2.png", "burmy"), ("pikachu-shiny.png", "pikachu"),
      ("shiny/pikachu.png", "pikachu"), ("regular/pikachu.png", "pikachu"),
      ("darmanitan-galar-zen.png", "darmanitan"), ("oricorio-pom-pom.png", "oricorio"),
      ("shiny/Vulpix_Alola_f3.gif", "vulpix"), ("deoxys-attack.png", "deoxys"),
      # Species with hyphens in their names stay whole; the two Nidoran differ.
      ("mr-mime.png", "mr-mime"), ("mr-mime-galar.png", "mr-mime"), ("ho-oh.png", "ho-oh"),
      ("porygon-z.png", "porygon-z"), ("porygon-z-shiny.png", "porygon-z"),
      ("jangmo-o.png", "jangmo-o"), ("type-null.png", "type-null"),
      ("tapu-koko.png", "tapu-koko"), ("nidoran-f.png", "nidoran-f"),
      ("nidoran-m.png", "nidoran-m"), ("shiny/nidoran-f-shiny.png", "nidoran-f"),
      # An unknown word is kept: no guessing.
      ("my-fakemon.png", "my-fakemon"), ("my-fakemon-shiny.png", "my-fakemon"),
  )
  def test_group_of_named_file(self, path, group):
    self.assertEqual(splits.group_of(path), group)


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
