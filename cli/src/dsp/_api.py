"""``dsp.profile``, ``dsp.analyze``, ``dsp.compare`` and ``dsp.load_model``: adapters of the command's runs and ml's
predictions."""

from __future__ import annotations

import abc
import html
import os
import shutil
import tempfile
import warnings
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
from dsp_cli.options import analysis_options, ingest_options
from dsp_cli.run import COMPARE_STEPS, Outcome, StageFractions, Until, compare_sync, run_sync, services_for
from shared_contracts.analysis import AnalysisResult, Predictions
from shared_contracts.compare import CompareFinding, Comparison
from shared_contracts.etl import EtlReport
from shared_contracts.events import DatasetProfiled, IngestOptions, StageFailed
from shared_contracts.ingest import IngestReport
from shared_contracts.profile import Profile

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["AnalysisReport", "ComparisonReport", "DspError", "Model", "ProfileReport", "analyze", "compare",
           "load_model", "profile"]

Data = "str | os.PathLike[str] | pl.DataFrame | pl.LazyFrame | pd.DataFrame"


class DspError(RuntimeError):
    """A stage refused the data, or a model its rows: the stage, a stable code and the reason, as ``dsp`` prints.

    Attributes
    ----------
    stage : str
        The stage that refused: ``ingest``, ``profile``, ``etl``, ``ml``, ``dashboard``.
    code : str
        Stable code, such as ``target_not_found`` or ``csv_ragged_rows``.
    reason : str
        Plain-language reason.

    Examples
    --------
    >>> import polars as pl
    >>> import dsp
    >>> try:
    ...     dsp.profile(pl.DataFrame({"x": [1, 2, 3]}), target="no_such_column", progress=False)
    ... except dsp.DspError as error:
    ...     print(error.code)
    target_not_found
    """

    def __init__(self, stage: str, code: str, reason: str) -> None:
        super().__init__(f"{stage}: {code}: {reason}")
        self.stage, self.code, self.reason = stage, code, reason


def _is_pandas(data: Any) -> bool:
    return type(data).__module__.split(".")[0] == "pandas" and hasattr(data, "to_parquet")


def _write_parquet(data: Any, path: Path) -> None:
    if isinstance(data, pl.LazyFrame):
        data = data.collect()
    if isinstance(data, pl.DataFrame):
        data.write_parquet(path)
        return
    if _is_pandas(data):
        import pandas as pd

        # a range index is the row position, which ingest keeps; another index is data, kept as a column
        plain = isinstance(data.index, pd.RangeIndex) and data.index.name is None
        (data if plain else data.reset_index()).to_parquet(path, index=False)
        return
    raise TypeError(f"data must be a path, a polars DataFrame or LazyFrame, or a pandas DataFrame, not "
                    f"{type(data).__name__}")


@contextmanager
def _as_file(data: Any, folder: Path, name: str | None) -> Iterator[Path]:
    """The table as a file: the path itself, or the frame written to ``folder`` as Parquet (exact values)."""
    if isinstance(data, str | os.PathLike):
        path = Path(data)
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist")
        if path.is_dir():
            raise IsADirectoryError(f"{path} is a directory")
        yield path
        return
    path = folder / f"{name or 'data'}.parquet"
    _write_parquet(data, path)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


class _Bar:
    """The run's progress: tqdm's notebook bar in Jupyter (with ipywidgets), its text bar elsewhere."""

    def __init__(self, stages: int, enabled: bool) -> None:
        with warnings.catch_warnings():  # tqdm warns once when Jupyter lacks ipywidgets, then draws text
            warnings.simplefilter("ignore")
            from tqdm.auto import tqdm
        self.fractions = StageFractions(stages)
        self.bar = tqdm(total=100, disable=not enabled, desc="starting", leave=True,
                        bar_format="{desc:<10} {bar} {percentage:3.0f}% {postfix} [{elapsed}]")

    def __call__(self, stage: str, fraction: float, message: str) -> None:
        with self.fractions.lock:
            overall = self.fractions.add(stage, fraction)
            self.bar.n = round(overall * 100)
            self.bar.set_description_str(stage, refresh=False)
            self.bar.set_postfix_str(message[:50], refresh=False)
            self.bar.refresh()

    def close(self, finished: bool) -> None:
        if finished:
            self.bar.n = 100
            self.bar.set_description_str("done", refresh=False)
            self.bar.set_postfix_str("", refresh=False)
        self.bar.close()


