"""CPU seconds of each phase of ``dsp profile`` in one process: imports, ingest, profile, JSON.

    .venv/bin/python bench/profile_phases.py bench-data/mixed_1m.csv OUT_DIR

CPU time (``time.process_time``: every thread of the process) is steadier than wall time on a
shared machine. Run an older checkout's code with the same interpreter by putting its
``libs/*/src``, ``services/*/src`` and ``cli/src`` first on ``PYTHONPATH``.
"""

from __future__ import annotations

import sys
import time

started = time.process_time()
from pathlib import Path  # noqa: E402

import dsp_cli.main  # noqa: E402, F401  (the command's own imports)
import dsp_cli.run  # noqa: E402

dsp_cli.run.services_for("profile")  # the stages `dsp profile` loads
from dsp_ingest.domain import ingest_csv  # noqa: E402
from dsp_profile.domain import profile_dataset  # noqa: E402


def main() -> int:
    imported = time.process_time()
    out = Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    report = ingest_csv(Path(sys.argv[1]), out / "data.parquet")
    ingested = time.process_time()
    profile = profile_dataset(out / "data.parquet", semantic_types={c.name: c.semantic_type for c in report.columns})
    profiled = time.process_time()
    (out / "profile.json").write_text(profile.model_dump_json())
    written = time.process_time()
    print(f"imports {imported - started:.2f} ingest {ingested - imported:.2f} profile {profiled - ingested:.2f} "
          f"json {written - profiled:.2f} total {written - started:.2f} (CPU s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
