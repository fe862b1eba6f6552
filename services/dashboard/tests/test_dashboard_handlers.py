"""Dashboard's use cases on the in-process mesh: no broker, no database."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from dsp_dashboard.bootstrap import service_spec as dashboard
from dsp_ingest.bootstrap import service_spec as ingest
from dsp_profile.bootstrap import service_spec as profile
from mesh_kit.memory import InMemoryArtifactStore
from mesh_kit.testing import payloads_of, run_services, upload
from shared_contracts.events import DashboardReady, DashboardRequested, DatasetProfiled

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