class _Folder:
    """A run's own temporary directory, removed with the object that holds it."""

    def __init__(self, owner: object) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="dsp-"))
        self.out = self.path / "out"
        weakref.finalize(owner, shutil.rmtree, self.path, True)


def _run(owner: object, data: Any, *, until: Until, ingest: IngestOptions, analysis: dict[str, Any] | None,
         name: str | None, progress: bool) -> tuple[_Folder, Outcome]:
    folder = _Folder(owner)
    work = folder.path / "work"
    work.mkdir()
    bar = _Bar(len(services_for(until)), progress)
    finished = False
    try:
        with _as_file(data, work, name) as file:
            outcome = run_sync(file, folder.out, work=work, until=until, ingest=ingest, analysis=analysis,
                               on_progress=bar)
        finished = outcome.failure is None
    except KeyboardInterrupt:  # the kernel's interrupt: run_sync cancelled the job and its stages stopped
        shutil.rmtree(folder.path, ignore_errors=True)
        raise
    finally:
        bar.close(finished)
    if outcome.failure is not None:
        failed: StageFailed = outcome.failure
        shutil.rmtree(folder.path, ignore_errors=True)
        raise DspError(failed.stage, failed.code, failed.reason)
    if until == "profile":  # the typed data as ingested, which the profile's dashboard draws
        from mesh_kit.artifacts import LocalArtifactStore

        profiled = next(e.payload for e in outcome.events if isinstance(e.payload, DatasetProfiled))
        LocalArtifactStore(work / "store").fetch_to(profiled.parquet, folder.path / "typed.parquet")
    shutil.rmtree(work, ignore_errors=True)
    return folder, outcome


def _iframe(page: str, title: str) -> str:
    """A page in a sandboxed frame: its scripts run, in an origin of their own, away from the notebook's."""
    return (f'<iframe sandbox="allow-scripts" title="{html.escape(title, quote=True)}" '
            f'style="width: 100%; height: 760px; border: 1px solid #ddd;" '
            f'srcdoc="{html.escape(page, quote=True)}"></iframe>')


class _Report(abc.ABC):
    _folder: _Folder
    profile: Profile

    def save(self, directory: str | os.PathLike[str]) -> Path:
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        shutil.copytree(self._folder.out, target, dirs_exist_ok=True)
        return target

    @abc.abstractmethod
    def dashboard_html(self) -> str:
        """The report's self-contained page."""

    def to_pdf(self, path: str | os.PathLike[str]) -> Path:
        from dsp_dashboard.adapters.pdf import render_pdf

        target = Path(path)
        target.write_bytes(render_pdf(self.dashboard_html()))
        return target

    def _repr_html_(self) -> str:
        return _iframe(self.dashboard_html(), self.profile.dataset.name or "Dataset analysis")


class ProfileReport(_Report):
    """A table's profile, as ``dsp profile`` writes it: ``profile`` (a ``Profile``) and ``ingest_report``.

    Attributes
    ----------
    profile : shared_contracts.profile.Profile
        Per-column statistics, quality score and alerts.
    ingest_report : shared_contracts.ingest.IngestReport
        How the file was read: format, dialect, types, bad rows, validation.

    Examples
    --------
    >>> import polars as pl
    >>> import dsp
    >>> report = dsp.profile(pl.DataFrame({"x": [1.5, 2.5, 4.0]}), progress=False)
    >>> report.profile.column("x").numeric.max
    4.0
    >>> import tempfile
    >>> sorted(p.name for p in report.save(tempfile.mkdtemp()).iterdir())
    ['ingest-report.json', 'profile.json']
    >>> report.dashboard_html().lstrip().lower().startswith("<!doctype html>")
    True
    """

    def __init__(self, data: Any, *, ingest: IngestOptions, target: str | None, theme: str, name: str | None,
                 progress: bool) -> None:
        self._theme = theme
        self._folder, outcome = _run(self, data, until="profile", ingest=ingest,
                                     analysis={"target": target} if target else None, name=name, progress=progress)
        assert outcome.profile is not None
        self.profile = outcome.profile
        self.ingest_report = IngestReport.model_validate_json((self._folder.out / "ingest-report.json").read_bytes())
        self._html: str | None = None

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``profile.json`` and ``ingest-report.json`` to ``directory`` (as ``dsp profile --out``); return it."""
        return super().save(directory)

    def dashboard_html(self) -> str:
        """The profile's self-contained dashboard (one HTML document, nothing fetched), built once."""
        if self._html is None:
            from dsp_dashboard.domain import build_dashboard
            from dsp_dashboard.service_layer.handlers import dashboard_title

            self._html = build_dashboard(data=self._folder.path / "typed.parquet", profile=self.profile,
                                         title=dashboard_title(self.profile), theme=self._theme)  # type: ignore[arg-type]
        return self._html

    def to_pdf(self, path: str | os.PathLike[str]) -> Path:
        """Print the dashboard to ``path`` as PDF with headless Chromium; return the path."""
        return super().to_pdf(path)

    def __repr__(self) -> str:
        d = self.profile.dataset
        return f"<dsp.ProfileReport {d.rows} rows x {d.columns} columns, quality {self.profile.quality.score:.0f}/100>"


