"""Semantic type inference on a sample, and the vectorised conversions that apply it to the whole file.

Inference looks at a sample of trimmed string values (missing-value tokens already removed)
and decides, per column, a semantic type, the Polars dtype it is stored as, and a Polars
expression turning the raw strings into that dtype. The expressions run on the full data
in a streaming plan, so no Python code touches individual rows.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import polars as pl
from shared_contracts.ingest import ALWAYS_NA_TOKENS, EVIDENCE_NA_TOKENS, SEMANTIC_TYPES, DateDecision

from .errors import IngestError

__all__ = [
    "ALWAYS_NA_TOKENS",
    "EVIDENCE_NA_TOKENS",
    "NA_TOKENS",
    "ColumnPlan",
    "NaTokens",
    "NumberFormat",
    "EMPTY_STATS",
    "STAT_GROUPS",
    "ColumnStats",
    "IntegerStats",
    "MissingStats",
    "TextStats",
    "clean_strings",
    "column_stats",
    "infer_column",
    "infer_number_format",
    "is_na_token",
    "number_convert",
    "override_column",
    "text_convert",
]

NA_TOKENS: dict[str, tuple[str, ...]] = {**ALWAYS_NA_TOKENS, **EVIDENCE_NA_TOKENS}
_NA_SPELLINGS: list[str] = [s for spellings in NA_TOKENS.values() for s in spellings]
# A token is read as missing in a text column when it holds less than this share of the present
# values: placeholders made of punctuation are looser than words, which are often real levels.
RARE_TOKEN_SHARE = {"punctuation": 0.10, "word": 0.02}


@dataclass(frozen=True)
class NaTokens:
    """The missing-value tokens of one ingest: those always missing, and those needing evidence."""

    always: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(ALWAYS_NA_TOKENS))
    evidence: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(EVIDENCE_NA_TOKENS))

    @classmethod
    def from_options(cls, declared: list[str] | None = None, evidence: list[str] | None = None) -> NaTokens:
        """Defaults, plus the tokens the user declared missing, with the evidence list replaced if given."""
        ev: dict[str, tuple[str, ...]] = dict(EVIDENCE_NA_TOKENS) if evidence is None else {t.strip(): (t.strip(),) for t in evidence}
        always = dict(ALWAYS_NA_TOKENS)
        for token in declared or []:
            token = token.strip()
            ev = {k: tuple(s for s in v if s != token) for k, v in ev.items()}
            ev = {k: v for k, v in ev.items() if v}
            if not any(token in v for v in always.values()):
                always[token] = (token,)
        return cls(always, ev)

    @property
    def all(self) -> dict[str, tuple[str, ...]]:
        return {**self.always, **self.evidence}

    def spellings(self, tokens: Iterable[str]) -> tuple[str, ...]:
        table = self.all
        return tuple(s for t in tokens for s in table[t])

    def always_spellings(self) -> tuple[str, ...]:
        return self.spellings(self.always)

    def numeric_spellings(self) -> tuple[str, ...]:
        """What counts as missing in a numeric, date or boolean column: every token."""
        return self.spellings(self.all)

    def rare_share(self, token: str) -> float:
        word = any(ch.isalnum() for ch in token)
        return RARE_TOKEN_SHARE["word" if word else "punctuation"]


ACCEPT_SHARE = 0.95
CURRENCY_SYMBOLS = ("$", "€", "£", "¥", "₹", "₩", "₽", "₺", "₪", "₫", "฿", "₴", "₦", "R$", "CHF", "kr")
CURRENCY_CODES = ("USD", "EUR", "GBP", "JPY", "CNY", "INR", "CAD", "AUD", "CHF", "SEK", "NOK", "DKK", "BRL", "MXN")
_UNIT_ALT = "|".join(re.escape(u) for u in sorted({*CURRENCY_SYMBOLS, *CURRENCY_CODES}, key=len, reverse=True))
# A boolean column shows both halves of one of these pairs (several pairs may mix, e.g. yes/no/y/n).
_BOOL_PAIRS = (("true", "false"), ("t", "f"), ("yes", "no"), ("y", "n"), ("1", "0"), ("on", "off"))
_PARTNER = {**{t: f for t, f in _BOOL_PAIRS}, **{f: t for t, f in _BOOL_PAIRS}}
_TRUE = {t for t, _ in _BOOL_PAIRS}
_FALSE = {f for _, f in _BOOL_PAIRS}
_BOOL_MAP = {**dict.fromkeys(_TRUE, True), **dict.fromkeys(_FALSE, False)}
_EMAIL = r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$"
_URL = r"^(?:(?:https?|ftp)://|www\.)[^\s/$.?#][^\s]*$"
_UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_ID_NAME = re.compile(r"(^|[_\s.-])(id|uuid|guid|key|code|ref|sku|number|no)$|^id[_\s.-]|Id$|ID$", re.IGNORECASE)
_LAT_NAME = re.compile(r"^(lat|latitude)$|(^|[_\s.-])lat(itude)?($|[_\s.-])", re.IGNORECASE)
_LON_NAME = re.compile(r"^(lon|lng|long|longitude)$|(^|[_\s.-])(lon|lng|long|longitude)($|[_\s.-])", re.IGNORECASE)

_DATE_FORMATS_UNAMBIGUOUS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%d %b %Y", "%d-%b-%Y", "%d %B %Y", "%b %d, %Y", "%B %d, %Y", "%b %d %Y")
# (day-first, month-first) pairs whose order only the data can settle.
_DATE_FORMAT_PAIRS = (
    ("%d/%m/%Y", "%m/%d/%Y"),
    ("%d-%m-%Y", "%m-%d-%Y"),
    ("%d.%m.%Y", "%m.%d.%Y"),
    ("%d/%m/%y", "%m/%d/%y"),
    ("%d-%m-%y", "%m-%d-%y"),
    ("%d.%m.%y", "%m.%d.%y"),
)
_TIME_SUFFIXES = (
    " %H:%M:%S",
    " %H:%M",
    " %H:%M:%S%.f",
    "T%H:%M:%S",
    "T%H:%M",
    "T%H:%M:%S%.f",
    "T%H:%M:%S%#z",
    "T%H:%M:%S%.f%#z",
    " %H:%M:%S%#z",
    " %H:%M:%S%.f%#z",
    " %I:%M %p",
    " %I:%M:%S %p",
    "T%H:%M:%SZ",
    "T%H:%M:%S%.fZ",
)
_DATEISH = r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}|^\d{1,2}[ -][A-Za-z]{3,9}[ -]\d{2,4}|^[A-Za-z]{3,9} \d{1,2},? \d{4}"


def is_na_token(expr: pl.Expr, spellings: Iterable[str] | None = None) -> pl.Expr:
    """True where a trimmed string is one of ``spellings`` (by default every missing-value token)."""
    listed = list(_NA_SPELLINGS if spellings is None else spellings)
    if not listed:
        return pl.lit(False)
    return (expr.str.len_bytes() <= max(len(s.encode()) for s in listed)) & expr.is_in(listed)


def clean_strings(expr: pl.Expr, spellings: Iterable[str] | None = None) -> pl.Expr:
    """Trim surrounding whitespace and turn missing-value tokens (``spellings``) into null."""
    stripped = expr.str.strip_chars()
    return pl.when(is_na_token(stripped, spellings)).then(None).otherwise(stripped)


@dataclass(frozen=True)
class NumberFormat:
    """Decimal and digit-group separators of the numbers in a file."""

    decimal: str = "."
    thousands: str | None = None

    def _number_pattern(self, *, integer: bool) -> str:
        d = re.escape(self.decimal)
        body = r"\d+"
        if self.thousands:
            t = "[ \u00a0\u202f]" if self.thousands == " " else re.escape(self.thousands)
            body = rf"(?:\d{{1,3}}(?:{t}\d{{3}})+|\d+)"
        if integer:
            return rf"[+-]?{body}"
        exponent = r"(?:[eE][+-]?\d+)?" if self.decimal == "." else ""
        return rf"[+-]?(?:{body}(?:{d}\d*)?|{d}\d+){exponent}"

    def integer_regex(self) -> str:
        return rf"^{self._number_pattern(integer=True)}$"

    def float_regex(self) -> str:
        return rf"^{self._number_pattern(integer=False)}$"

    def currency_regex(self) -> str:
        num = self._number_pattern(integer=False)
        return rf"^\(?[+-]?\s*(?:{_UNIT_ALT})\s*{num}\)?$|^\(?{num}\s*(?:{_UNIT_ALT})\)?$"

    def percent_regex(self) -> str:
        return rf"^{self._number_pattern(integer=False)}\s*%$"

    def to_number(self, expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
        """Convert clean numeric text (no unit) to ``dtype``; unparseable text gives null."""
        if self.thousands == " ":
            expr = expr.str.replace_all("[ \u00a0\u202f]", "")
        elif self.thousands:
            expr = expr.str.replace_all(self.thousands, "", literal=True)
        if self.decimal != ".":
            expr = expr.str.replace_all(self.decimal, ".", literal=True)
        return expr.cast(dtype, strict=False)

    def unit_number(self, expr: pl.Expr) -> pl.Expr:
        """Convert currency or percent text to Float64, keeping the sign of accounting negatives."""
        negative = expr.str.starts_with("(") & expr.str.ends_with(")")
        core = expr.str.replace_all(rf"(?:{_UNIT_ALT})|%|[()\s]", "")
        value = self.to_number(core, pl.Float64())
        return pl.when(negative).then(-value).otherwise(value)


def infer_number_format(values: pl.Series, *, european_hint: bool = False) -> NumberFormat:
    """Decide the decimal and thousands separators from every numeric-looking sampled value.

    ``european_hint`` (the file uses ``;`` as delimiter) settles values such as ``1,375`` that
    read as well with a decimal comma as with a thousands comma.
    """
    core = values.str.replace_all(rf"(?:{_UNIT_ALT})|%|[()]", "").str.strip_chars()
    core = core.filter(core.str.contains(r"^[+-]?[\d.,' \u00a0\u202f]+$") & core.str.contains(r"\d"))
    if core.is_empty():
        return NumberFormat()
    comma_decimal = _count(core.str.contains(r"^[+-]?\d+,(\d{1,2}|\d{4,})$"))
    comma_decimal += _count(core.str.contains(r"^[+-]?\d{1,3}(\.\d{3})+,\d+$"))
    dot_decimal = _count(core.str.contains(r"^[+-]?\d+\.(\d{1,2}|\d{4,})$"))
    dot_decimal += _count(core.str.contains(r"^[+-]?\d{1,3}(,\d{3})+\.\d+$"))
    decimal = "," if comma_decimal > dot_decimal else "."
    groups = {
        ",": core.str.contains(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$").sum() if decimal == "." else 0,
        ".": core.str.contains(r"^[+-]?\d{1,3}(\.\d{3})+(,\d+)?$").sum() if decimal == "," else 0,
        " ": core.str.contains(r"^[+-]?\d{1,3}([ \u00a0\u202f]\d{3})+([.,]\d+)?$").sum(),
        "'": core.str.contains(r"^[+-]?\d{1,3}('\d{3})+([.,]\d+)?$").sum(),
    }
    sep, hits = max(groups.items(), key=lambda kv: kv[1])
    if decimal == "." and sep == "," and dot_decimal == 0 and comma_decimal == 0 and european_hint:
        multi = _count(core.str.contains(r"^[+-]?\d{1,3}(,\d{3}){2,}$"))
        if not multi:
            return NumberFormat(",", None)
    if decimal == "." and sep == "," and dot_decimal == 0 and comma_decimal == 0:
        # "1,234" alone: a thousands group only if some value has more than one group or a dot fraction.
        multi = _count(core.str.contains(r"^[+-]?\d{1,3}(,\d{3}){2,}$"))
        if not multi and groups[","] and core.str.contains(r"^[+-]?\d+,\d{3}$").sum() == groups[","]:
            return NumberFormat(".", ",")
    return NumberFormat(decimal, sep if hits else None)


@dataclass
class ColumnPlan:
    """How one column is typed, and how its strings become that type."""

    name: str
    source_name: str
    semantic_type: str
    dtype: pl.DataType
    confidence: float
    convert: Callable[[pl.Expr], pl.Expr] = field(repr=False)
    unit: str | None = None
    date: DateDecision | None = None
    overridden: bool = False
    strip: bool = True
    """Trim surrounding whitespace before converting (off when the sample has none, to save time)."""
    native: bool = False
    """The CSV parser reads the column straight into ``dtype`` (plain numbers); no string conversion."""
    na_spellings: tuple[str, ...] = tuple(_NA_SPELLINGS)
    """The spellings read as missing in this column."""
    kept_tokens: tuple[str, ...] = ()
    """Evidence-based missing-value tokens seen in the column but kept as values (a category level)."""
    widened_from: str | None = None
    """The semantic type the sample suggested, when the full data widened it."""
    identifier_reason: str | None = None
    """Why the column was taken as an identifier, when a positional or naming rule decided it."""
    fallback_semantic: str | None = None
    """The inferred semantic type, should the full data show the identifier's values are not unique."""
    labels: tuple[str, str] | None = None
    """How the file writes False and True, for a boolean column (its most frequent spelling of each)."""

    def output(self, raw: pl.Expr) -> pl.Expr:
        """The expression turning the raw values of the column into its output values."""
        if self.native:
            return (raw.fill_nan(None) if self.dtype == pl.Float64 else raw).alias(self.name)
        base = raw.str.strip_chars() if self.strip else raw
        if self.dtype == pl.String:
            return pl.when(is_na_token(base, self.na_spellings)).then(None).otherwise(base).alias(self.name)
        if self.dtype == pl.Float64:
            # Float parsing accepts "NaN"; a missing-value token must become null, not NaN.
            return pl.when(is_na_token(base, self.na_spellings)).then(None).otherwise(self.convert(base)).alias(self.name)
        return self.convert(base).alias(self.name)

    def unparseable(self, raw: pl.Expr) -> pl.Expr:
        """True where a present (non-missing) value did not convert."""
        if self.native:
            return pl.lit(False)
        base = raw.str.strip_chars() if self.strip else raw
        if self.dtype == pl.String:
            return pl.lit(False)
        return self.convert(base).is_null() & ~is_na_token(base, self.na_spellings)


