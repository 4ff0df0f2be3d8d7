"""The model layer: the networks, sampling (seeds -> latents -> images), weights on disk and
the digit classifier. Imports nothing of gan but the shared base modules."""