class AnalysisReport(_Report):
    """A table's whole analysis, as ``dsp analyze`` writes it.

    Attributes
    ----------
    profile : shared_contracts.profile.Profile
        The profile of the data as ingested.
    analysis : shared_contracts.analysis.AnalysisResult
        Task, statistics, insights, AutoML leaderboard and explanations.
    etl_report : shared_contracts.etl.EtlReport
        What the cleaning did.

    Examples
    --------
    >>> import polars as pl
    >>> import dsp
    >>> frame = pl.DataFrame({"x": [float(i) for i in range(40)], "g": ["a", "b"] * 20})
    >>> report = dsp.analyze(frame, progress=False)
    >>> report.analysis.task.task_type
    'unsupervised'
    >>> import tempfile
    >>> written = {p.name for p in report.save(tempfile.mkdtemp()).iterdir()}
    >>> {"analysis.json", "cleaned.parquet", "dashboard.html", "profile.json"} <= written
    True
    """

    def __init__(self, data: Any, *, ingest: IngestOptions, analysis: dict[str, Any], name: str | None,
                 progress: bool) -> None:
        self._folder, outcome = _run(self, data, until="dashboard", ingest=ingest, analysis=analysis, name=name,
                                     progress=progress)
        assert outcome.profile is not None and outcome.analysis is not None and outcome.etl_report is not None
        self.profile: Profile = outcome.profile
        self.analysis: AnalysisResult = outcome.analysis
        self.etl_report: EtlReport = outcome.etl_report
        self._model: Model | None = None

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write what ``dsp analyze --out directory`` writes (profile.json, ingest and ETL reports, cleaned and typed
        data, pipeline.json, analysis.json, dashboard.html and .zip, model/, report.pdf with ``pdf=True``)."""
        return super().save(directory)

    def dashboard_html(self) -> str:
        """The analysis' self-contained dashboard, the ``dashboard.html`` the run wrote."""
        return (self._folder.out / "dashboard.html").read_text(encoding="utf-8")

    def to_pdf(self, path: str | os.PathLike[str]) -> Path:
        """Write the dashboard as PDF to ``path`` (the run's report.pdf when ``pdf=True``, else printed now)."""
        printed = self._folder.out / "report.pdf"
        if printed.is_file():
            target = Path(path)
            shutil.copyfile(printed, target)
            return target
        return super().to_pdf(path)

    @property
    def model(self) -> Model:
        """The trained model (``dsp.load_model`` of the run's folder); ``ValueError`` when none was trained."""
        if self._model is None:
            if self.analysis.model is None:
                raise ValueError("this analysis trained no model (give a target)")
            self._model = Model(self._folder.out, _owner=self)
        return self._model

    def __repr__(self) -> str:
        d, task = self.profile.dataset, self.analysis.task
        target = f", target {task.target!r}" if task.target else ""
        return f"<dsp.AnalysisReport {d.rows} rows x {d.columns} columns, {task.task_type}{target}>"


