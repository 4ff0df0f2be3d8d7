"""Working in latent space: named directions (their data, edits, search), finding a drawing's
latent (inversion, with MNIST's preprocessing of the drawing), and the latent text codec.
Sits on gan.model and gan.measure."""
