"""``python -m dsp_gateway serve|migrate|asyncapi`` (mesh_kit's), and ``create-user``."""

import sys

from mesh_kit.cli import run_service_cli

from .bootstrap import check_identity_settings, service_spec

if len(sys.argv) > 1 and sys.argv[1] == "create-user":
    from .entrypoints.cli import create_user_command

    sys.exit(create_user_command(sys.argv[2:]))
if len(sys.argv) > 1 and sys.argv[1] == "serve":
    problem = check_identity_settings()
    if problem:  # fail fast with the reason, before the server starts
        print(f"gateway: {problem}", file=sys.stderr)
        sys.exit(2)
sys.exit(run_service_cli(service_spec))
