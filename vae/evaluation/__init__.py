"""Judging a trained model: the report, its metrics and feature space, pictures, export.

`report` computes what `evaluate.py` prints and writes; `metrics` and `features`
are the numbers it is made of, `pictures` the grids it draws, `export` the
SavedModel. Nothing is imported here, so importing one module does not load
the others.
"""
