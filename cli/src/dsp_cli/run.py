"""The runs of the ``dsp`` command: upload a file (or two, to compare them) to an in-process mesh and collect its
documents."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from mesh_kit.artifacts import ArtifactStore, LocalArtifactStore, artifact_key
from mesh_kit.memory import InMemoryMesh, ProgressListener
from mesh_kit.ports import ServiceSpec
from shared_contracts import ArtifactRef, Envelope
from shared_contracts.etl import EtlReport
from shared_contracts.events import (
    AnalysisCompleted,
    AnalysisOptions,
    ComparisonCompleted,
    ComparisonRequested,
    DashboardReady,
    DatasetIngested,
    DatasetProfiled,
    DatasetTransformed,
    DatasetUploaded,
    IngestOptions,
    JobCancelled,
    StageFailed,
)
from shared_contracts.profile import Profile

if TYPE_CHECKING:  # the result documents of the later stages are imported when a run reaches them
    from shared_contracts.analysis import AnalysisResult
    from shared_contracts.compare import Comparison

__all__ = [
    "COMPARE_STEPS",
    "ComparisonOutcome",
    "Interrupt",
    "Interrupted",
    "Outcome",
    "StageFractions",
    "Until",
    "compare_sync",
    "run_compare",
    "run_pipeline",
    "run_sync",
    "services_for",
]

Until = Literal["profile", "etl", "dashboard", "compare"]
"""How far a command goes: the services it runs (the events decide their order). ``compare`` profiles two files,
then compares them (profile), scores a target (ml) and draws the comparison (dashboard)."""

COMPARE_STEPS = 7
"""The progress steps of a comparison: ingest and profile of A, then of B, then compare, ml and dashboard."""

T = TypeVar("T")


def services_for(until: Until) -> list[ServiceSpec]:
    """The services a command needs, as their bootstraps describe them."""
    from dsp_ingest.bootstrap import service_spec as ingest
    from dsp_profile.bootstrap import service_spec as profile

    services = [ingest(), profile()]
    if until in ("etl", "dashboard"):
        from dsp_etl.bootstrap import service_spec as etl

        services.append(etl())
    if until in ("dashboard", "compare"):
        from dsp_dashboard.bootstrap import service_spec as dashboard
        from dsp_ml.bootstrap import service_spec as ml

        services += [ml(), dashboard()]
    return services


# where the documents an event points at are written in the output directory
_OUTPUTS: dict[type, dict[str, str]] = {
    DatasetIngested: {"ingest_report": "ingest-report.json"},
    DatasetProfiled: {"profile": "profile.json"},
    DatasetTransformed: {"cleaned_parquet": "cleaned.parquet", "cleaned_csv": "cleaned.csv",
                         "etl_report": "etl-report.json", "pipeline": "pipeline.json",
                         "typed_parquet": "typed.parquet"},
    AnalysisCompleted: {"analysis_result": "analysis.json"},
    DashboardReady: {"html": "dashboard.html", "zip": "dashboard.zip", "pdf": "report.pdf"},
}


@dataclass
class Outcome:
    """What a run produced: the documents it wrote, or the failure that ended it."""

    events: list[Envelope[Any]]
    failure: StageFailed | None = None
    profile: Profile | None = None
    etl_report: EtlReport | None = None
    analysis: AnalysisResult | None = None
    cancelled: JobCancelled | None = None
    """The stage's acknowledgement when the run was cancelled; nothing was then written to the output directory."""


class Interrupt:
    """Cancels a run from another thread: the job on its in-process mesh, once the mesh exists.

    A cancellation asked for before the mesh exists cancels the job as soon as it does; one asked for
    once the run writes its documents comes too late and changes nothing (``cancel`` says so).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._mesh: InMemoryMesh | None = None
        self._job_id: uuid.UUID | None = None
        self._writing = False
        self.requested_at: float | None = None
        self.reason = ""

    def attach(self, mesh: InMemoryMesh, job_id: uuid.UUID) -> None:
        with self._lock:
            self._mesh, self._job_id = mesh, job_id
            if self.requested_at is not None:
                mesh.cancel(job_id, self.reason)

    def cancel(self, reason: str = "") -> bool:
        """Cancel the run's job; False when the run is already writing its documents."""
        with self._lock:
            if self._writing:
                return False
            if self.requested_at is None:
                self.requested_at, self.reason = time.monotonic(), reason
                if self._mesh is not None and self._job_id is not None:
                    self._mesh.cancel(self._job_id, reason)
            return True

    def start_writing(self) -> bool:
        """From now on the run is not cancelled; False if it already was."""
        with self._lock:
            self._writing = self.requested_at is None
            return self._writing


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (or a kernel interrupt) stopped a run: its job was cancelled and nothing was written.

    ``stopped`` says whether the run's stages had stopped when it was raised (False after a second
    interrupt, which does not wait for them), ``stopped_after_s`` how long they took.
    """

    def __init__(self, *, stopped: bool, stopped_after_s: float | None) -> None:
        super().__init__("cancelled")
        self.stopped, self.stopped_after_s = stopped, stopped_after_s


def _write_outputs(store: ArtifactStore, envelope: Envelope[Any], out: Path) -> None:
    payload = envelope.payload
    for field_name, name in _OUTPUTS.get(type(payload), {}).items():
        ref: ArtifactRef | None = getattr(payload, field_name)
        if ref is not None:
            store.fetch_to(ref, out / name)
    if isinstance(payload, AnalysisCompleted) and payload.model is not None:
        import shutil

        shutil.rmtree(out / "model", ignore_errors=True)
        store.fetch_dir(payload.model, out / "model")


def _store_upload(store: ArtifactStore, file: Path, dataset_id: uuid.UUID) -> ArtifactRef:
    """Put ``file`` in the store as dataset ``dataset_id``'s upload, as the gateway does."""
    return store.put_file(artifact_key("datasets", dataset_id, "raw"), file, media_type="text/csv")