def _share(mask: pl.Series) -> float:
    mean = mask.mean() if len(mask) else None
    return float(mean) if isinstance(mean, int | float) else 0.0


def _count(mask: pl.Series) -> int:
    total = mask.sum()
    return int(total) if isinstance(total, int | float) else 0


def text_convert(e: pl.Expr) -> pl.Expr:
    """The conversion of a text column: none."""
    return e


def number_convert(number_format: NumberFormat, dtype: pl.DataType) -> Callable[[pl.Expr], pl.Expr]:
    """The conversion of clean numeric text to ``dtype`` in ``number_format``."""

    def convert(e: pl.Expr) -> pl.Expr:
        return number_format.to_number(e, dtype)

    return convert


def _unit_convert(number_format: NumberFormat) -> Callable[[pl.Expr], pl.Expr]:
    def convert(e: pl.Expr) -> pl.Expr:
        return number_format.unit_number(e)

    return convert


def _string_plan(name: str, source: str, semantic: str, confidence: float, *, overridden: bool = False) -> ColumnPlan:
    return ColumnPlan(name, source, semantic, pl.String(), round(confidence, 3), text_convert, overridden=overridden)


_TRUE_SPELLINGS = sorted(_TRUE)
_FALSE_SPELLINGS = sorted(_FALSE)


