import sys

from mesh_kit.cli import run_service_cli

from .bootstrap import service_spec

sys.exit(run_service_cli(service_spec))
