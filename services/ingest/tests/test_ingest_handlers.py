"""Ingest's use case on the in-process mesh: no broker, no database."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from dsp_ingest.bootstrap import service_spec
from mesh_kit.memory import InMemoryArtifactStore
from mesh_kit.testing import payloads_of, run_services, upload
from shared_contracts.events import DatasetIngested, DatasetRejected, IngestOptions, StageFailed
from shared_contracts.ingest import IngestReport

SAMPLE = Path(__file__).resolve().parents[3] / "samples" / "penguins-raw.csv"


async def test_an_upload_becomes_typed_parquet_and_is_recorded_once() -> None:
    store = InMemoryArtifactStore()
    uploaded = upload(store, SAMPLE, name="penguins-raw.csv")
    mesh, events = await run_services([service_spec()], uploaded, store=store)
    (ingested,) = payloads_of(events, DatasetIngested)
    assert ingested.dataset_id == uploaded.dataset_id and ingested.display_name == "penguins-raw.csv"
    assert ingested.row_count == 344 and len(ingested.columns) == 17
    report = IngestReport.model_validate_json(store.read_bytes(ingested.ingest_report))
    assert [c.name for c in report.columns] == [c.name for c in ingested.columns]
    frame = pl.read_parquet(store.objects[ingested.parquet.key])
    assert frame.height == 344
    record = mesh.repositories["ingest"].ingested[uploaded.dataset_id]
    assert (record.row_count, record.parquet_key) == (344, ingested.parquet.key)


async def test_an_empty_file_is_rejected_with_its_code_and_recorded() -> None:
    store = InMemoryArtifactStore()
    uploaded = upload(store, b"")
    mesh, events = await run_services([service_spec()], uploaded, store=store)
    assert payloads_of(events, DatasetIngested) == []
    (rejected,) = payloads_of(events, DatasetRejected)
    (failed,) = payloads_of(events, StageFailed)
    assert rejected.code == failed.code == "empty_file"
    assert failed.stage == "ingest" and failed.dataset_id == uploaded.dataset_id
    assert mesh.repositories["ingest"].rejected[uploaded.dataset_id].code == "empty_file"


async def test_the_ingested_event_carries_the_validation_verdict() -> None:
    store = InMemoryArtifactStore()
    rules = [{"type": "not_null", "column": "Delta 15 N (o/oo)"},
             {"type": "not_null", "column": "Sex", "severity": "warning"},
             {"type": "not_null", "column": "Species"}]
    uploaded = upload(store, SAMPLE, ingest=IngestOptions(validation_rules=rules))
    _, events = await run_services([service_spec()], uploaded, store=store)
    (ingested,) = payloads_of(events, DatasetIngested)
    summary = ingested.validation
    assert summary is not None
    assert (summary.status, summary.rules_checked, summary.errors_failed, summary.warnings_failed) == ("failed", 3, 1, 1)
    delta = summary.rules[0]
    assert (delta.failed_count, delta.severity, delta.sample_lines[:2]) == (14, "error", [2, 5])
    assert summary.rules[2].passed


async def test_a_broken_error_rule_rejects_the_upload_when_asked_to_block() -> None:
    store = InMemoryArtifactStore()
    options = IngestOptions(validation_rules=[{"type": "not_null", "column": "Delta 15 N (o/oo)"}],
                            block_on_validation_error=True)
    uploaded = upload(store, SAMPLE, ingest=options)
    _, events = await run_services([service_spec()], uploaded, store=store)
    assert payloads_of(events, DatasetIngested) == []
    (rejected,) = payloads_of(events, DatasetRejected)
    assert rejected.code == "validation_failed"
    assert rejected.details["rules"][0]["failing_count"] == 14


async def test_a_rejection_carries_safe_details_and_logs_the_reader_error(caplog) -> None:
    import gzip
    import logging

    packed = gzip.compress(b"a,b\n" + b"".join(b"%d,%d\n" % (i, i * 7919 % 10007) for i in range(20000)))
    store = InMemoryArtifactStore()
    uploaded = upload(store, packed[: len(packed) // 2])
    with caplog.at_level(logging.WARNING, logger="dsp_ingest.service_layer.handlers"):
        _, events = await run_services([service_spec()], uploaded, store=store)
    (rejected,) = payloads_of(events, DatasetRejected)
    assert rejected.code == "decompression_failed" and rejected.details["reason"] == "truncated"
    assert "error" not in rejected.details and "ended before" not in rejected.message
    logged = [r for r in caplog.records if r.name == "dsp_ingest.service_layer.handlers"]
    assert logged and "ended before the end-of-stream marker" in logged[0].getMessage()
    assert logged[0].exc_info is not None and isinstance(logged[0].exc_info[1], EOFError)