def _is_boolean_pair(distinct: set[str]) -> bool:
    """True when the (lower-cased) values are both halves of boolean pairs, never 0/1 mixed with words.

    F/N or M/F are two categories, not a boolean: f and n would both read as False.
    """
    if not distinct or not distinct <= _TRUE | _FALSE:
        return False
    if {"0", "1"} & distinct and not distinct <= {"0", "1"}:
        return False
    return all(_PARTNER[value] in distinct for value in distinct)


def boolean_labels(values: pl.Series) -> tuple[str, str] | None:
    """The file's own spellings of False and True: the most frequent of each half, as written.

    >>> boolean_labels(pl.Series(["No", "Yes", "no", "No", None]))
    ('No', 'Yes')
    """
    written = values.drop_nulls().cast(pl.String).str.strip_chars()
    if written.is_empty():
        return None
    counts = written.value_counts(name="n").sort(["n", written.name], descending=[True, False])
    spellings = counts.get_column(written.name).to_list()
    false = next((v for v in spellings if v.lower() in _FALSE), None)
    true = next((v for v in spellings if v.lower() in _TRUE), None)
    return (false, true) if false is not None and true is not None else None


def _bool_convert(e: pl.Expr) -> pl.Expr:
    # the same mapping as ``replace_strict(_BOOL_MAP)``, whose mapping literal makes a lazy query
    # over many boolean columns take time quadratic in their number
    lowered = e.str.to_lowercase()
    return (
        pl.when(lowered.is_in(_TRUE_SPELLINGS)).then(True).when(lowered.is_in(_FALSE_SPELLINGS)).then(False)
        .otherwise(None).cast(pl.Boolean)
    )


