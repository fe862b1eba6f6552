"""The platform from Python: ``import dsp``.

``dsp.profile``, ``dsp.analyze`` and ``dsp.compare`` run the same stages on the same in-process bus as the ``dsp`` command
(``dsp_cli.run``), with the command's options as keywords; ``dsp.load_model`` reads back the model a run
wrote and predicts with ml's own prediction use case. A table is a path (any format ingest reads), a
``polars.DataFrame`` or ``LazyFrame``, or a ``pandas.DataFrame``; a frame is written to a temporary Parquet
file first, so ingest reads its values exactly.

Examples
--------
>>> import polars as pl
>>> import dsp
>>> report = dsp.profile(pl.DataFrame({"x": [1.5, 2.5, 4.0], "y": ["a", "b", "a"]}), progress=False)
>>> report.profile.dataset.rows
3
"""

from __future__ import annotations

from ._api import (
    AnalysisReport,
    ComparisonReport,
    DspError,
    Model,
    ProfileReport,
    analyze,
    compare,
    load_model,
    profile,
)

__all__ = ["AnalysisReport", "ComparisonReport", "DspError", "Model", "ProfileReport", "analyze", "compare",
           "load_model", "profile"]
