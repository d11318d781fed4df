"""PokeVAE: a convolutional VAE for Pokemon sprites.

`vae.model.VAE` is the model, `vae.objectives` the ELBO terms, training
loss, importance-weighted bound and bits/dim. Nothing is imported here, so
that light modules of the package (e.g. its configuration) can be imported
without loading TensorFlow.
"""