def _strptime(expr: pl.Expr, dtype: pl.DataType, fmt: str) -> pl.Expr:
    """Parse dates; two-digit years pivot like Python's ``%y`` (69-99 are 19xx, 00-68 are 20xx).

    The parser itself reads 69 as 2069, so that one year is moved back a century.
    """
    parsed = expr.str.strptime(dtype, fmt, strict=False)  # type: ignore[arg-type]
    if "%y" not in fmt:
        return parsed
    return pl.when(parsed.dt.year() == 2069).then(parsed.dt.offset_by("-100y")).otherwise(parsed)


def _parses_expr(value: pl.Expr, dtype: pl.DataType, fmt: str) -> pl.Expr:
    """True where a value parses with ``fmt``; a four-digit-year format must give a four-digit year.

    ``%Y`` also reads "20" as the year 20; such values are left to ``%y`` (which pivots like
    Python: 69-99 are 19xx, 00-68 are 20xx).
    """
    parsed = value.str.strptime(dtype, fmt, strict=False)  # type: ignore[arg-type]
    if "%Y" in fmt:
        return parsed.dt.year().is_between(1000, 9999).fill_null(False)
    return parsed.is_not_null()


def _parses(values: pl.Series, dtype: pl.DataType, fmt: str) -> pl.Series:
    return values.to_frame("value").select(_parses_expr(pl.col("value"), dtype, fmt)).to_series()


