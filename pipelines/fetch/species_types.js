// Prints every species and form that @pkmn/dex knows, with its types, as JSON.
//
//   node species_types.js PACKAGE_DIR
//
// PACKAGE_DIR is the unpacked npm tarball (the folder holding package.json).
// Run by `python -m pipelines.fetch types`, which writes data/types/types.csv.
//
// Types are those of generation 5 (Black/White, the bundled sprites: no Fairy,
// Clefairy is Normal) for every species and form generation 5 has; a species or
// form from a later generation keeps the types of the newest generation, so
// newer sprites find their row too.

"use strict";

const path = require("path");
const { Dex } = require(path.resolve(process.argv[2], "build", "index.js"));

const gen5 = Dex.forGen(5);
const rows = [];
const seen = new Set();

function add(species) {
  // Numbers below 1 are Create-A-Pokemon fakemon and MissingNo., not real species.
  if (!species.exists || species.num < 1 || seen.has(species.name)) return;
  seen.add(species.name);
  const old = gen5.species.get(species.name);
  const types = old.exists && old.gen <= 5 ? old.types : species.types;
  rows.push({
    num: species.num,
    // A base species' own form has a name too (Deoxys is "Normal", Burmy "Plant").
    form: species.forme || species.baseForme || "",
    name: species.name,
    base_species: species.baseSpecies,
    types: types,
    gen: species.gen,
  });
}

for (const species of Dex.species.all()) {
  add(species);
  // Cosmetic forms (Unown-B, Vivillon-Icy Snow, Alcremie-Ruby-Cream) are not
  // entries of their own in `all()`; each has the types of its species.
  for (const name of species.cosmeticFormes || []) add(Dex.species.get(name));
}
process.stdout.write(JSON.stringify(rows));
