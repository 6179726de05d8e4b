"""safecurate: data curation for safe LLM fine-tuning (the `curate` command)."""

__version__ = "0.1.0"
__all__ = ["__version__"]
