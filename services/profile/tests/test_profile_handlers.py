"""Profile's use cases on the in-process mesh: no broker, no database."""

from __future__ import annotations

from pathlib import Path

from dsp_ingest.bootstrap import service_spec as ingest
from dsp_profile.bootstrap import service_spec as profile
from mesh_kit.memory import InMemoryArtifactStore
from mesh_kit.testing import payloads_of, run_services, upload
from shared_contracts.events import AnalysisOptions, DatasetProfiled, IngestOptions, StageFailed
from shared_contracts.profile import Profile

SAMPLE = Path(__file__).resolve().parents[3] / "samples" / "penguins-raw.csv"


async def test_an_ingested_dataset_is_profiled_under_its_name() -> None:
    store = InMemoryArtifactStore()
    mesh, events = await run_services([ingest(), profile()], upload(store, SAMPLE, name="penguins-raw.csv"),
                                      store=store)
    (profiled,) = payloads_of(events, DatasetProfiled)
    document = Profile.model_validate_json(store.read_bytes(profiled.profile))
    assert document.dataset.rows == 344 and document.dataset.name == "penguins-raw.csv"
    assert profiled.quality_score == document.quality.score and profiled.analysis is None
    (record,) = mesh.repositories["profile"].profiles.values()
    assert record.profile_key == profiled.profile.key and record.target is None


async def test_an_unknown_target_fails_the_job_in_the_profile_stage() -> None:
    store = InMemoryArtifactStore()
    uploaded = upload(store, SAMPLE, analysis=AnalysisOptions(target="no_such_column"))
    _, events = await run_services([ingest(), profile()], uploaded, store=store)
    assert payloads_of(events, DatasetProfiled) == []
    (failed,) = payloads_of(events, StageFailed)
    assert (failed.stage, failed.code) == ("profile", "target_not_found")
    assert "Species" in failed.reason and "no_such_column" in failed.reason


async def test_the_profile_says_how_the_file_was_read() -> None:
    """A kept 'none' level, a widened column and trimmed text are listed with their counts."""
    n = 12_000  # past the reader's sample, so that the decimals at the end widen the column
    rows = ["drink,dose,label"] + [f"{'none' if i % 3 else 'heavy'},{i if i < n - 10 else i + 0.5},  x{i % 4} "
                                   for i in range(n)]
    store = InMemoryArtifactStore()
    _, events = await run_services([ingest(), profile()], upload(store, "\n".join(rows).encode()), store=store)
    (profiled,) = payloads_of(events, DatasetProfiled)
    notes = {(n.kind, n.column): n for n in Profile.model_validate_json(store.read_bytes(profiled.profile)).reading}
    assert notes[("kept_tokens", "drink")].count == sum(1 for i in range(n) if i % 3)
    assert ("widened", "dose") in notes
    assert notes[("trimmed", "label")].count == n
    assert ("header", None) in notes


async def test_a_type_override_is_marked_and_no_alert_suggests_another_type() -> None:
    """'Date Egg' holds ISO dates; typed categorical at upload, the profile keeps it so and says it was the user."""
    store = InMemoryArtifactStore()
    uploaded = upload(store, SAMPLE, ingest=IngestOptions(type_overrides={"Date Egg": "categorical"}))
    _, events = await run_services([ingest(), profile()], uploaded, store=store)
    (profiled,) = payloads_of(events, DatasetProfiled)
    document = Profile.model_validate_json(store.read_bytes(profiled.profile))
    egg = document.column("Date Egg")
    assert (egg.semantic_type, egg.physical_type, egg.overridden) == ("categorical", "String", True)
    assert not document.column("Species").overridden
    assert not [a.type for a in document.alerts if "Date Egg" in a.columns and a.type in ("TYPE_DATE", "MIXED_TYPES")]


async def test_a_boolean_column_keeps_the_file_s_labels_in_the_profile() -> None:
    """penguins' Clutch Completion is typed boolean by ingest; the profile still says the file writes No/Yes."""
    store = InMemoryArtifactStore()
    _, events = await run_services([ingest(), profile()], upload(store, SAMPLE), store=store)
    (profiled,) = payloads_of(events, DatasetProfiled)
    columns = {c.name: c for c in Profile.model_validate_json(store.read_bytes(profiled.profile)).columns}
    assert columns["Clutch Completion"].physical_type == "Boolean"
    assert columns["Clutch Completion"].boolean_labels == ["No", "Yes"]
    assert columns["Species"].boolean_labels is None
