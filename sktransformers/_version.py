"""The version of sktransformers (one place; the package and saved models read it)."""

__version__ = "0.3.0"
