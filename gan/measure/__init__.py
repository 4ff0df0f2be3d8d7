"""Measuring generators: quality metrics in the classifier's feature space, the full
evaluation, Morpho-MNIST shape measurements, and training the classifier. Sits on gan.model."""
