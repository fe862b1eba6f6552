"""The generated documents in the repo match the code: AsyncAPI of every FastStream app."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_asyncapi_documents_are_current() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "asyncapi.py"), "--check"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr


def test_asyncapi_documents_name_every_subscription_and_publication() -> None:
    import json

    from shared_contracts.manifest import SERVICES

    for service, manifest in SERVICES.items():
        document = json.loads((ROOT / "docs" / "asyncapi" / f"{service}.json").read_text())
        channels = " ".join(document["channels"])
        assert f"{service}:dsp.{service}" in channels
        operations = json.dumps(document["operations"])
        for key in manifest.routing_keys:
            assert key in operations, f"{service} does not document its subscription {key}"
        for event in manifest.publishes:
            assert f"{service}:{event.routing_key()}" in channels, f"{service} does not document {event.routing_key()}"
