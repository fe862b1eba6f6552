"""Generate the AsyncAPI 3.0 document of every service into docs/asyncapi/<service>.json.

The documents come from the contracts and the service manifest (``mesh_kit.asyncapi``), with the
docstring of each subscribed use case as its operation's description. `--check` fails when the
committed documents differ from what the code declares.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from mesh_kit.asyncapi import asyncapi_document
from mesh_kit.topology import Topology
from shared_contracts.manifest import SERVICES

OUT = Path(__file__).resolve().parents[1] / "docs" / "asyncapi"


def document(service: str) -> str:
    """The document of one service as committed: sorted keys, two-space indent."""
    spec = importlib.import_module(f"{SERVICES[service].package}.bootstrap").service_spec()
    return json.dumps(asyncapi_document(spec, Topology()), indent=2, sort_keys=True) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    stale = []
    for service in SERVICES:
        text = document(service)
        path = OUT / f"{service}.json"
        if args.write:
            OUT.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        elif not path.exists() or path.read_text() != text:
            stale.append(service)
    if args.check and stale:
        print(f"stale AsyncAPI documents (run `make asyncapi`): {stale}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
