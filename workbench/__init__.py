"""Dataset Workbench: evaluate language models on your own data and curate the results."""

__version__ = "0.1.0"
