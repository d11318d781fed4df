"""Tests for pipelines.splits: species groups and stable, hash-based splits."""

import collections

from absl.testing import parameterized
import tensorflow as tf

from pipelines import splits, types_table

# Real names of generation-8 box sprites (PokeSprite's pokemon-gen8/regular), by
# species: regional, pattern and other forms. With the name rule alone the
# first six species straddle splits (the rule does not know "noble", "gen7",
# "poke-ball", "plain"); over all 905 species of that folder those are the only ones.
_CREAMS = ("vanilla-cream", "ruby-cream", "matcha-cream", "mint-cream", "lemon-cream",
           "salted-cream", "ruby-swirl", "caramel-swirl", "rainbow-swirl")
_SWEETS = ("plain", "strawberry", "berry", "love", "star", "clover", "flower", "ribbon")
GEN8_NAMES = {
    "arcanine": ["arcanine", "arcanine-hisui", "arcanine-hisui-noble"],
    "electrode": ["electrode", "electrode-hisui", "electrode-hisui-noble"],
    "lilligant": ["lilligant", "lilligant-hisui", "lilligant-hisui-noble"],
    "vivillon": ["vivillon", "vivillon-poke-ball", "vivillon-icy-snow", "vivillon-high-plains",
                 "vivillon-fancy", "vivillon-archipelago", "vivillon-tundra"],
    "minior": ["minior", "minior-red", "minior-red-gen7", "minior-blue-gen7", "minior-violet"],
    "alcremie": ["alcremie", "alcremie-gmax"] + [f"alcremie-{c}-{s}" for c in _CREAMS
                                                 for s in _SWEETS],
    "avalugg": ["avalugg", "avalugg-hisui", "avalugg-hisui-noble"],
    "kleavor": ["kleavor", "kleavor-noble"],
    "spinda": ["spinda", "spinda-blank", "spinda-filled"],
    "zarude": ["zarude", "zarude-dada"],
    "marshadow": ["marshadow", "marshadow-gen7"],
    "meowth": ["meowth", "meowth-alola", "meowth-galar", "meowth-gmax"],
    "darmanitan": ["darmanitan", "darmanitan-zen", "darmanitan-galar", "darmanitan-galar-zen"],
    "toxtricity": ["toxtricity", "toxtricity-low-key", "toxtricity-gmax"],
    "urshifu": ["urshifu", "urshifu-rapid-strike", "urshifu-gmax", "urshifu-rapid-strike-gmax"],
    "zygarde": ["zygarde", "zygarde-10", "zygarde-complete"],
    "necrozma": ["necrozma", "necrozma-dusk-mane", "necrozma-dusk", "necrozma-dawn",
                 "necrozma-ultra"],
    "mr-mime": ["mr-mime", "mr-mime-galar"],
    "farfetchd": ["farfetchd", "farfetchd-galar"],
    "pikachu": ["pikachu", "pikachu-original-cap", "pikachu-world-cap", "pikachu-rock-star",
                "pikachu-gmax", "pikachu-starter"],
}


def _species_in_two_splits(table, val_fraction=0.3, test_fraction=0.3):
  """Species of GEN8_NAMES whose files (regular, shiny, frames) land in more than one split."""
  found = {}
  for species, names in GEN8_NAMES.items():
    paths = [f"{v}/{n}{f}.png" for n in names for v in ("regular", "shiny") for f in ("", "_f2")]
    found[species] = {splits.split_of(splits.group_of(p, table), val_fraction, test_fraction)
                      for p in paths}
  return sorted(s for s, assigned in found.items() if len(assigned) > 1)


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


class BaseSpeciesGroupTest(tf.test.TestCase):
  """With the species table, every form goes with its base species by construction."""

  def test_generation_8_names_put_no_species_in_two_splits(self):
    self.assertEqual(_species_in_two_splits(types_table.committed()), [])
    for species, names in GEN8_NAMES.items():
      groups = {splits.group_of(f"{n}.png", types_table.committed()) for n in names}
      self.assertEqual(groups, {species}, msg=species)

  def test_the_name_rule_alone_splits_some_of_them(self):
    # What the table is for: the same names without it leak species across splits.
    self.assertNotEqual(_species_in_two_splits(None), [])

  def test_numbered_files_are_grouped_by_their_number_with_or_without_a_table(self):
    for path in ("25.png", "shiny/201-question.png", "479-wash_f3.png", "025-gmax.png"):
      self.assertEqual(splits.group_of(path, types_table.committed()), splits.group_of(path))

  def test_names_the_table_lacks_keep_the_name_rule(self):
    for path in ("my-fakemon-shiny.png", "substitute.png", "front/substitute_f7.png"):
      self.assertEqual(splits.group_of(path, types_table.committed()), splits.group_of(path))


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
