"""Reading one CSV/Parquet file of the `files` provider into a Layer-1 frame: the scan (column names
normalised), the cast to the table's schema, and one-line errors for a file that cannot be read, lacks a
required column or holds values that do not parse. Also the polars expressions that match and normalise ticker
spellings (``BRK-B``, ``brk/b`` -> ``BRK.B``) inside a scan. The provider (`files.FilesProvider`) decides which
file serves which table.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import polars as pl

from meridian_assets.errors import InputFileError
from meridian_assets.ingest.providers.constituent_lists import normalize_ticker, ticker_variants
from meridian_assets.ingest.schemas import TABLES
from meridian_assets.tables import TableSchema


# --------------------------------------------------------------------------------------------- tickers
def ticker_in(tickers: Iterable[str], col: str = "ticker") -> pl.Expr:
    """Rows whose ticker is one of ``tickers`` in any spelling (upper or lower case, ``-``/``/`` for the
    class dot). A plain membership test, so Parquet scans stay fast."""
    variants = {v for t in tickers for v in ticker_variants(t)}
    return pl.col(col).is_in(sorted(variants | {v.lower() for v in variants}))


def variant_map(tickers: Iterable[str]) -> dict[str, str]:
    """Each non-canonical spelling ticker_in accepts -> the canonical ticker."""
    out = {}
    for t in tickers:
        canon = normalize_ticker(t)
        for v in ticker_variants(canon):
            for w in (v, v.lower()):
                if w != canon:
                    out[w] = canon
    return out


def normalize_ticker_expr(col: str = "ticker") -> pl.Expr:
    c = pl.col(col).cast(pl.Utf8).str.strip_chars().str.to_uppercase()
    return (
        pl.when(c.str.starts_with("^"))
        .then(c)
        .otherwise(c.str.replace_all(r"[-/ ]", "."))
        .alias(col)
    )


# --------------------------------------------------------------------------------------------- frames
def _norm_colname(c: str) -> str:
    return re.sub(r"[\s\-]+", "_", c.strip().lower())


def _unreadable(path: Path, err: Exception) -> InputFileError:
    """Why ``path`` cannot be read, on one line (polars' own message is the detail)."""
    try:
        size = path.stat().st_size
    except OSError:
        size = None
    if size == 0:
        return InputFileError(path, "empty file (0 bytes)")
    if isinstance(err, OSError):
        return InputFileError(path, f"cannot be read: {err.strerror or err}")
    kind = "Parquet" if path.suffix.lower() in (".parquet", ".pq") else "CSV"
    detail = " ".join(str(err).split())
    detail = detail.removeprefix("parquet: ")
    return InputFileError(path, f"not a readable {kind} file, truncated or corrupt ({size} bytes): {detail[:200]}")


def collect(lf: pl.LazyFrame, path: Path) -> pl.DataFrame:
    """``lf.collect()``; a file that turns out unreadable while its rows are read is an `InputFileError`."""
    try:
        return lf.collect()
    except (pl.exceptions.PolarsError, OSError) as err:
        raise _unreadable(path, err) from None


def scan(path: Path) -> pl.LazyFrame:
    """A lazy scan of a Parquet or CSV file, column names normalised (``Adj Close`` -> ``adj_close``)."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            lf = pl.scan_parquet(path)
        elif suffix in (".csv", ".txt"):
            lf = pl.scan_csv(path, infer_schema=False)  # all text; cast to the schema below
        else:
            raise InputFileError(path, "unsupported file type (use .parquet or .csv)")
        names = lf.collect_schema().names()
    except (pl.exceptions.PolarsError, OSError) as err:
        raise _unreadable(path, err) from None
    renames = {c: _norm_colname(c) for c in names if _norm_colname(c) != c}
    return lf.rename(renames) if renames else lf


def missing_columns(path: Path, cols: Sequence[str], required: Iterable[str], table: str) -> None:
    """One error naming every required column the file lacks (never one per row or ticker)."""
    missing = [c for c in required if c not in cols]
    if missing:
        raise InputFileError(
            path, f"missing required column(s) {', '.join(missing)} for {table} (docs/files_provider.md#{table})"
        )


_TRUE = ("true", "t", "1", "yes", "y")
_FALSE = ("false", "f", "0", "no", "n")


UNPARSED = "__unparsed"  # per row: the values that did not parse, "" when all did
UNKEYED = "__unkeyed"  # per row: True when a key or window column did not parse (the row cannot be placed)


def _kind(target: pl.DataType) -> str:
    if target == pl.Date:
        return "YYYY-MM-DD date"
    if target == pl.Boolean:
        return "true/false value"
    if target == pl.Int64:
        return "whole number"
    return "number"


def coerce(lf: pl.LazyFrame, schema: TableSchema) -> pl.LazyFrame:
    """Cast the columns the schema knows to its types (dates from text or datetimes, booleans from text).

    A value that is there but does not parse (``n/a`` in a number column) does not become a silent null: the
    row's ``UNPARSED`` column lists it (``volume='n/a' (not a number)``), and ``UNKEYED`` marks rows whose
    key or window column did not parse. `refuse_unparsed` turns them into one error."""
    have = lf.collect_schema()
    exprs, unparsed, unkeyed = [], [], []
    keys = {*schema.key, *([schema.partition_column] if schema.partition_column else [])}
    for col, target in schema.columns.items():
        if col not in have:
            continue
        src = have[col]
        c = pl.col(col)
        if src == target:
            continue
        if target == pl.Date:
            if src == pl.Utf8:
                e = c.str.strip_chars().str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
            elif isinstance(src, pl.Datetime):
                e = c.dt.date()
            else:
                e = c.cast(pl.Date, strict=False)
        elif target == pl.Boolean and src == pl.Utf8:
            low = c.str.strip_chars().str.to_lowercase()
            e = pl.when(low.is_in(_TRUE)).then(True).when(low.is_in(_FALSE)).then(False).otherwise(None)
        elif src == pl.Utf8 and target in (pl.Float64, pl.Int64):
            s = c.str.strip_chars().str.replace_all(",", "")
            e = s.cast(pl.Float64, strict=False) if target == pl.Float64 else s.cast(pl.Float64, strict=False).cast(
                pl.Int64, strict=False
            )
        else:
            e = c.cast(target, strict=False)
        exprs.append(e.alias(col))
        blank = c.str.strip_chars() == "" if src == pl.Utf8 else pl.lit(False)
        failed = c.is_not_null() & ~blank & e.is_null()
        shown = pl.lit("'") + c + pl.lit("'") if src == pl.Utf8 else c.cast(pl.Utf8)
        unparsed.append(pl.when(failed).then(pl.lit(f"{col}=") + shown + pl.lit(f" (not a {_kind(target)})")))
        if col in keys:
            unkeyed.append(failed)
    if not exprs:  # typed Parquet: nothing to parse (and the scan keeps its pushed-down filters)
        return lf
    helpers = [pl.concat_str(unparsed, separator="; ", ignore_nulls=True).alias(UNPARSED)]
    if unkeyed:
        helpers.append(pl.any_horizontal(unkeyed).alias(UNKEYED))
    return lf.with_columns(*exprs, *helpers)


def placed(lf: pl.LazyFrame, window: pl.Expr) -> pl.LazyFrame:
    """Rows in ``window``, and rows whose key or window column did not parse (reported, not silently lost)."""
    if UNKEYED in lf.collect_schema().names():
        return lf.filter(window | pl.col(UNKEYED).fill_null(False))
    return lf.filter(window)


def helper_columns(lf: pl.LazyFrame) -> list[str]:
    return [c for c in (UNPARSED, UNKEYED) if c in lf.collect_schema().names()]


def refuse_unparsed(df: pl.DataFrame, path: Path, table: str, shown: int = 3) -> pl.DataFrame:
    """``df`` without the helper columns, or an `InputFileError` naming table, date, ticker and field of the
    first values that did not parse, and how many there are."""
    if UNPARSED not in df.columns:
        return df
    bad = df.filter(pl.col(UNPARSED).fill_null("") != "")
    if bad.height:
        schema = TABLES.get(table)
        date_col = schema.partition_column if schema is not None else "date"
        ident = next((c for c in ("ticker", "series_id") if c in df.columns), None)
        examples = []
        for row in bad.head(shown).iter_rows(named=True):
            where = [str(row[c]) for c in (date_col, ident) if c in row and row[c] is not None]
            examples.append(" ".join([table, *where, row[UNPARSED]]))
        n = int(bad.select(pl.col(UNPARSED).str.count_matches(r"\(not a ").sum()).item())
        more = f" and {n - len(examples)} more" if n > len(examples) else ""
        raise InputFileError(path, f"{n} value(s) do not parse: {'; '.join(examples)}{more}")
    return df.drop([c for c in (UNPARSED, UNKEYED) if c in df.columns])


def as_date(d: dt.date | dt.datetime | str) -> dt.date:
    if isinstance(d, dt.datetime):
        return d.date()
    if isinstance(d, dt.date):
        return d
    return dt.date.fromisoformat(str(d)[:10])