def _listed(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def profile(data: Any, *, target: str | None = None, schema: Any = None, rules: Any = None,
            bad_rows: str = "reject", sheet: str | int | None = None, theme: str = "light", name: str | None = None,
            progress: bool = True) -> ProfileReport:
    """Read and profile a table, as ``dsp profile`` does.

    Parameters
    ----------
    data : path, polars.DataFrame, polars.LazyFrame or pandas.DataFrame
        The table; a path in any format ingest reads (CSV, Parquet, Arrow, Excel, JSON...), recognised by content.
    target : str, optional
        Target column (enables the leakage check), as ``--target``.
    schema : mapping or path, optional
        Column -> semantic type overrides, or a JSON/YAML file of them, as ``--schema``.
    rules : list, mapping or path, optional
        Validation rules (or ``{"rules": [...], "block_on_validation_error": True}``), as ``--rules``.
    bad_rows : {"reject", "skip"}
        Ragged rows refuse the file, or are dropped and reported, as ``--bad-rows``.
    sheet : str or int, optional
        Workbook sheet: its name or 0-based position, as ``--sheet``.
    theme : {"light", "dark"}
        The dashboard's first theme.
    name : str, optional
        The dataset's name for a frame (a path's is its file name).
    progress : bool
        Show a progress bar (tqdm's notebook bar in Jupyter).

    Returns
    -------
    ProfileReport

    Raises
    ------
    DspError
        When ingest or the profile refuses the data (the command's exit 2).
    KeyboardInterrupt
        When interrupted (the kernel's interrupt, Ctrl-C): the job is cancelled, its stages stop within
        seconds and nothing is kept; a second interrupt raises at once.

    Examples
    --------
    >>> import pandas as pd
    >>> import dsp
    >>> report = dsp.profile(pd.DataFrame({"price": [9.99, 12.5, None], "city": ["Oslo", "Rome", "Oslo"]}),
    ...                      progress=False)
    >>> report.profile.dataset.rows, report.profile.column("price").missing
    (3, 1)
    """
    return ProfileReport(data, ingest=ingest_options(schema, rules, bad_rows, sheet), target=target, theme=theme,
                         name=name, progress=progress)


def analyze(data: Any, target: str | None = None, task: str | None = None, time_budget: float | None = None, *,
            exclude: str | Sequence[str] | None = None, id: str | Sequence[str] | None = None,
            keep_column: str | Sequence[str] | None = None, keep_leaky: bool = False, config: Any = None,
            schema: Any = None, rules: Any = None, bad_rows: str = "reject", sheet: str | int | None = None,
            theme: str = "light", pdf: bool = False, name: str | None = None, progress: bool = True) -> AnalysisReport:
    """Profile, clean, analyse and chart a table, as ``dsp analyze`` does.

    Parameters
    ----------
    data : path, polars.DataFrame, polars.LazyFrame or pandas.DataFrame
        The table; a path in any format ingest reads, recognised by content.
    target : str, optional
        Column to predict, as ``--target``; None: an unsupervised analysis.
    task : str, optional
        ``auto`` (None), ``binary``, ``multiclass``, ``regression``, ``time_series`` or ``unsupervised``, as
        ``--task``; any but auto is final.
    time_budget : float, optional
        Seconds for the whole analysis (AutoML gets the rest), as ``--time-budget``; None: the command's 60.
    exclude, id, keep_column : str or list of str, optional
        Columns left out, columns that identify rows (never features), identifier-like columns kept as features,
        as ``--exclude``, ``--id`` and ``--keep-column``.
    keep_leaky : bool
        Keep features flagged as leakage, as ``--keep-leaky``.
    config : mapping or path, optional
        ETL config, as ``--config``.
    schema, rules, bad_rows, sheet
        How to read the table, as in ``profile``.
    theme : {"light", "dark"}
        The dashboard's first theme, as ``--theme``.
    pdf : bool
        Also print the dashboard to PDF during the run (``report.pdf``), as ``--pdf``.
    name : str, optional
        The dataset's name for a frame.
    progress : bool
        Show a progress bar (tqdm's notebook bar in Jupyter).

    Returns
    -------
    AnalysisReport

    Raises
    ------
    DspError
        When a stage refuses the data. ``ValueError`` for an option the command would refuse.
    KeyboardInterrupt
        When interrupted (the kernel's interrupt, Ctrl-C): the job is cancelled, its stages stop within
        seconds and nothing is kept; a second interrupt raises at once.

    Examples
    --------
    >>> import polars as pl
    >>> import dsp
    >>> frame = pl.DataFrame({"size": [float(i) for i in range(60)], "kind": ["s", "m", "l"] * 20})
    >>> report = dsp.analyze(frame, target="kind", time_budget=5, progress=False)
    >>> report.analysis.task.task_type, report.analysis.task.target
    ('multiclass', 'kind')
    >>> report.model.predict(frame.head(2)).height
    2
    """
    options = analysis_options(target=target, time_budget=60.0 if time_budget is None else time_budget, pdf=pdf,
                               config=config, keep_leaky=keep_leaky, keep_column=_listed(keep_column), theme=theme,
                               task=task, exclude=_listed(exclude), id_column=_listed(id))
    return AnalysisReport(data, ingest=ingest_options(schema, rules, bad_rows, sheet), analysis=options, name=name,
                          progress=progress)


class ComparisonReport:
    """Dataset B compared with dataset A, as ``dsp compare`` writes it.

    Attributes
    ----------
    comparison : shared_contracts.compare.Comparison
        Schema diff, per-column shifts, row overlap, the target's part when a target was given, and ranked findings.
    profile_a, profile_b : shared_contracts.profile.Profile
        The two tables' profiles.

    Examples
    --------
    >>> import polars as pl
    >>> import dsp
    >>> a = pl.DataFrame({"x": [float(i % 50) for i in range(400)], "g": ["u", "v"] * 200})
    >>> b = a.with_columns(pl.col("x") + 30)
    >>> report = dsp.compare(a, b, progress=False)
    >>> report.findings[0].column
    'x'
    >>> import tempfile
    >>> sorted(p.name for p in report.save(tempfile.mkdtemp()).iterdir())
    ['comparison.html', 'comparison.json', 'profile-a.json', 'profile-b.json']
    >>> report.dashboard_html().lstrip().lower().startswith("<!doctype html>")
    True
    """

    def __init__(self, a: Any, b: Any, *, ingest: IngestOptions, target: str | None, theme: str,
                 names: tuple[str | None, str | None], progress: bool) -> None:
        self._folder = folder = _Folder(self)
        work = folder.path / "work"
        work.mkdir()
        folder.out.mkdir()
        bar = _Bar(COMPARE_STEPS, progress)
        finished = False
        try:
            # a frame is named by ``names``, else A or B; a path by its file name unless ``names`` says otherwise
            shown = tuple(name or (None if isinstance(data, str | os.PathLike) else side)
                          for name, data, side in zip(names, (a, b), ("A", "B"), strict=True))
            with _as_file(a, work, "a") as file_a, _as_file(b, work, "b") as file_b:
                outcome = compare_sync(file_a, file_b, folder.out, work=work, ingest=ingest, target=target,
                                       theme=theme, names=(shown[0], shown[1]),  # type: ignore[arg-type]
                                       on_progress=bar)
            finished = outcome.failure is None
        finally:
            bar.close(finished)
            shutil.rmtree(work, ignore_errors=True)
        if outcome.failure is not None:
            failed: StageFailed = outcome.failure
            shutil.rmtree(folder.path, ignore_errors=True)
            raise DspError(failed.stage, failed.code, failed.reason)
        assert outcome.comparison is not None and outcome.profile_a is not None and outcome.profile_b is not None
        self.comparison: Comparison = outcome.comparison
        self.profile_a: Profile = outcome.profile_a
        self.profile_b: Profile = outcome.profile_b

    @property
    def findings(self) -> list[CompareFinding]:
        """The ranked findings, most important first (``comparison.findings``)."""
        return self.comparison.findings

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write what ``dsp compare --out directory`` writes (comparison.json, comparison.html, profile-a.json,
        profile-b.json); return the directory."""
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        shutil.copytree(self._folder.out, target, dirs_exist_ok=True)
        return target

    def dashboard_html(self) -> str:
        """The comparison's self-contained dashboard, the ``comparison.html`` the run wrote."""
        return (self._folder.out / "comparison.html").read_text(encoding="utf-8")

    def _repr_html_(self) -> str:
        return _iframe(self.dashboard_html(), f"{self.comparison.name_b} compared with {self.comparison.name_a}")

    def __repr__(self) -> str:
        c = self.comparison
        shown = [f for f in c.findings if f.severity != "none"]
        return f"<dsp.ComparisonReport {c.name_b} vs {c.name_a}: {len(shown)} findings>"


def compare(a: Any, b: Any, target: str | None = None, *, schema: Any = None, rules: Any = None,
            bad_rows: str = "reject", sheet: str | int | None = None, theme: str = "light",
            names: tuple[str | None, str | None] = (None, None), progress: bool = True) -> ComparisonReport:
    """Compare table B with table A (the reference), as ``dsp compare`` does.

    What changed: columns added, removed or retyped; each common column's shift (PSI and Kolmogorov-Smirnov for
    numbers, chi-square, Cramér's V and new or missing levels for categories) and missingness; the row count and
    the rows of B also in A. Each change beyond the thresholds (``comparison.thresholds``) is a finding in plain
    language, ranked by its effect size.

    Parameters
    ----------
    a, b : path, polars.DataFrame, polars.LazyFrame or pandas.DataFrame
        The reference table and the table compared with it, as ``data`` of ``analyze``; both are read the same way.
    target : str, optional
        Also check whether the relation of the features to this column moved, as ``--target``: a model trained on
        A, scored on A's holdout and on B.
    schema, rules, bad_rows, sheet
        How to read both tables, as in ``profile``.
    theme : {"light", "dark"}
        The comparison dashboard's colours, as ``--theme``.
    names : (str, str), optional
        The tables' names in the findings; by default a path's file name, and ``A`` and ``B`` for frames.
    progress : bool
        Show a progress bar (tqdm's notebook bar in Jupyter).

    Returns
    -------
    ComparisonReport

    Raises
    ------
    DspError
        When a stage refuses the data: either table unreadable, no column in common (``no_common_columns``), or a
        target missing from one of them (``target_not_found``).

    Examples
    --------
    >>> import pandas as pd
    >>> import dsp
    >>> cities = ["Oslo", "Rome", "Lima"] * 100
    >>> may = pd.DataFrame({"price": [2.0 * i for i in range(300)], "city": cities})
    >>> june = pd.DataFrame({"price": [2.0 * i + 1 for i in range(300)], "city": cities})
    >>> report = dsp.compare(may, june, names=("may", "june"), progress=False)
    >>> [f.title for f in report.findings if f.severity != "none"]
    []
    >>> shifted = dsp.compare(may, june.assign(price=june.price * 3), progress=False)
    >>> shifted.findings[0].column, shifted.findings[0].severity
    ('price', 'large')
    """
    if theme not in ("light", "dark"):
        raise ValueError("theme must be light or dark")
    return ComparisonReport(a, b, ingest=ingest_options(schema, rules, bad_rows, sheet), target=target, theme=theme,
                            names=names, progress=progress)


def _rows(data: Any) -> pl.DataFrame:
    """The rows to predict as a polars frame: a frame as it is, a file (CSV, Parquet, Excel, JSON...) as
    ``dsp predict`` reads it."""
    if isinstance(data, pl.LazyFrame):
        return data.collect()
    if isinstance(data, pl.DataFrame):
        return data
    if _is_pandas(data):
        return pl.from_pandas(data)
    if isinstance(data, str | os.PathLike):  # as `dsp predict` reads a file
        from dsp_cli.models import read_rows
        from dsp_ingest.domain import IngestError
        from dsp_ml.service_layer.predict import _rows_from_request

        try:
            body, _ = read_rows(Path(data))
        except IngestError as exc:
            raise DspError("ingest", exc.code, exc.message) from exc
        return _rows_from_request("text/csv", body)[0]
    raise TypeError(f"data must be a path, a polars DataFrame or LazyFrame, or a pandas DataFrame, not "
                    f"{type(data).__name__}")


class Model:
    """A model ``dsp analyze`` trained, with the fitted ETL pipeline that prepares its rows.

    Use ``dsp.load_model(folder)``. ``predict`` and ``explain`` answer as the platform's REST predict does: the
    rows are checked against the training columns, cleaned by the same fitted pipeline, then predicted.

    Parameters
    ----------
    folder : path
        The directory ``dsp analyze --out`` wrote, or the ``model/`` in it.

    Attributes
    ----------
    target : str
        The column the model predicts.
    task_type : str
        ``binary``, ``multiclass`` or ``regression``.
    features : list of str
        The model's input columns, after the pipeline.

    Examples
    --------
    >>> import polars as pl
    >>> import dsp
    >>> frame = pl.DataFrame({"size": [float(i) for i in range(60)], "kind": ["s", "m", "l"] * 20})
    >>> model = dsp.analyze(frame, target="kind", time_budget=5, progress=False).model
    >>> model.target, model.task_type
    ('kind', 'multiclass')
    >>> model.predict(frame.head(3)).columns[0]
    'prediction'
    >>> shap = model.explain(frame.head(2))
    >>> shap.height, shap.columns[:2]
    (2, ['prediction', 'base_value'])
    >>> len(model.predictions(frame.head(4)).rows)
    4
    """

    def __init__(self, folder: str | os.PathLike[str], *, _owner: object | None = None) -> None:
        from dsp_ml.entrypoints.local import load_model_folder, open_model_folder
        from dsp_ml.service_layer.predict import PredictionRefused

        # the predictor reads its files as it needs them: the run's folder lives as long as its model
        self._owner = _owner
        try:  # as `dsp predict` opens a model folder: the manifest checked before anything is loaded
            self._loaded = load_model_folder(open_model_folder(Path(folder)))
        except PredictionRefused as refused:
            raise DspError("ml", refused.code, refused.message) from refused

    @property
    def target(self) -> str:
        """The column the model predicts."""
        return self._loaded[0].metadata.target

    @property
    def task_type(self) -> str:
        """``binary``, ``multiclass`` or ``regression``."""
        return str(self._loaded[0].metadata.task_type)

    @property
    def features(self) -> list[str]:
        """The model's input columns after the ETL pipeline."""
        return list(self._loaded[0].features)

    def predictions(self, data: Any, *, explain: bool = False) -> Predictions:
        """The typed ``Predictions`` document for the rows (REST predict's answer, without drift)."""
        from dsp_ml.service_layer.predict import PredictionRefused, predict_frame

        try:
            return predict_frame(self._loaded, _rows(data), explain=explain)
        except PredictionRefused as refused:
            raise DspError("ml", refused.code, refused.message) from refused

    def _frame(self, table: dict[str, list[Any]], like: Any) -> Any:
        frame = pl.DataFrame(table, strict=False)
        return frame.to_pandas() if _is_pandas(like) else frame

    def predict(self, data: Any) -> pl.DataFrame | pd.DataFrame:
        """Predict the target for each row, in the rows' order.

        Parameters
        ----------
        data : path, polars.DataFrame, polars.LazyFrame or pandas.DataFrame
            Rows with the columns the model was trained from (the target may be absent; others are ignored).

        Returns
        -------
        polars.DataFrame or pandas.DataFrame
            ``prediction``, and for a classifier one ``probability_<class>`` column per class (the columns of
            ``dsp predict``); pandas for pandas rows, polars otherwise.
        """
        from dsp_cli.models import prediction_frame

        table = prediction_frame(self.predictions(data).model_dump(mode="json"), None, explain=False)
        return table.to_pandas() if _is_pandas(data) else table

    def explain(self, data: Any) -> pl.DataFrame | pd.DataFrame:
        """SHAP contributions per row: what each feature added to the model's raw output for that row.

        Returns
        -------
        polars.DataFrame or pandas.DataFrame
            ``prediction``, ``base_value``, then one column per feature; ``base_value`` plus a row's contributions
            is the model's raw output (log-odds or class scores for a classifier, target units for a regression).
        """
        answer = self.predictions(data, explain=True)
        names: list[str] = []
        for row in answer.rows:
            names += [n for n in (row.contributions or {}) if n not in names]
        table: dict[str, list[Any]] = {"prediction": [r.prediction for r in answer.rows],
                                       "base_value": [r.base_value for r in answer.rows]}
        for n in names:
            table[n] = [(r.contributions or {}).get(n) for r in answer.rows]
        return self._frame(table, data)

    def __repr__(self) -> str:
        return f"<dsp.Model {self.task_type} of {self.target!r} from {len(self.features)} features>"


def load_model(folder: str | os.PathLike[str]) -> Model:
    """The model in a folder ``dsp analyze`` (or ``AnalysisReport.save``) wrote: the folder, or its ``model/``.

    The model's files are checked against their manifest (and the hash recorded in ``analysis.json``) before
    anything is loaded.

    Parameters
    ----------
    folder : path
        The directory ``dsp analyze --out`` (or ``AnalysisReport.save``) wrote, or the ``model/`` in it.

    Returns
    -------
    Model

    Raises
    ------
    DspError
        ``model_not_found`` for a folder without a model, ``model_integrity`` for a damaged one.

    Examples
    --------
    >>> import polars as pl
    >>> import dsp
    >>> frame = pl.DataFrame({"size": [float(i) for i in range(60)], "kind": ["s", "m", "l"] * 20})
    >>> import tempfile
    >>> folder = dsp.analyze(frame, target="kind", time_budget=5, progress=False).save(tempfile.mkdtemp())
    >>> dsp.load_model(folder).predict(frame.head(3)).height
    3
    """
    return Model(folder)
