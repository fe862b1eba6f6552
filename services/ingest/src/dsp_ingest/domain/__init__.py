"""The ingest core: read any CSV (or Parquet, Arrow, Excel, JSON, compressed text), infer its types,
validate it and write it as Parquet.

Pure code: files in, files and reports out. The service adapter and the ``dsp`` CLI both call
``ingest_file``, which recognises the format by content and reads every format through ``ingest_csv``.
"""

from shared_contracts.ingest import IngestReport

from .errors import IngestError
from .formats import detect_format, ingest_file
from .reader import ingest_csv
from .rules import Rule, load_rules, parse_rules

__all__ = ["IngestError", "IngestReport", "Rule", "detect_format", "ingest_csv", "ingest_file", "load_rules",
           "parse_rules"]
