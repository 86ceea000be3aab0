"""dataqual: data-quality and preprocessing pipeline for MNIST-style image datasets."""

__version__ = "0.1.0"
