"""The profile core: pure functions from a Parquet dataset to a :class:`~shared_contracts.profile.Profile`."""

from .profiler import CORRELATION_SAMPLE_ROWS, profile_dataset

__all__ = ["CORRELATION_SAMPLE_ROWS", "profile_dataset"]
