"""How the file was read, as notes in the profile: every value the reader did not keep as written is counted.

Examples
--------
>>> from shared_contracts.ingest import ColumnReport, IngestReport
>>> report = IngestReport(encoding="utf-8", delimiter=",", has_header=True, row_count=3, columns=[
...     ColumnReport(name="Ethanol", physical_type="String", semantic_type="categorical",
...                  kept_tokens={"none": 2})])
>>> [(n.kind, n.column, n.count) for n in reading_notes(report)]
[('kept_tokens', 'Ethanol', 2)]
"""

from __future__ import annotations

from shared_contracts.ingest import IngestReport
from shared_contracts.profile import Profile, ReadingNote

__all__ = ["reading_notes", "with_file_labels"]


def _tokens(tokens: dict[str, int]) -> str:
    return ", ".join(f"{token!r} x{count}" if token else f"empty x{count}" for token, count in tokens.items())


def reading_notes(report: IngestReport) -> list[ReadingNote]:
    """The reader's decisions about values, per column, from its report (empty cells alone are not listed)."""
    notes: list[ReadingNote] = []
    if report.header_reason:
        notes.append(ReadingNote(kind="header", detail=report.header_reason))
    for col in report.columns:
        taken = {t: n for t, n in col.missing_tokens.items() if t}
        if taken:
            notes.append(ReadingNote(kind="missing_tokens", column=col.name, count=sum(taken.values()),
                                     detail=f"read as missing: {_tokens(taken)}"))
        if col.kept_tokens:
            notes.append(ReadingNote(kind="kept_tokens", column=col.name, count=sum(col.kept_tokens.values()),
                                     detail=f"kept as values (too frequent here to mean missing): "
                                            f"{_tokens(col.kept_tokens)}"))
        if col.widened_from:
            notes.append(ReadingNote(kind="widened", column=col.name,
                                     detail=f"typed {col.semantic_type}: values further down did not fit "
                                            f"{col.widened_from}, so the type was widened and every value kept"))
        if col.unparseable_count:
            lines = ", ".join(str(c.line_number) for c in col.unparseable_sample[:5])
            notes.append(ReadingNote(kind="values_nulled", column=col.name, count=col.unparseable_count,
                                     detail=f"values that did not fit {col.semantic_type} stored as null"
                                            + (f" (lines {lines}, ...)" if lines else "")))
        if col.trimmed_values:
            notes.append(ReadingNote(kind="trimmed", column=col.name, count=col.trimmed_values,
                                     detail="blanks around text values trimmed"))
        if col.semantic_type == "identifier":
            notes.append(ReadingNote(kind="identifier", column=col.name,
                                     detail=col.identifier_reason or "unique values identifying each row; "
                                                                     "kept out of models unless asked"))
        if col.out_of_range_years:
            notes.append(ReadingNote(kind="out_of_range_years", column=col.name, count=col.out_of_range_years,
                                     detail="dates with a year outside 1000-9999 (kept; check the format)"))
    return notes


def with_file_labels(profile: Profile, report: IngestReport) -> Profile:
    """The profile with each boolean column's labels as the file writes them (``["No", "Yes"]``), from ingest."""
    labels = {c.name: c.boolean_labels for c in report.columns if c.boolean_labels}
    if not labels:
        return profile
    columns = [c.model_copy(update={"boolean_labels": labels[c.name]}) if c.name in labels else c
               for c in profile.columns]
    return profile.model_copy(update={"columns": columns})
