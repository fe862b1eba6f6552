"""Write the gateway's OpenAPI document to ui/src/api/openapi.json, from which the UI's types are generated.

`--write` writes it (then `cd ui && npm run gen:api` regenerates ui/src/api/schema.d.ts); `--check` fails when
the committed document differs from what the code declares, so the UI and the API cannot drift apart.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "ui" / "src" / "api" / "openapi.json"


def document() -> str:
    """The gateway's OpenAPI document as committed: sorted keys, two-space indent."""
    from dsp_gateway.bootstrap import service_spec
    from mesh_kit.service import build_app
    from mesh_kit.settings import MeshSettings

    app = build_app(service_spec(), MeshSettings(metrics_port=0))
    return json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    text = document()
    if args.write:
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(text)
        print(f"wrote {OUT}")
    if args.check and (not OUT.is_file() or OUT.read_text() != text):
        print(f"{OUT} is stale: run `python scripts/openapi.py --write && (cd ui && npm run gen:api)`",
              file=sys.stderr)
        return 1
    if not (args.write or args.check):
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
