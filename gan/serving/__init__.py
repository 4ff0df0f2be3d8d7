"""Serving: the app's requests (DigitService) turned into files with provenance, the
hot-swappable served model, the renderers and the model card. Sits on gan.latent and below."""
