"""Hostile but valid files through ingest and profile on the in-process mesh: each ends typed, as a dataset
profiled or one rejected with its code on the first delivery, never as retries_exhausted with exception text."""

from __future__ import annotations

import datetime as dt

from dsp_ingest.bootstrap import service_spec as ingest_service
from dsp_profile.bootstrap import service_spec as profile_service
from mesh_kit.memory import InMemoryArtifactStore
from mesh_kit.testing import payloads_of, run_services, upload
from shared_contracts.events import DatasetProfiled, DatasetRejected, IngestOptions, StageFailed
from shared_contracts.ingest import IngestReport


async def test_selector_names_nul_bytes_and_a_year_0_date_are_ingested_and_profiled() -> None:
    days = [(dt.date(2020, 1, 1) + dt.timedelta(days=i % 20)).isoformat() for i in range(200)]
    days[5] = "0000-01-01"
    rows = "".join(f"{d},{i % 7},{i * 3},{i % 4}\n" for i, d in enumerate(days)).encode()
    data = b"d,^other$,*,na\x00me\n" + rows
    store = InMemoryArtifactStore()
    uploaded = upload(store, data, ingest=IngestOptions(type_overrides={"d": "date"}))
    _, events = await run_services([ingest_service(), profile_service()], uploaded, store=store)
    assert payloads_of(events, StageFailed) == []
    (profiled,) = payloads_of(events, DatasetProfiled)
    assert profiled.dataset_id == uploaded.dataset_id
    (ingested,) = [e.payload for e in events if e.payload.__class__.__name__ == "DatasetIngested"]
    assert [c.name for c in ingested.columns] == ["d", "_^other$", "_*", "name"]
    report = IngestReport.model_validate_json(store.read_bytes(ingested.ingest_report))
    assert report.columns[0].unparseable_count == 1  # the year-0 date, counted in its column


async def test_10000_columns_are_rejected_with_their_code_on_the_first_delivery() -> None:
    header = ",".join(f"c{i}" for i in range(10_000)).encode()
    data = header + b"\n" + (b",".join(b"%d" % (i % 9) for i in range(10_000)) + b"\n") * 50
    store = InMemoryArtifactStore()
    uploaded = upload(store, data)
    _, events = await run_services([ingest_service(), profile_service()], uploaded, store=store)
    (rejected,) = payloads_of(events, DatasetRejected)
    (failed,) = payloads_of(events, StageFailed)
    assert rejected.code == failed.code == "too_many_columns"
    assert rejected.details == {"columns": 10_000, "limit": 2_000}
    assert failed.attempts == 1, "a typed failure is not retried"
    assert "Traceback" not in failed.reason and "Error" not in failed.reason and "2000" in failed.reason
    assert payloads_of(events, DatasetProfiled) == []
