"""Dashboard's use cases on the in-process mesh: no broker, no database."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import polars as pl
from dsp_dashboard.bootstrap import service_spec as dashboard
from dsp_etl.bootstrap import service_spec as etl
from dsp_ingest.bootstrap import service_spec as ingest
from dsp_profile.bootstrap import service_spec as profile
from mesh_kit.memory import InMemoryArtifactStore
from mesh_kit.testing import payloads_of, run_services, upload
from shared_contracts.events import (
    AnalysisOptions,
    DashboardReady,
    DashboardRequested,
    DatasetProfiled,
    DatasetTransformed,
)

SAMPLE = Path(__file__).resolve().parents[3] / "samples" / "penguins-raw.csv"


async def test_a_requested_dashboard_is_built_with_its_zip_and_recorded() -> None:
    store = InMemoryArtifactStore()
    _, events = await run_services([ingest(), profile()], upload(store, SAMPLE, name="penguins-raw.csv"),
                                   store=store)
    (profiled,) = payloads_of(events, DatasetProfiled)
    request = DashboardRequested(dataset_id=profiled.dataset_id, profile=profiled.profile,
                                 cleaned_parquet=profiled.parquet, theme="dark")
    mesh, events = await run_services([dashboard()], request, store=store)
    (ready,) = payloads_of(events, DashboardReady)
    html = store.read_bytes(ready.html).decode()
    assert "<title>penguins-raw.csv: analysis</title>" in html and 'data-theme="dark"' in html
    assert ready.pdf is None and ready.zip is not None
    with zipfile.ZipFile(io.BytesIO(store.read_bytes(ready.zip))) as archive:
        assert set(archive.namelist()) == {"index.html", "THIRD_PARTY_NOTICES.txt"}
        assert archive.read("index.html").decode() == html
    record = mesh.repositories["dashboard"].dashboards[ready.dashboard_id]
    assert record.html_key == ready.html.key and record.html_bytes == len(html.encode())


async def test_a_re_render_describes_the_typed_data_and_draws_what_the_cleaning_changed() -> None:
    store = InMemoryArtifactStore()
    uploaded = upload(store, SAMPLE, name="penguins-raw.csv", analysis=AnalysisOptions(target="Species"))
    _, events = await run_services([ingest(), profile(), etl()], uploaded, store=store)
    (cleaned,) = payloads_of(events, DatasetTransformed)
    assert cleaned.typed_parquet is not None
    request = DashboardRequested(dataset_id=cleaned.dataset_id, profile=cleaned.profile,
                                 etl_report=cleaned.etl_report, cleaned_parquet=cleaned.cleaned_parquet,
                                 typed_parquet=cleaned.typed_parquet)
    _, events = await run_services([dashboard()], request, store=store)
    (ready,) = payloads_of(events, DashboardReady)
    html = store.read_bytes(ready.html).decode()
    payload = json.loads(re.search(r'<script type="application/json" id="dsp-payload">(.*?)</script>', html,
                                   re.S).group(1))  # type: ignore[union-attr]
    embedded = [c["name"] for c in payload["data"]["columns"]]
    typed = pl.read_parquet(io.BytesIO(store.read_bytes(cleaned.typed_parquet)))
    engineered = set(pl.read_parquet(io.BytesIO(store.read_bytes(cleaned.cleaned_parquet))).columns) - set(typed.columns)
    assert engineered and embedded == typed.columns
    assert 'id="etl-change-0"' in html and "as ingested and after cleaning" in html
