"""The gateway's OpenAPI document committed for the web UI (ui/src/api/openapi.json) matches the code.

The UI's types (ui/src/api/schema.d.ts) are generated from that document, so a stale document means a UI
typed against an API that no longer exists.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = ROOT / "ui" / "src" / "api" / "openapi.json"


def test_the_ui_openapi_document_is_current() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "openapi.py"), "--check"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr


def test_the_ui_types_were_generated_from_the_committed_document() -> None:
    paths = json.loads(DOCUMENT.read_text())["paths"]
    types = (ROOT / "ui" / "src" / "api" / "schema.d.ts").read_text()
    missing = [path for path in paths if f'"{path}": {{' not in types]
    assert missing == [], f"schema.d.ts lacks {missing}: run `cd ui && npm run gen:api`"
    assert "/api/v1/upload" in paths and "/api/v1/auth/token" in paths
