"""Generate the AsyncAPI document of every service's FastStream app into docs/asyncapi/.

`--check` fails when the committed documents differ from what the code declares.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from faststream.specification import AsyncAPI
from mesh_kit.service import build_broker
from mesh_kit.settings import MeshSettings
from shared_contracts.manifest import SERVICES

OUT = Path(__file__).resolve().parents[1] / "docs" / "asyncapi"


def document(service: str) -> str:
    spec = importlib.import_module(f"{SERVICES[service].package}.bootstrap").service_spec()
    settings = MeshSettings(amqp_url="amqp://rabbitmq:5672/")
    broker = build_broker(spec, settings, {})
    assert broker is not None
    schema = AsyncAPI(broker, title=f"dsp-{service}", version="1.0.0", description=spec.description)
    return json.dumps(schema.to_specification().to_jsonable(), indent=2, sort_keys=True) + "\n"


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
