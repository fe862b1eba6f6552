"""The ingest core: read any CSV, infer its types, validate it and write it as Parquet.

Pure code: files in, files and reports out. The service adapter and the ``dsp`` CLI both call
``ingest_csv``.
"""

from shared_contracts.ingest import IngestReport

from .errors import IngestError
from .reader import ingest_csv
from .rules import Rule, load_rules, parse_rules

__all__ = ["IngestError", "IngestReport", "Rule", "ingest_csv", "load_rules", "parse_rules"]