def _date_candidates(values: pl.Series, dtype: pl.DataType, formats: list[str]) -> dict[str, float]:
    """The share of ``values`` each format parses, from one query (hundreds of formats for a datetime)."""
    if not len(values):
        return dict.fromkeys(formats, 0.0)
    shares = values.to_frame("value").select(
        _parses_expr(pl.col("value"), dtype, fmt).mean().alias(str(i)) for i, fmt in enumerate(formats)
    ).row(0)
    return {fmt: float(share) if isinstance(share, int | float) else 0.0 for fmt, share in zip(formats, shares, strict=True)}


def _decide_dates(
    values: pl.Series, *, datetime_kind: bool, prefer_day_first: bool, force: bool = False
) -> tuple[str, float, DateDecision] | None:
    """Pick the best date or datetime format for the values, settling day/month order from the data."""
    probe = values.head(500)
    dtype: pl.DataType = pl.Datetime("us") if datetime_kind else pl.Date()
    suffixes = _TIME_SUFFIXES if datetime_kind else ("",)
    formats: list[str] = []
    for suffix in suffixes:
        formats += [f + suffix for f in _DATE_FORMATS_UNAMBIGUOUS]
        for df, mf in _DATE_FORMAT_PAIRS:
            formats += [df + suffix, mf + suffix]
    shares = _date_candidates(probe, dtype, formats)
    best_fmt = max(formats, key=lambda f: (shares[f], -formats.index(f)))
    if shares[best_fmt] == 0 and not force:
        return None
    if shares[best_fmt] == 0:
        best_fmt = "%Y-%m-%d %H:%M:%S" if datetime_kind else "%Y-%m-%d"
    pair = next(
        ((df, mf) for suffix in suffixes for df, mf in _DATE_FORMAT_PAIRS if best_fmt in (df + suffix, mf + suffix)),
        None,
    )
    if pair is None:
        decision = DateDecision(format=best_fmt, explanation="The format has no day/month order question.")
        share = _share(_parses(values, dtype, best_fmt))
        return best_fmt, share, decision
    suffix = best_fmt[len(pair[0]) :] if best_fmt.startswith(pair[0]) else best_fmt[len(pair[1]) :]
    day_fmt, month_fmt = pair[0] + suffix, pair[1] + suffix
    as_day = _parses(values, dtype, day_fmt)
    as_month = _parses(values, dtype, month_fmt)
    day_only = int((as_day & ~as_month).sum())
    month_only = int((as_month & ~as_day).sum())
    ambiguous = day_only == month_only
    day_first = (prefer_day_first or pair[0].startswith("%d.")) if ambiguous else day_only > month_only
    chosen = day_fmt if day_first else month_fmt
    order = "day first" if day_first else "month first"
    if ambiguous and day_only == 0:
        why = (
            f"No value settles the day/month order (all parts are 12 or less); read {order} by default"
            + (" (the file uses European number conventions)." if prefer_day_first else ".")
        )
    elif ambiguous:
        why = f"As many values need day first as month first ({day_only}); read {order} by default."
    else:
        why = f"{max(day_only, month_only)} value(s) only make sense {order}, {min(day_only, month_only)} the other way."
    decision = DateDecision(
        format=chosen,
        day_first=day_first,
        ambiguous=ambiguous,
        day_first_evidence=day_only,
        month_first_evidence=month_only,
        explanation=why,
    )
    share = _share(as_day if day_first else as_month)
    return chosen, share, decision


def _date_convert(dtype: pl.DataType, fmt: str) -> Callable[[pl.Expr], pl.Expr]:
    def convert(e: pl.Expr) -> pl.Expr:
        return _strptime(e, dtype, fmt)

    return convert


def _date_plan(name: str, source: str, fmt: str, share: float, decision: DateDecision, *, datetime_kind: bool, overridden: bool = False) -> ColumnPlan:
    if datetime_kind:
        with_zone = fmt.endswith(("%#z", "%z"))
        dtype: pl.DataType = pl.Datetime("us", "UTC") if with_zone else pl.Datetime("us")
        semantic = "datetime"
    else:
        dtype = pl.Date()
        semantic = "date"
    return ColumnPlan(
        name,
        source,
        semantic,
        dtype,
        round(share, 3),
        _date_convert(dtype, fmt),
        date=decision,
        overridden=overridden,
    )


