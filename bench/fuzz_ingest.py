"""atheris (libFuzzer) on the ingest reader and its type inference.

    .venv/bin/python bench/fuzz_ingest.py TARGET [libFuzzer flags] [CORPUS_DIR ...]

``TARGET`` is ``sniff``, ``infer`` or ``ingest`` (see ``tests/corpus/ingest_fuzz.py`` for the property
each one checks). The ingest code is instrumented for coverage; libFuzzer flags pass through, for
example ``-runs=100000 -max_len=4096 -artifact_prefix=out/ tests/corpus/ingest/sniff``. A finding is
written by libFuzzer as ``<artifact_prefix>crash-<sha1>``: keep it in ``tests/corpus/ingest/<target>/``
once fixed, and CI replays it. ``bench/prove_fuzz.py`` runs the three targets and reports the figures.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

with atheris.instrument_imports(include=["dsp_ingest", "tests.corpus.ingest_fuzz"]):
    from tests.corpus.ingest_fuzz import TARGETS


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: fuzz_ingest.py {{{','.join(TARGETS)}}} [libFuzzer flags] [corpus dirs]")
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
