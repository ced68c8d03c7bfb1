"""Clean and ship: dedup, decontamination, quality filters and export of instruction pairs."""

from glan.post.config import PostConfig
from glan.post.pipeline import clean, clean_and_export, export, post_config, preflight

__all__ = ["PostConfig", "clean", "clean_and_export", "export", "post_config", "preflight"]