def _unit_of(values: pl.Series) -> str | None:
    units = values.str.extract(rf"({_UNIT_ALT})", 1).drop_nulls()
    if units.is_empty():
        return None
    return Counter(units.to_list()).most_common(1)[0][0]


STAT_GROUPS = ("base", "integer", "text")
"""The groups of counts :func:`column_stats` computes; inference asks for the later ones only when it gets to them."""


class MissingStats(Exception):
    """Raised by :func:`infer_column` when the counts it was given lack a group its decision needs."""

    def __init__(self, group: str) -> None:
        super().__init__(group)
        self.group = group


@dataclass(frozen=True)
class IntegerStats:
    """Counts over the values of a column that looks integer."""

    unparsed: int
    long: int


@dataclass(frozen=True)
class TextStats:
    """Counts over the values of a column that is not a plain number."""

    currency: int
    percent: int
    currency_or_plain: int
    percent_or_plain: int
    dateish: int
    email: int
    url: int
    spaced: int
    uuid: int
    length_sum: int


@dataclass(frozen=True)
class ColumnStats:
    """Counts over the present sampled values of one column: all that most type decisions need.

    Computed for many columns at once by :func:`column_stats`, so that inference only runs
    further queries on a column when its decision needs the values themselves (dates, currency
    units, coordinates). The ``integer`` and ``text`` groups may be missing (None) until a
    decision asks for them (see :class:`MissingStats`).
    """

    count: int
    distinct: int
    distinct_lower: int
    lower_values: frozenset[str]
    """The distinct lower-cased values, when there are at most :data:`_FEW_VALUES` (else some of them)."""
    leading_zero: int
    integer: int
    floating: int
    integers: IntegerStats | None = None
    text: TextStats | None = None

    def need_integers(self) -> IntegerStats:
        if self.integers is None:
            raise MissingStats("integer")
        return self.integers

    def need_text(self) -> TextStats:
        if self.text is None:
            raise MissingStats("text")
        return self.text


_FEW_VALUES = 6
EMPTY_STATS = ColumnStats(0, 0, 0, frozenset(), 0, 0, 0)


def _group_flags(group: str, number_format: NumberFormat, v: pl.Expr) -> dict[str, pl.Expr]:
    if group == "base":
        return {
            "leading_zero": v.str.contains(r"^[+-]?0\d"),
            "integer": v.str.contains(number_format.integer_regex()),
            "floating": v.str.contains(number_format.float_regex()),
        }
    if group == "integer":
        return {
            "unparsed": number_format.to_number(v, pl.Int64()).is_null(),
            "long": v.str.contains(r"^[+-]?\d{19,}$"),
        }
    currency = v.str.contains(number_format.currency_regex())
    percent = v.str.contains(number_format.percent_regex())
    plain = v.str.contains(number_format.float_regex())
    return {
        "currency": currency,
        "percent": percent,
        "currency_or_plain": currency | plain,
        "percent_or_plain": percent | plain,
        "dateish": v.str.contains(_DATEISH),
        "email": v.str.contains(_EMAIL),
        "url": v.str.contains(_URL),
        "spaced": v.str.contains(r"\s"),
        "uuid": v.str.contains(_UUID),
    }


def column_stats(
    values: pl.DataFrame,
    number_format: NumberFormat,
    *,
    group: str = "base",
    into: dict[int, ColumnStats] | None = None,
    by: str = "column",
    value: str = "value",
) -> dict[int, ColumnStats]:
    """One group of :class:`ColumnStats` counts for each column of a long frame, in one query.

    ``values`` holds a column number (``by``) and a present value (``value``) per row. The
    ``base`` group makes new stats; the others complete those found in ``into`` (and are
    returned merged). Columns without a present value are absent.
    """
    v = pl.col(value)
    flags = _group_flags(group, number_format, v)
    extra: list[pl.Expr] = []
    if group == "base":
        extra = [
            pl.len().alias("count"),
            v.n_unique().alias("distinct"),
            pl.col("__lower").n_unique().alias("distinct_lower"),
            pl.col("__lower").unique().head(_FEW_VALUES + 1).alias("lower_values"),
        ]
    elif group == "text":
        extra = [pl.col("__length").sum().alias("length_sum")]
    derived = [v.str.to_lowercase().alias("__lower")] if group == "base" else []
    derived += [v.str.len_chars().alias("__length")] if group == "text" else []
    table = (
        values.lazy()
        .select(pl.col(by), v, *derived, *(e.alias(k) for k, e in flags.items()))
        .group_by(by, maintain_order=True)
        .agg(*extra, *(pl.col(k).sum() for k in flags))
        .collect()
    )
    out: dict[int, ColumnStats] = {}
    known = into or {}
    for row in table.iter_rows(named=True):
        key = row.pop(by)
        if group == "base":
            out[key] = ColumnStats(
                count=int(row["count"]), distinct=int(row["distinct"]), distinct_lower=int(row["distinct_lower"]),
                lower_values=frozenset(row["lower_values"]), leading_zero=int(row["leading_zero"]),
                integer=int(row["integer"]), floating=int(row["floating"]),
            )
        elif group == "integer":
            out[key] = replace(known[key], integers=IntegerStats(**{k: int(x) for k, x in row.items()}))
        else:
            out[key] = replace(known[key], text=TextStats(**{k: int(x) for k, x in row.items()}))
    return out


