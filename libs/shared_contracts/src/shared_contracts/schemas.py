"""JSON Schemas of every event (in its envelope) and of the result documents.

``python -m shared_contracts.schemas --write`` regenerates ``libs/shared_contracts/schemas/``;
``--check`` exits non-zero when the committed files are stale. The compatibility test compares
the committed schemas with the models, so a change that breaks a version fails the build.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from . import events as _events  # noqa: F401  (registers every event payload)
from .envelope import EVENT_REGISTRY, Envelope

__all__ = ["SCHEMA_DIR", "all_schemas", "document_models"]

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"


def document_models() -> dict[str, type[BaseModel]]:
    """Versioned result documents that cross service boundaries as artifacts."""
    from .analysis import AnalysisResult
    from .compare import Comparison
    from .etl import EtlReport, FittedPipeline
    from .ingest import IngestReport
    from .profile import Profile

    return {
        "ingest-report.v1": IngestReport,
        "profile.v1": Profile,
        "etl-report.v1": EtlReport,
        "etl-pipeline.v1": FittedPipeline,
        "analysis.v1": AnalysisResult,
        "comparison.v1": Comparison,
    }


def all_schemas() -> dict[str, dict[str, Any]]:
    schemas: dict[str, dict[str, Any]] = {}
    for key, payload in sorted(EVENT_REGISTRY.items()):
        schemas[f"events/{key}"] = Envelope[payload].model_json_schema(mode="serialization")  # type: ignore[valid-type]
    for name, model in document_models().items():
        schemas[f"documents/{name}"] = model.model_json_schema(mode="serialization")
    return schemas


def _dump(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="write the schema files")
    parser.add_argument("--check", action="store_true", help="fail when the files are stale")
    args = parser.parse_args(argv)
    stale = []
    for name, schema in all_schemas().items():
        path = SCHEMA_DIR / f"{name}.json"
        text = _dump(schema)
        if args.write:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        elif not path.exists() or path.read_text() != text:
            stale.append(name)
    if args.check and stale:
        print("stale schemas (run `make schemas`): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
