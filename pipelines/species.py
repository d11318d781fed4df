"""The species in a sprite's file name: `vulpix-alola-shiny` -> `vulpix`.

Sprite collections name files by species and form, hyphen-separated, as
PokeAPI and PokeSprite do (`abomasnow-mega`, `charizard-mega-x`,
`pikachu-gmax`, `unown-b`, `meowstic-f`). Every form of a species looks like
the species, so for splitting they must form one group (see `splits`).

The rule, applied to a lower-cased stem whose `_`, `.` and spaces count as `-`:

1. A species whose own name holds a hyphen wins as a prefix: `mr-mime`,
   `mr-mime-galar`, `nidoran-f`, `porygon-z-shiny` and `tapu-koko` are those
   species (`HYPHENATED_SPECIES`). Without this step `nidoran-f` would lose its
   `-f` (a gender marker elsewhere) and become one species with `nidoran-m`.
2. Otherwise known form words are stripped from the end, one at a time, while
   more than one word is left: a single letter (`-f`, `-m`, `-x`, unown's
   `-b`), a number (`-1`, `zygarde-10`) or a word of `FORM_WORDS` (`mega`,
   `gmax`, `alola`, `galar`, `hisui`, `paldea`, `shiny`, `origin`, ...).
3. What is left is the species. A word that is not known stays, so an unknown
   name (`my-fakemon`) is its own group rather than guessed at: a new form
   word can leak a species across splits until it is added here, but a name
   is never merged with an unrelated one.
"""

import re

# PokeAPI species names that contain a hyphen (generations 1-9).
HYPHENATED_SPECIES = frozenset("""
    nidoran-f nidoran-m mr-mime ho-oh mime-jr porygon-z type-null jangmo-o hakamo-o kommo-o
    tapu-koko tapu-lele tapu-bulu tapu-fini mr-rime great-tusk scream-tail brute-bonnet
    flutter-mane slither-wing sandy-shocks iron-treads iron-bundle iron-hands iron-jugulis
    iron-moth iron-thorns roaring-moon iron-valiant wo-chien chien-pao ting-lu chi-yu
    walking-wake iron-leaves gouging-fire raging-bolt iron-boulder iron-crown
""".split())

# Words that name a form, variant or marker, never a species on their own
# (the form names of PokeAPI and PokeSprite, split at their hyphens).
FORM_WORDS = frozenset("""
    shiny regular normal default female male alt back front
    mega gmax gigantamax primal eternamax totem ultra
    alola alolan galar galarian hisui hisuian paldea paldean
    origin altered therian incarnate attack defense speed land sky zen standard
    school solo crowned hero zero noice ice hangry full belly low key amped
    sunny rainy snowy sandy trash plant heat wash frost fan mow overcast sunshine
    aria pirouette ordinary resolute black white ash battle bond blade shield
    unbound confined dusk midnight midday dawn day night mane wings complete power construct
    busted disguised small large super average own tempo
    cap original hoenn sinnoh unova kalos partner world starter rock star belle pop phd libre cosplay
    east west red orange yellow green blue indigo violet meteor core
    pom pau sensu baile spring summer autumn winter
    archipelago continental elegant fancy garden high plains icy snow jungle marine meadow modern
    monsoon ocean pokeball polar river sandstorm savanna sun tundra
    vanilla ruby matcha mint lemon salted caramel rainbow swirl cream strawberry berry love
    clover flower ribbon
    heart diamond debutante matron dandy la reine kabuki pharaoh natural
    bug dark dragon electric fairy fighting fire flying ghost grass ground poison psychic steel
    water unknown burn chill douse shock
    striped rider shadow single rapid strike gulping gorging phony antique
    wellspring hearthflame cornerstone mask teal terastal stellar combat blaze aqua breed
    family of two three four plumage curly droopy stretchy segment roaming chest
    limited sprinting swimming gliding build mode drive aquatic glide
    spiky eared eternal active neutral exclamation question
""".split())

_SEPARATORS = re.compile(r"[\s_.]+")
_SINGLE_LETTER_OR_NUMBER = re.compile(r"[a-z]|\d+")


def species_of(name: str) -> str:
  """The species of a file stem (no folder, no extension), by the rule above.

  Args:
    name: A file stem such as "Vulpix-Alola" or "charizard-mega-x".

  Returns:
    The species in lower case with hyphens: "vulpix", "charizard".
  """
  name = _SEPARATORS.sub("-", name.strip().lower()).strip("-")
  for species in HYPHENATED_SPECIES:
    if name == species or name.startswith(species + "-"):
      return species
  words = name.split("-")
  while len(words) > 1 and _is_form_word(words[-1]):
    words.pop()
  return "-".join(words)


def _is_form_word(word):
  return word in FORM_WORDS or _SINGLE_LETTER_OR_NUMBER.fullmatch(word) is not None