def _upload(mesh: InMemoryMesh, store: ArtifactStore, file: Path, *, ingest: IngestOptions, job_id: uuid.UUID,
            analysis: AnalysisOptions | None = None, stored: tuple[uuid.UUID, ArtifactRef] | None = None) -> uuid.UUID:
    """Put ``file`` in the store (unless ``stored`` gives its dataset id and reference) and publish its
    ``dataset.uploaded`` for ``job_id``, as the gateway does; the dataset's id."""
    if stored is None:
        dataset_id = uuid.uuid4()
        raw = _store_upload(store, file, dataset_id)
    else:
        dataset_id, raw = stored
    mesh.publish(DatasetUploaded(dataset_id=dataset_id, raw=raw, display_name=file.name, ingest=ingest,
                                 analysis=analysis), job_id=job_id)
    return dataset_id


def _stopped(events: list[Envelope[Any]]) -> JobCancelled | None:
    """A stage's acknowledgement that it stopped the run's cancelled job."""
    return next((e.payload for e in events if isinstance(e.payload, JobCancelled)), None)


def _failure(events: list[Envelope[Any]]) -> StageFailed | None:
    """The first stage.failed of a run, which ends it."""
    return next((e.payload for e in events if isinstance(e.payload, StageFailed)), None)


async def run_pipeline(file: Path, out: Path, *, work: Path, until: Until, ingest: IngestOptions,
                       analysis: dict[str, Any] | None, on_progress: ProgressListener | None = None,
                       interrupt: Interrupt | None = None) -> Outcome:
    """Upload ``file`` to an in-process mesh of the stages ``until`` needs, drain it, write the documents to ``out``.

    Parameters
    ----------
    file
        The table to read (any format ingest recognises).
    out
        Directory for the documents (profile.json, cleaned data, analysis.json, dashboard.html, ...).
    work
        Scratch directory for the artifact store of the run.
    until
        ``profile`` stops at the profile, ``etl`` at the cleaned data, ``dashboard`` runs everything.
    ingest, analysis
        How to read the file, and what the analysis should do (``None``: no analysis).
    interrupt
        Lets another thread cancel the job (Ctrl-C); a cancelled run writes nothing to ``out`` and its
        outcome carries the stage's ``job.cancelled``.
    """
    requested_at = datetime.now(UTC)  # the time budget counts from here, loading the stages included
    store = LocalArtifactStore(work / "store")
    options = AnalysisOptions.model_validate({k: v for k, v in analysis.items() if v is not None}) \
        if analysis is not None else None
    # the upload is copied and hashed (without the GIL) while the stages load
    upload_id = uuid.uuid4()
    with ThreadPoolExecutor(1, thread_name_prefix="dsp-upload") as uploader:
        stored = uploader.submit(_store_upload, store, file, upload_id)
        mesh = InMemoryMesh(services_for(until), store, on_progress=on_progress)
        raw = stored.result()
    job_id = uuid.uuid4()
    if interrupt is not None:
        interrupt.attach(mesh, job_id)
    # the analysis gets what loading the stages, reading, profiling and cleaning leave of the budget
    requested = options.model_copy(update={"requested_at": requested_at}) if options is not None else None
    dataset_id = _upload(mesh, store, file, ingest=ingest, job_id=job_id, analysis=requested, stored=(upload_id, raw))
    events = await mesh.drain()
    outcome = Outcome(events=events, failure=_failure(events))
    stopped = _stopped(events)
    if stopped is not None or (interrupt is not None and not interrupt.start_writing()):
        outcome.cancelled = stopped or JobCancelled(stage="gateway", dataset_id=dataset_id)
        return outcome  # a cancelled job writes nothing
    for envelope in events:
        payload = envelope.payload
        if isinstance(payload, StageFailed):
            continue
        _write_outputs(store, envelope, out)
        if isinstance(payload, DatasetProfiled):
            outcome.profile = Profile.model_validate_json(store.read_bytes(payload.profile))
        elif isinstance(payload, DatasetTransformed):
            outcome.etl_report = EtlReport.model_validate_json(store.read_bytes(payload.etl_report))
        elif isinstance(payload, AnalysisCompleted):
            from shared_contracts.analysis import AnalysisResult

            outcome.analysis = AnalysisResult.model_validate_json(store.read_bytes(payload.analysis_result))
    return outcome


