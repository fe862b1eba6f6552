"""The messy sample shipped in samples/: every reader feature at once, plus its rule file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from dsp_ingest.domain import ingest_csv, load_rules
from shared_contracts.events import IngestOptions

SAMPLES = Path(__file__).resolve().parents[3] / "samples"
pytestmark = pytest.mark.skipif(not (SAMPLES / "ventes-messy.csv").exists(), reason="samples/ not in this checkout")


def test_messy_european_export(tmp_path):
    rules = load_rules((SAMPLES / "ventes-messy.rules.yaml").read_text())
    options = IngestOptions(validation_rules=[r.model_dump() for r in rules])
    report = ingest_csv(SAMPLES / "ventes-messy.csv", tmp_path / "v.parquet", options=options)
    df = pl.read_parquet(tmp_path / "v.parquet")

    assert (report.encoding, report.delimiter, report.line_terminator) == ("cp1252", ";", "\r\n")
    assert (report.decimal_separator, report.thousands_separator) == (",", ".")
    assert report.row_count == 400 == df.height
    assert df.columns[:4] == ["id", "client", "ville", "montant"]
    assert report.column("montant").unit == "€" and df.schema["montant"] == pl.Float64
    assert report.column("remise").semantic_type == "percent"
    assert report.column("payé").semantic_type == "boolean"
    commande = report.column("date_commande")
    assert commande.date is not None and commande.date.day_first and not commande.date.ambiguous
    assert df.schema["date_commande"] == pl.Date
    assert df["date_commande"].min() >= dt.date(2023, 1, 1)
    assert "Zürich" in df["ville"].to_list() and "  Zürich " not in df["ville"].to_list()
    assert any(n == "colis abîmé\nremboursé" for n in df["note"].drop_nulls().to_list())
    assert set(report.na_tokens_found) >= {"", "NA", "N/A", "-", "?"}
    assert report.column("montant").null_count == df["montant"].null_count() > 0

    results = {r.name: r for r in report.validation}
    assert not results["email is not null"].passed
    assert results["email is not null"].failing_count == df["email"].null_count()
    assert results["delivered after ordered"].passed
    assert results["id unique"].passed
    besancon = results["ville in ['Paris', 'Lyon', 'Zürich', 'Genève', 'München', 'Köln', 'São Paulo']"]
    assert besancon.failing_count == (df["ville"] == "Besançon").sum()
    assert set(besancon.sample_values) == {"Besançon"}
    # Line numbers point into the file itself: title lines, header and quoted newlines included.
    lines = (SAMPLES / "ventes-messy.csv").read_bytes().decode("cp1252").split("\n")
    for row, line_number in zip(besancon.sample_rows, besancon.sample_lines, strict=True):
        assert lines[line_number - 1].startswith(f"{df['id'][row]};")
