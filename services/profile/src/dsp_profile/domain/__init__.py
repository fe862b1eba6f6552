"""The profile core: pure functions from a Parquet dataset to a :class:`~shared_contracts.profile.Profile`."""

from .profiler import CORRELATION_SAMPLE_ROWS, profile_dataset
from .reading import reading_notes, with_file_labels

__all__ = ["CORRELATION_SAMPLE_ROWS", "profile_dataset", "reading_notes", "with_file_labels"]
