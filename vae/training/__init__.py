"""Training machinery around the model: the compiled step, schedules, checkpoints, dashboard.

`step` is the compiled inner loop (Orbit's "N steps per call"); `train_loop.py`
is the outer loop that calls it. Nothing is imported here, so importing one
module does not load the others.
"""
