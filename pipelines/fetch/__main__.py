"""`python -m pipelines.fetch bundled|verify|all-frames`: see `pipelines/fetch/sprite_sets.py`."""

import sys

from pipelines.fetch import sprite_sets

if __name__ == "__main__":
  sys.exit(sprite_sets.main())
