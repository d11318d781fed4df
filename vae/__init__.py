"""PokeVAE: a convolutional VAE for Pokemon sprites.

The model and its objective live here: `vae.model.VAE` (built from a
`vae.config.Config` by `VAE.from_config`), its `layers`, `networks`,
`priors` and `likelihoods`, and `vae.objectives` (the ELBO terms, training
loss, importance-weighted bound and bits/dim). `vae.training` is the
machinery that trains it, `vae.evaluation` what judges it, `vae.generation`
what makes sprites with it, and `vae.rundir` owns the run directory all three
read and write. Nothing is imported here, so that light modules of the
package (e.g. its configuration) can be imported without loading TensorFlow.
"""