@dataclass
class ComparisonOutcome:
    """What a comparison produced (comparison.json, comparison.html, profile-a.json, profile-b.json in the output
    directory), or the failure that ended it."""

    events: list[Envelope[Any]]
    failure: StageFailed | None = None
    comparison: Comparison | None = None
    profile_a: Profile | None = None
    profile_b: Profile | None = None
    cancelled: JobCancelled | None = None
    """The stage's acknowledgement when the run was cancelled."""


def _names(file_a: Path, file_b: Path, names: tuple[str | None, str | None]) -> tuple[str, str]:
    """The two datasets' names in the findings: those given, else their file names, told apart when the same."""
    name_a, name_b = names[0] or file_a.name, names[1] or file_b.name
    if name_a != name_b:
        return name_a, name_b
    return f"{name_a} (A)", f"{name_b} (B)"


async def run_compare(file_a: Path, file_b: Path, out: Path, *, work: Path, ingest: IngestOptions,
                      target: str | None = None, theme: Literal["light", "dark"] = "light",
                      names: tuple[str | None, str | None] = (None, None),
                      on_progress: ProgressListener | None = None,
                      interrupt: Interrupt | None = None) -> ComparisonOutcome:
    """Profile two files on an in-process mesh, then compare B with A as ``POST /api/v1/compare`` does.

    Each file is read and profiled as ``run_pipeline`` does; then ``comparison.requested`` makes profile compare
    them, ml score the target (when given) and dashboard draw the comparison.

    Parameters
    ----------
    file_a, file_b
        The reference table, and the table compared with it.
    out
        Directory for comparison.json, comparison.html, profile-a.json and profile-b.json.
    work
        Scratch directory for the artifact store of the run.
    ingest
        How to read both files.
    target
        Also check whether the relation of the features to this column moved.
    theme
        The comparison dashboard's colours.
    names
        The datasets' names in the findings; None: the file's name.
    on_progress
        Told each step's progress, as ``ingest A``, ``profile B``, ``compare``, ``ml`` and ``dashboard``.
    interrupt
        Lets another thread cancel the run (Ctrl-C): the job under way is cancelled, nothing more is written
        to ``out`` and the outcome carries the stage's ``job.cancelled``.
    """
    store = LocalArtifactStore(work / "store")
    step = {"side": ""}

    def relabel(stage: str, fraction: float, message: str) -> None:
        if on_progress is not None:
            side = step["side"]
            on_progress(f"{stage} {side}" if side else ("compare" if stage == "profile" else stage), fraction, message)

    mesh = InMemoryMesh(services_for("compare"), store, on_progress=relabel)
    outcome = ComparisonOutcome(events=[])
    profiled: list[DatasetProfiled] = []
    for side, file in (("A", file_a), ("B", file_b)):
        step["side"] = side
        upload_job = uuid.uuid4()
        if interrupt is not None:
            interrupt.attach(mesh, upload_job)
        dataset_id = _upload(mesh, store, file, ingest=ingest, job_id=upload_job)
        events = await mesh.drain()
        outcome.events += events
        outcome.failure, outcome.cancelled = _failure(events), _stopped(events)
        if outcome.failure is not None or outcome.cancelled is not None:
            return outcome
        done = next(e.payload for e in events if isinstance(e.payload, DatasetProfiled)
                    and e.payload.dataset_id == dataset_id)
        profiled.append(done)
    step["side"] = ""
    a, b = profiled
    outcome.profile_a, outcome.profile_b = (Profile.model_validate_json(store.read_bytes(p.profile)) for p in profiled)
    name_a, name_b = _names(file_a, file_b, names)
    job_id = uuid.uuid4()
    if interrupt is not None:
        interrupt.attach(mesh, job_id)
    mesh.publish(ComparisonRequested(dataset_id=a.dataset_id, dataset_id_b=b.dataset_id, comparison_id=job_id,
                                     parquet_a=a.parquet, parquet_b=b.parquet, profile_a=a.profile,
                                     profile_b=b.profile, name_a=name_a, name_b=name_b, target=target, theme=theme),
                 job_id=job_id)
    events = await mesh.drain()
    outcome.events += events
    outcome.failure, outcome.cancelled = _failure(events), _stopped(events)
    if outcome.cancelled is not None or (interrupt is not None and not interrupt.start_writing()):
        outcome.cancelled = outcome.cancelled or JobCancelled(stage="gateway", dataset_id=a.dataset_id)
        return outcome  # a cancelled comparison writes no comparison
    for side, done in zip("ab", profiled, strict=True):
        store.fetch_to(done.profile, out / f"profile-{side}.json")
    for envelope in events:
        payload = envelope.payload
        if isinstance(payload, ComparisonCompleted):
            from shared_contracts.compare import Comparison

            store.fetch_to(payload.comparison, out / "comparison.json")
            outcome.comparison = Comparison.model_validate_json(store.read_bytes(payload.comparison))
        elif isinstance(payload, DashboardReady):
            store.fetch_to(payload.html, out / "comparison.html")
    return outcome


