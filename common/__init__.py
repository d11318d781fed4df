"""What every layer of PokeVAE uses, and nothing of any layer: the bottom of the import graph.

`errors` names a bad value and shortens an error to the one line a program
prints, `cli` makes argparse answer in that one line and offers dataclass
fields as flags, `startup` imports TensorFlow quietly, and `processes` tells
whether the process that named a file is still alive. `pipelines`, `vae` and
the programs import from here; this package imports none of them, nor
TensorFlow at import time. Nothing is imported here, so importing one module
does not load the others.
"""