def _series_stats(values: pl.Series, number_format: NumberFormat) -> ColumnStats:
    if not len(values):
        return EMPTY_STATS
    frame = pl.DataFrame({"column": pl.repeat(0, len(values), dtype=pl.UInt32, eager=True), "value": values.cast(pl.String)})
    stats = column_stats(frame, number_format)
    for group in STAT_GROUPS[1:]:
        stats = column_stats(frame, number_format, group=group, into=stats)
    return stats[0]


def _max_abs(values: pl.Series) -> float | None:
    top = values.abs().max()
    return float(top) if isinstance(top, int | float) else None


def infer_column(
    name: str,
    source_name: str,
    values: pl.Series,
    number_format: NumberFormat,
    *,
    prefer_day_first: bool = False,
    accept_share: float = ACCEPT_SHARE,
    stats: ColumnStats | None = None,
) -> ColumnPlan:
    """Infer the semantic type of one column from its sampled values.

    Parameters
    ----------
    name, source_name
        Output name of the column and its header text.
    values
        Sampled values, trimmed, with missing-value tokens already turned into null.
    number_format
        The file's decimal and thousands separators.
    prefer_day_first
        Default day/month order when no sampled date settles it.
    accept_share
        Share of the values that must fit a type for the column to take it (1.0 when misfits are
        kept by widening the type, below when they may be stored as null).
    stats
        The counts of ``values`` (see :func:`column_stats`), when computed already for many columns.

    Raises
    ------
    MissingStats
        When ``stats`` lacks a group of counts the decision needs: compute it and call again.
    """
    s = stats if stats is not None else _series_stats(values.drop_nulls(), number_format)
    n = s.count
    if n == 0:
        return _string_plan(name, source_name, "text", 0.0)
    distinct = set(s.lower_values) if s.distinct_lower <= _FEW_VALUES else set()
    if _is_boolean_pair(distinct):
        confidence = 0.7 if distinct <= {"0", "1"} else 1.0
        return ColumnPlan(name, source_name, "boolean", pl.Boolean(), confidence, _bool_convert,
                          labels=boolean_labels(values))

    leading_zero = s.leading_zero > 0
    int_share = s.integer / n
    float_share = s.floating / n
    unique_ratio = s.distinct / n
    if not leading_zero and int_share >= accept_share and s.need_integers().unparsed <= n * (1 - accept_share):
        semantic = "identifier" if (_ID_NAME.search(name) and unique_ratio == 1.0 and n > 1) else "integer"
        return ColumnPlan(name, source_name, semantic, pl.Int64(), round(int_share, 3), number_convert(number_format, pl.Int64()))
    # Whole numbers too long for 64 bits would lose digits as floats: they stay exact, as text.
    too_long = int_share >= accept_share and s.need_integers().long > 0
    if not leading_zero and not too_long and float_share >= accept_share:
        semantic = "float"
        if _LAT_NAME.search(name) or _LON_NAME.search(name):
            floats = pl.select(number_format.to_number(pl.lit(values.drop_nulls()), pl.Float64())).to_series().drop_nulls()
            top = _max_abs(floats) if len(floats) else None
            if top is not None and _LAT_NAME.search(name) and top <= 90:
                semantic = "latitude"
            elif top is not None and _LON_NAME.search(name) and top <= 180:
                semantic = "longitude"
        return ColumnPlan(name, source_name, semantic, pl.Float64(), round(float_share, 3), number_convert(number_format, pl.Float64()))

    t = s.need_text()
    if t.currency / n >= 0.5 and t.currency_or_plain / n >= accept_share:
        v = values.drop_nulls()
        unit = _unit_of(v.filter(v.str.contains(number_format.currency_regex())))
        return ColumnPlan(name, source_name, "currency", pl.Float64(), round(t.currency_or_plain / n, 3),
                          _unit_convert(number_format), unit=unit)
    if t.percent / n >= 0.5 and t.percent_or_plain / n >= accept_share:
        return ColumnPlan(name, source_name, "percent", pl.Float64(), round(t.percent_or_plain / n, 3),
                          _unit_convert(number_format), unit="%")

    if t.dateish / n >= ACCEPT_SHARE:
        v = values.drop_nulls()
        has_time = _share(v.str.contains(r"\d[ T]\d{1,2}:\d{2}")) >= 0.5
        for datetime_kind in ((True, False) if has_time else (False,)):
            found = _decide_dates(v, datetime_kind=datetime_kind, prefer_day_first=prefer_day_first)
            if found and found[1] >= accept_share:
                fmt, share, decision = found
                return _date_plan(name, source_name, fmt, share, decision, datetime_kind=datetime_kind)

    # Text types lose no value on a misfit, so they keep the usual tolerance.
    email_share = t.email / n
    if email_share >= ACCEPT_SHARE:
        return _string_plan(name, source_name, "email", email_share)
    url_share = t.url / n
    if url_share >= ACCEPT_SHARE:
        return _string_plan(name, source_name, "url", url_share)

    no_space = (n - t.spaced) / n
    if unique_ratio == 1.0 and n >= 2 and (
        t.uuid / n >= ACCEPT_SHARE or (_ID_NAME.search(name) and no_space == 1.0)
    ):
        return _string_plan(name, source_name, "identifier", 1.0)
    if leading_zero and no_space == 1.0 and int_share >= ACCEPT_SHARE:
        # Digit strings with leading zeros (zip codes, account numbers): codes, not quantities.
        return _string_plan(name, source_name, "identifier" if unique_ratio == 1.0 and n > 1 else "categorical", int_share)
    distinct_count = s.distinct
    if distinct_count <= max(2, min(100, n // 2)) and (unique_ratio <= 0.5 or n < 10):
        return _string_plan(name, source_name, "categorical", 1.0 - unique_ratio / 2)
    mean_len = t.length_sum / n
    if no_space >= ACCEPT_SHARE and mean_len <= 40:
        # Short codes without spaces: identifiers when (nearly) unique, else high-cardinality categories.
        if unique_ratio >= 0.9:
            return _string_plan(name, source_name, "identifier", round(unique_ratio * no_space, 3))
        return _string_plan(name, source_name, "categorical", round(0.5 + (1 - unique_ratio) / 2, 3))
    return _string_plan(name, source_name, "text", round(min(1.0, 0.5 + unique_ratio / 2), 3))


def override_column(
    name: str,
    source_name: str,
    values: pl.Series,
    number_format: NumberFormat,
    semantic: str,
    *,
    prefer_day_first: bool = False,
) -> ColumnPlan:
    """Build the plan for a column whose semantic type the user forced.

    Raises
    ------
    IngestError
        ``invalid_type_override`` when ``semantic`` is not a known semantic type.
    """
    if semantic not in SEMANTIC_TYPES:
        raise IngestError(
            "invalid_type_override",
            f"Column {name!r} cannot be read as {semantic!r}: that is not a known type.",
            {"column": name, "type": semantic, "known_types": list(SEMANTIC_TYPES)},
        )
    v = values.drop_nulls()
    if semantic == "boolean":
        return ColumnPlan(name, source_name, semantic, pl.Boolean(), 1.0, _bool_convert, overridden=True,
                          labels=boolean_labels(values))
    if semantic == "integer":
        return ColumnPlan(name, source_name, semantic, pl.Int64(), 1.0, number_convert(number_format, pl.Int64()), overridden=True)
    if semantic in ("float", "latitude", "longitude"):
        return ColumnPlan(name, source_name, semantic, pl.Float64(), 1.0, number_convert(number_format, pl.Float64()), overridden=True)
    if semantic in ("currency", "percent"):
        unit = "%" if semantic == "percent" else _unit_of(v)
        return ColumnPlan(name, source_name, semantic, pl.Float64(), 1.0, _unit_convert(number_format), unit=unit, overridden=True)
    if semantic in ("date", "datetime"):
        datetime_kind = semantic == "datetime"
        found = _decide_dates(v, datetime_kind=datetime_kind, prefer_day_first=prefer_day_first, force=True)
        assert found is not None
        fmt, _, decision = found
        return _date_plan(name, source_name, fmt, 1.0, decision, datetime_kind=datetime_kind, overridden=True)
    return _string_plan(name, source_name, semantic, 1.0, overridden=True)
