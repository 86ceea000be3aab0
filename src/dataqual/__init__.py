"""dataqual: data-quality and preprocessing pipeline for MNIST-style image datasets."""

__all__ = ["__version__"]

__version__ = "0.1.0"
