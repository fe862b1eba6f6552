"""Dashboard core: a self-contained interactive HTML page from a dataset and its results."""

from .builder import MAX_HTML_BYTES, Theme, build_dashboard, build_zip
from .compare import build_comparison_html

__all__ = ["MAX_HTML_BYTES", "Theme", "build_comparison_html", "build_dashboard", "build_zip"]