def _blocking(job: Callable[[], Coroutine[Any, Any, T]], interrupt: Interrupt) -> T:
    """Run a coroutine from synchronous code, in a thread of its own (this one may run an event loop, as a
    Jupyter kernel does) while this one waits for it.

    A ``KeyboardInterrupt`` while waiting (Ctrl-C, a kernel interrupt) cancels the job through ``interrupt``,
    waits for its stages to stop, which takes seconds, and raises ``Interrupted`` (a ``KeyboardInterrupt``);
    nothing is written to the output directory. A second one while waiting raises at once, leaving the
    cancelled stages to stop on their own. A run already writing its documents when interrupted finishes them
    first.
    """
    done: list[T] = []
    failed: list[BaseException] = []
    ended = threading.Event()

    def worker() -> None:
        try:
            done.append(asyncio.run(job()))
        except BaseException as exc:  # re-raised in the caller's thread
            failed.append(exc)
        finally:
            ended.set()

    threading.Thread(target=worker, name="dsp-pipeline", daemon=True).start()
    try:
        _wait(ended)
    except KeyboardInterrupt:
        if interrupt.cancel("interrupted (Ctrl-C)"):
            try:
                _wait(ended)
            except KeyboardInterrupt:
                raise Interrupted(stopped=False, stopped_after_s=None) from None
            asked = interrupt.requested_at or time.monotonic()
            raise Interrupted(stopped=True, stopped_after_s=round(time.monotonic() - asked, 3)) from None
        _wait(ended)  # too late to cancel: the documents are being written
    if failed:
        raise failed[0]
    return done[0]


def _wait(ended: threading.Event) -> None:
    # an event, not Thread.join: a join cut short by KeyboardInterrupt may mark a running thread as ended
    # (CPython 3.11), and short waits let the KeyboardInterrupt through on every platform
    while not ended.wait(0.2):
        pass


def run_sync(file: Path, out: Path, *, work: Path, until: Until, ingest: IngestOptions,
             analysis: dict[str, Any] | None, on_progress: ProgressListener | None = None) -> Outcome:
    """``run_pipeline`` from synchronous code (see ``_blocking``: Ctrl-C cancels it)."""
    interrupt = Interrupt()
    return _blocking(lambda: run_pipeline(file, out, work=work, until=until, ingest=ingest, analysis=analysis,
                                          on_progress=on_progress, interrupt=interrupt), interrupt)


def compare_sync(file_a: Path, file_b: Path, out: Path, *, work: Path, ingest: IngestOptions,
                 target: str | None = None, theme: Literal["light", "dark"] = "light",
                 names: tuple[str | None, str | None] = (None, None),
                 on_progress: ProgressListener | None = None) -> ComparisonOutcome:
    """``run_compare`` from synchronous code (see ``_blocking``: Ctrl-C cancels it)."""
    interrupt = Interrupt()
    return _blocking(lambda: run_compare(file_a, file_b, out, work=work, ingest=ingest, target=target, theme=theme,
                                         names=names, on_progress=on_progress, interrupt=interrupt), interrupt)


@dataclass
class StageFractions:
    """The run's overall fraction done: the mean of each stage's own fraction (stages report from their threads)."""

    stages: int
    done: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, stage: str, fraction: float) -> float:
        """Record a stage's fraction (it never goes back) and return the overall one, 0..1."""
        self.done[stage] = max(self.done.get(stage, 0.0), fraction)
        return min(1.0, sum(self.done.values()) / max(self.stages, 1))
