"""Tests for pipelines.types_table: reading a types table and joining sprite files to its rows."""

import os
import pathlib
import tempfile

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from pipelines import BUNDLED_DIR, DataConfig, types_table


def _write(path, lines):
  pathlib.Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
  return path


HEADER = ",".join(types_table.COLUMNS)


class NameKeyTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters(
      ("Mr. Mime-Galar", "mr-mime-galar"), ("Farfetch\u2019d", "farfetchd"),
      ("Zygarde-10%", "zygarde-10"), ("Flab\u00e9b\u00e9", "flabebe"), ("Type: Null", "type-null"),
      ("Vivillon-Icy Snow", "vivillon-icy-snow"), ("Oricorio-Pa'u", "oricorio-pau"),
      ("Shiny/Vulpix_Alola", "shiny-vulpix-alola"), ("Porygon-Z", "porygon-z"))
  def test_showdown_names_read_as_file_names(self, name, key):
    self.assertEqual(types_table.name_key(name), key)


class CommittedTableJoinTest(tf.test.TestCase, parameterized.TestCase):
  """The join on the committed table (data/types/types.csv)."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.table = types_table.committed()

  @parameterized.parameters(
      # A number is the species; the words after it, its form.
      ("regular/25.png", "Pikachu"), ("shiny/25.png", "Pikachu"), ("0025.gif", "Pikachu"),
      ("regular/201-a.png", "Unown"), ("201-question.png", "Unown-Question"),
      ("479-wash.png", "Rotom-Wash"), ("550-blue-striped.png", "Basculin-Blue-Striped"),
      ("386.png", "Deoxys"), ("386-normal.png", "Deoxys"), ("386-attack.png", "Deoxys-Attack"),
      ("422-east.png", "Shellos-East"), ("25_f3.png", "Pikachu"),
      # Unknown words after a known name are dropped.
      ("25-shiny.png", "Pikachu"), ("414-plant.png", "Mothim"),
      # Names, as sprite collections write them.
      ("vulpix-alola.png", "Vulpix-Alola"), ("shiny/Vulpix_Alola_f3.gif", "Vulpix-Alola"),
      ("vulpix-alola-shiny.png", "Vulpix-Alola"), ("mr-mime-galar.png", "Mr. Mime-Galar"),
      ("farfetchd.png", "Farfetch\u2019d"), ("zygarde-10.png", "Zygarde-10%"),
      ("porygon-z.png", "Porygon-Z"), ("porygon-z-shiny.png", "Porygon-Z"),
      ("porygon.png", "Porygon"), ("nidoran-f.png", "Nidoran-F"),
      ("alcremie-ruby-cream-strawberry.png", "Alcremie-Ruby-Cream"),
      ("vivillon-icy-snow.png", "Vivillon-Icy Snow"), ("darmanitan-galar-zen.png",
                                                        "Darmanitan-Galar-Zen"))
  def test_file_joins_its_row(self, path, name):
    row = self.table.row_of(path)
    self.assertIsNotNone(row, msg=path)
    self.assertEqual(row.name, name, msg=path)

  def test_form_has_its_own_types_and_its_species_base(self):
    wash = self.table.row_of("479-wash.png")
    self.assertEqual(wash.types, ("Electric", "Water"))
    self.assertEqual(wash.base_species, "Rotom")
    self.assertEqual(self.table.row_of("479.png").types, ("Electric", "Ghost"))
    self.assertEqual(self.table.base_species_of("meowth-galar.png"), "meowth")
    self.assertEqual(self.table.base_species_of("mr-mime-galar.png"), "mr-mime")

  @parameterized.parameters("substitute.png", "my-fakemon.png", "9999.png", "regular/fakemon.png")
  def test_file_without_a_row_has_none(self, path):
    self.assertIsNone(self.table.row_of(path))

  def test_types_are_those_of_generation_5(self):
    cases = {"35.png": ("Normal",), "468.png": ("Normal", "Flying"),  # Clefairy, Togekiss
             "479-wash.png": ("Electric", "Water"), "351-sunny.png": ("Fire",)}
    for path, types in cases.items():
      self.assertEqual(self.table.row_of(path).types, types, msg=path)

  def test_later_species_and_forms_keep_their_newest_types(self):
    cases = {"sylveon.png": ("Fairy",), "vulpix-alola.png": ("Ice",),
             "ninetales-alola.png": ("Ice", "Fairy"), "493-fairy.png": ("Fairy",),
             "meowth-galar.png": ("Steel",)}
    for path, types in cases.items():
      self.assertEqual(self.table.row_of(path).types, types, msg=path)

  def test_every_bundled_sprite_but_the_doll_has_a_row_without_fairy(self):
    names = sorted(p.relative_to(BUNDLED_DIR).as_posix() for p in BUNDLED_DIR.glob("*/*.png"))
    missing = [n for n in names if self.table.row_of(n) is None]
    self.assertEqual(missing, ["regular/substitute.png"])
    # Fairy did not exist in generation 5; Arceus-Fairy is a later form.
    fairy = [n for n in names if n not in missing and "Fairy" in self.table.row_of(n).types]
    self.assertEqual(fairy, ["regular/493-fairy.png", "shiny/493-fairy.png"])

  def test_every_number_has_its_species_row(self):
    numbers = {row.num for row in self.table.rows}
    self.assertEqual(numbers, set(range(1, max(numbers) + 1)))
    for num in numbers:
      row = self.table.row_of(f"{num}.png")
      self.assertEqual(row.name, row.base_species, msg=num)


class MultiHotTest(tf.test.TestCase):

  def test_one_or_two_ones_per_sprite_and_none_without_a_row(self):
    hot = types_table.multi_hot([("Fire",), ("Water", "Flying"), ()])
    self.assertEqual(hot.shape, (3, len(types_table.TYPE_NAMES)))
    self.assertAllEqual(hot.sum(axis=1), [1, 2, 0])
    fire = types_table.TYPE_NAMES.index("Fire")
    self.assertEqual(hot[0, fire], 1.0)
    self.assertEqual(hot.dtype, np.float32)


class ReadTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.dir = tempfile.mkdtemp(dir=self.get_temp_dir())

  def test_a_table_written_by_hand_is_read_and_joined(self):
    path = _write(os.path.join(self.dir, "types.csv"), [
        HEADER, "1,,Emberling,Emberling,Fire,", "1,Blue,Emberling-Blue,Emberling,Water,Ice"])
    table = types_table.read(path)
    self.assertLen(table, 2)
    self.assertEqual(table.row_of("1.png").types, ("Fire",))
    self.assertEqual(table.row_of("1-blue.png").types, ("Water", "Ice"))
    self.assertEqual(table.row_of("emberling-blue-shiny.png").base_species, "Emberling")

  def test_bad_type_name_is_one_line_naming_file_line_and_the_types(self):
    path = _write(os.path.join(self.dir, "types.csv"), [HEADER, "1,,Emberling,Emberling,Fyre,"])
    with self.assertRaisesRegex(ValueError, r"types\.csv:2: unknown type 'Fyre'; the types are "
                                            r"Normal, Fighting, .*, Fairy$"):
      types_table.read(path)

  def test_wrong_columns_are_named(self):
    path = _write(os.path.join(self.dir, "types.csv"), ["num,name,type", "1,Emberling,Fire"])
    with self.assertRaisesRegex(ValueError, "the columns must be num,form,name,base_species,"
                                            "primary_type,secondary_type, got num,name,type"):
      types_table.read(path)

  def test_rows_that_cannot_be_told_apart_are_refused(self):
    path = _write(os.path.join(self.dir, "types.csv"), [
        HEADER, "1,,Emberling,Emberling,Fire,", "2,,Emberling.,Emberling.,Fire,"])
    with self.assertRaisesRegex(ValueError, "two rows are named 'emberling'"):
      types_table.read(path)
    path = _write(os.path.join(self.dir, "types.csv"), [
        HEADER, "1,,Emberling,Emberling,Fire,", "1,,Emberling-Blue,Emberling,Water,"])
    with self.assertRaisesRegex(ValueError, "two rows have number 1 and form ''"):
      types_table.read(path)

  def test_number_and_missing_primary_type_are_checked(self):
    for line, message in [("x,,A,A,Fire,", "num must be a National Dex number, got 'x'"),
                          ("0,,A,A,Fire,", "num must be at least 1, got 0"),
                          ("1,,A,A,,Water", "primary_type must not be empty"),
                          ("1,,A,A,Fire,Fire", "are both Fire"),
                          ("1,,A,A,Fire", "expected 6 values")]:
      path = _write(os.path.join(self.dir, "types.csv"), [HEADER, line])
      with self.assertRaisesRegex(ValueError, message, msg=line):
        types_table.read(path)


class PathForTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.dir = tempfile.mkdtemp(dir=self.get_temp_dir())

  def test_the_bundled_set_has_the_committed_table(self):
    self.assertEqual(types_table.path_for(DataConfig()), types_table.TABLE_PATH)
    self.assertEqual(types_table.path_for(DataConfig(data_dir=str(BUNDLED_DIR))),
                     types_table.TABLE_PATH)
    self.assertIsNone(types_table.path_for(DataConfig(types_table="none")))

  def test_a_folder_has_its_own_table_or_none(self):
    self.assertIsNone(types_table.path_for(DataConfig(data_dir=self.dir)))
    own = _write(os.path.join(self.dir, "types.csv"), [HEADER])
    self.assertEqual(types_table.path_for(DataConfig(data_dir=self.dir)), pathlib.Path(own))

  def test_a_table_named_by_the_config_must_exist(self):
    given = _write(os.path.join(self.dir, "mine.csv"), [HEADER])
    config = DataConfig(data_dir=self.dir, types_table=given)
    self.assertEqual(types_table.path_for(config), pathlib.Path(given))
    with self.assertRaisesRegex(OSError, "types_table /nowhere.csv does not exist"):
      types_table.path_for(DataConfig(data_dir=self.dir, types_table="/nowhere.csv"))


NAMES = types_table.TYPE_NAMES


class ParseTypesTest(tf.test.TestCase):

  def test_one_or_two_names_in_any_case(self):
    self.assertAllEqual(types_table.parse_types("fire", NAMES), types_table.multi_hot([("Fire",)])[0])
    self.assertAllEqual(types_table.parse_types(" Water, FLYING ", NAMES),
                        types_table.multi_hot([("Water", "Flying")])[0])

  def test_unknown_name_lists_the_valid_ones(self):
    with self.assertRaisesRegex(ValueError, "unknown type 'fyre'; the types are Normal, Fighting, "):
      types_table.parse_types("fyre", NAMES)

  def test_none_three_or_repeated_types_are_refused(self):
    for text in ("", "fire,water,grass", "fire,fire"):
      with self.assertRaisesRegex(ValueError, "give one or two different types", msg=text):
        types_table.parse_types(text, NAMES)


if __name__ == "__main__":
  tf.test.main()
