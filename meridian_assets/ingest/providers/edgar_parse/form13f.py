"""13-F-HR holdings reports -> ``institutional_holdings`` rows, the quarter-on-quarter position changes, and
the restriction of a fund's holdings to the universe.

edgartools parses offline: `edgar.thirteenf.parse_infotable_xml` (lxml, with CUSIP->ticker from edgartools'
bundled table), `edgar.thirteenf.units.resolve_value_unit` (thousands vs dollars) and `edgar.sgml.FilingSGML`
for a full submission (.txt / .nc).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from meridian_assets.ingest import schemas
from meridian_assets.ingest.providers.edgar_parse.common import as_sgml, known_at_for, num, to_date


def parse_13f_infotable(
    xml_text: str,
    fund_name: str,
    fund_cik: int,
    report_period: dt.date | str,
    accession_no: str | None,
    known_at: dt.date,
    *,
    cusip_to_ticker: Mapping[str, str] | None = None,
    schema_version: str | None = None,
    value_unit: str | None = None,
) -> pl.DataFrame:
    """A 13-F information table -> `schemas.INSTITUTIONAL_HOLDINGS` rows (one per ticker), prior columns null.

    Share positions only: put/call rows (options) and principal amounts (bonds) are dropped. The ticker comes
    from ``cusip_to_ticker`` when it knows the CUSIP, else from edgartools' bundled CUSIP table; rows with no
    ticker are dropped. Rows of one ticker (several managers / discretion types) are summed. ``value_usd`` is
    in dollars: edgartools' `resolve_value_unit` decides whether the filing reported thousands (pre-2023) --
    pass ``value_unit`` ("dollars" / "thousands") to override.
    """
    from edgar.thirteenf import parse_infotable_xml
    from edgar.thirteenf.units import resolve_value_unit

    period = to_date(report_period)
    raw = parse_infotable_xml(xml_text.strip())
    if raw is None or len(raw) == 0:
        return schemas.INSTITUTIONAL_HOLDINGS.empty()
    period_dt = dt.datetime.combine(period, dt.time()) if period else None
    unit = resolve_value_unit(raw, schema_version, period_dt, override=value_unit)  # type: ignore[arg-type]
    mapping = {str(k).strip().upper(): v for k, v in (cusip_to_ticker or {}).items()}
    rows = []
    for rec in raw.to_dict("records"):
        if (rec.get("PutCall") or "").strip() or rec.get("Type") != "Shares":
            continue
        cusip = str(rec.get("Cusip") or "").strip().upper()
        bundled = rec.get("Ticker")
        ticker = mapping.get(cusip) or (bundled if isinstance(bundled, str) and bundled else None)
        if not ticker:
            continue
        rows.append({"ticker": ticker, "cusip": cusip, "shares": num(rec.get("SharesPrnAmount")),
                     "value_usd": (num(rec.get("Value")) or 0.0) * unit.multiplier})
    if not rows:
        return schemas.INSTITUTIONAL_HOLDINGS.empty()
    frame = (
        pl.DataFrame(rows)
        .group_by("ticker", maintain_order=True)
        .agg(pl.col("cusip").first(), pl.col("shares").sum(), pl.col("value_usd").sum())
        .with_columns(
            fund_name=pl.lit(fund_name),
            fund_cik=pl.lit(int(fund_cik), dtype=pl.Int64),
            report_period=pl.lit(period, dtype=pl.Date),
            accession_no=pl.lit(accession_no, dtype=pl.Utf8),
            known_at=pl.lit(known_at, dtype=pl.Date),
        )
    )
    return schemas.INSTITUTIONAL_HOLDINGS.conform(frame)


@dataclass(frozen=True)
class ThirteenFDocument:
    """The parts of a 13-F-HR submission the provider needs."""

    accession_no: str
    fund_cik: int | None
    report_period: dt.date | None
    filing_date: dt.date | None
    accepted_at: dt.datetime | None
    schema_version: str | None
    infotable_xml: str | None


def read_13f_submission(sgml: Any) -> ThirteenFDocument:
    """Split a 13-F full submission (`FilingSGML`, its text or a path) into header facts and the info table."""
    sgml = as_sgml(sgml)
    info = None
    for att in sgml.attachments:
        if (att.document_type or "").upper() == "INFORMATION TABLE" and (att.document or "").lower().endswith(".xml"):
            info = att.content
            break
    primary = sgml.xml() or ""
    m = re.search(r"<(?:\w+:)?schemaVersion>\s*([^<\s]+)", primary)
    period = to_date(sgml.period_of_report)
    if period is None:
        p = re.search(r"<(?:\w+:)?reportCalendarOrQuarter>\s*([^<\s]+)", primary)
        period = to_date(p.group(1)) if p else None
    return ThirteenFDocument(
        accession_no=sgml.accession_number,
        fund_cik=int(sgml.cik) if sgml.cik else None,
        report_period=period,
        filing_date=to_date(sgml.filing_date),
        accepted_at=sgml.header.acceptance_datetime,
        schema_version=m.group(1) if m else None,
        infotable_xml=info if isinstance(info, str) else (info.decode() if info else None),
    )


def parse_13f_submission(
    sgml: Any, fund_name: str, fund_cik: int | None = None, *, cusip_to_ticker: Mapping[str, str] | None = None
) -> pl.DataFrame:
    """A 13-F-HR full submission -> holdings rows (prior columns null; see `add_position_changes`)."""
    doc = read_13f_submission(sgml)
    if not doc.infotable_xml:
        raise ValueError(f"{doc.accession_no}: 13-F submission without an XML information table")
    return parse_13f_infotable(
        doc.infotable_xml,
        fund_name,
        int(fund_cik or doc.fund_cik or 0),
        doc.report_period,
        doc.accession_no,
        known_at_for(doc.accepted_at, doc.filing_date),
        cusip_to_ticker=cusip_to_ticker,
        schema_version=doc.schema_version,
    )


def add_position_changes(current: pl.DataFrame, prior: pl.DataFrame | None) -> pl.DataFrame:
    """Fill prior_shares / change_shares / is_new_position from the fund's previous 13-F.

    * ``prior`` given (the previous quarter's rows of the same fund, possibly empty): prior_shares is its
      holding (0 when absent), change_shares = shares - prior_shares, is_new_position is True exactly when
      the name is absent from the prior filing. Names held in the prior filing but not now are added as
      exit rows: shares 0, value 0, change_shares = -prior_shares (so exits are countable downstream).
    * ``prior`` None (no previous 13-F available): prior_shares null (unknown, not zero), change_shares 0
      (no measured change, so sums are unaffected) and is_new_position False -- a fund's first filing in
      view is never counted as a wave of new positions.
    """
    cols = schemas.INSTITUTIONAL_HOLDINGS.columns
    if current.height == 0 and (prior is None or prior.height == 0):
        return schemas.INSTITUTIONAL_HOLDINGS.empty()
    if prior is None:
        out = current.with_columns(
            prior_shares=pl.lit(None, dtype=pl.Float64),
            change_shares=pl.lit(0.0),
            is_new_position=pl.lit(False),
        )
        return schemas.INSTITUTIONAL_HOLDINGS.conform(out)
    prev = prior.group_by("ticker").agg(pl.col("shares").sum().alias("_prior"), pl.col("cusip").first().alias("_pc"))
    held = current.join(prev, on="ticker", how="left").with_columns(
        prior_shares=pl.col("_prior").fill_null(0.0),
        change_shares=pl.col("shares") - pl.col("_prior").fill_null(0.0),
        is_new_position=pl.col("_prior").is_null(),
    )
    exits = prev.join(current.select("ticker"), on="ticker", how="anti")
    parts = [schemas.INSTITUTIONAL_HOLDINGS.conform(held)] if held.height else []
    if exits.height:
        template = current.row(0, named=True) if current.height else None
        if template is not None:
            exit_rows = exits.with_columns(
                fund_name=pl.lit(template["fund_name"]),
                fund_cik=pl.lit(template["fund_cik"], dtype=pl.Int64),
                cusip=pl.col("_pc"),
                report_period=pl.lit(template["report_period"], dtype=pl.Date),
                shares=pl.lit(0.0),
                value_usd=pl.lit(0.0),
                prior_shares=pl.col("_prior"),
                change_shares=-pl.col("_prior"),
                is_new_position=pl.lit(False),
                accession_no=pl.lit(template["accession_no"], dtype=pl.Utf8),
                known_at=pl.lit(template["known_at"], dtype=pl.Date),
            )
            parts.append(schemas.INSTITUTIONAL_HOLDINGS.conform(exit_rows))
    return pl.concat(parts).cast(cols) if parts else schemas.INSTITUTIONAL_HOLDINGS.empty()


def ticker_key(ticker: str) -> str:
    """A spelling-free key: BRK.B, BRK-B, BRK/B and BRKB are the same share class."""
    return re.sub(r"[^A-Z0-9]", "", str(ticker).upper())


def restrict_holdings(frame: pl.DataFrame, tickers: Sequence[str] | None) -> pl.DataFrame:
    """Keep holdings in ``tickers`` (matched by `ticker_key`), spelled as there, one row per ticker."""
    if tickers is None or frame.height == 0:
        return frame
    keys = {ticker_key(t): t for t in tickers}
    out = frame.with_columns(
        ticker=pl.col("ticker").map_elements(lambda t: keys.get(ticker_key(t)), return_dtype=pl.Utf8)
    ).filter(pl.col("ticker").is_not_null())
    if out.height == 0:
        return schemas.INSTITUTIONAL_HOLDINGS.empty()
    others = [c for c in out.columns if c not in ("ticker", "shares", "value_usd")]
    out = out.group_by("ticker", maintain_order=True).agg(
        pl.col("shares").sum(), pl.col("value_usd").sum(), *[pl.col(c).first() for c in others]
    )
    return schemas.INSTITUTIONAL_HOLDINGS.conform(out)
