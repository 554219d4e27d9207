"""Pure parsers for the `edgar` provider: SEC documents already in hand -> polars frames in the Layer-1 schemas.

Nothing here touches the network. Every function takes an edgartools object or the raw text of a document
(as downloaded from EDGAR, or recorded in a test fixture) and returns a frame conformed to
`meridian_assets.ingest.schemas`.

edgartools does the parsing wherever it offers a parser that works offline:

* Form 3/4/5: `edgar.xmltools.parse_xml` and the non-derivative table parser
  `edgar.ownership.table_containers.NonDerivativeTable.extract` (the one `Form4.parse_xml` uses). The reporting
  owners are read here with `edgar.xmltools.child_text`, because edgartools' `ReportingOwners` looks every
  owner up on SEC (``Entity(cik)``) just to decide whether to reverse the name -- one request per owner.
  The name is therefore kept as filed ("Scarpelli Michael").
* 13-F: `edgar.thirteenf.parse_infotable_xml` (lxml, with CUSIP->ticker from edgartools' bundled table),
  `edgar.thirteenf.units.resolve_value_unit` (thousands vs dollars) and `edgar.sgml.FilingSGML` for a full
  submission (.txt / .nc).
* XBRL: `edgar.xbrl.XBRL` (from a filing or from files) and its fact table `xbrl.facts.to_dataframe()`; the
  us-gaap concept -> line-item mapping with fallbacks (`CONCEPTS`) is ours.
* 10-K Item 1A: `edgar.documents.HTMLParser` (10-K section detection). Plain text / Markdown, or HTML the
  parser cannot sectionise, fall back to a heading regex (`_item_1a_by_headings`).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl

from meridian_assets.calendar import known_session, session_on_or_after
from meridian_assets.ingest import schemas

# --------------------------------------------------------------------------------------------- known_at


def known_at_for(accepted: dt.datetime | dt.date | str | None, filing_date: dt.date | str | None = None) -> dt.date:
    """The session a filing becomes usable (schemas docstring: ``known_at``).

    ``accepted`` is the acceptance timestamp. A naive datetime is read as New York wall-clock time (the SGML
    header's ACCEPTANCE-DATETIME is Eastern; the submissions JSON labels its time UTC but is not reliably so,
    and reading it as Eastern is the later, look-ahead-safe reading). A bare date, or no acceptance time at all,
    is treated as accepted after the close of that day (the next session) -- conservative.
    """
    fd = _to_date(filing_date)
    if isinstance(accepted, str) and accepted.strip():
        accepted = _parse_datetime(accepted)
    if isinstance(accepted, dt.datetime):
        known = known_session(accepted)
    else:
        day = _to_date(accepted) or fd
        if day is None:
            raise ValueError("known_at_for: neither an acceptance time nor a filing date")
        known = known_session(dt.datetime.combine(day, dt.time(16, 0)))
    if fd is not None:
        known = max(known, session_on_or_after(fd))
    return known


def _parse_datetime(s: str) -> dt.datetime:
    s = s.strip()
    if re.fullmatch(r"\d{14}", s):
        return dt.datetime.strptime(s, "%Y%m%d%H%M%S")
    # The JSON 'Z' is not trustworthy (see known_at_for): keep the wall-clock time, drop the zone.
    return dt.datetime.fromisoformat(s.replace("Z", "")).replace(tzinfo=None)


def _to_date(v: Any) -> dt.date | None:
    if v is None or v == "":
        return None
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    s = str(v).strip()
    if re.fullmatch(r"\d{8}", s):
        return dt.date(int(s[:4]), int(s[4:6]), int(s[6:]))
    if re.fullmatch(r"\d{2}-\d{2}-\d{4}", s):  # 13-F cover page: MM-DD-YYYY
        return dt.datetime.strptime(s, "%m-%d-%Y").date()
    try:
        return dt.date.fromisoformat(s[:10])
    except ValueError:
        return None


def _num(v: Any) -> float | None:
    if v is None:
        return None
    try:
        f = float(str(v).replace(",", "")) if isinstance(v, str) else float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


# --------------------------------------------------------------------------------------------- Form 4

_CEO_CFO = re.compile(r"\b(CEO|CFO)\b|chief\s+executive|chief\s+financial", re.IGNORECASE)


def is_ceo_or_cfo(title: str | None) -> bool:
    """Does an officer title name the CEO or the CFO ("President & CEO", "Chief Financial Officer", ...)?"""
    return bool(title) and bool(_CEO_CFO.search(title))


def _owners(root: Any, remarks: str) -> list[dict[str, Any]]:
    from edgar.core import get_bool
    from edgar.xmltools import child_text, find_all_elements, find_element

    owners = []
    for tag in find_all_elements(root, "reportingOwner"):
        ident = find_element(tag, "reportingOwnerId")
        rel = find_element(tag, "reportingOwnerRelationship")
        title = (child_text(rel, "officerTitle") or "").strip() if rel is not None else ""
        if title and "see remarks" in title.lower() and remarks:
            title = remarks.strip()
        cik = child_text(ident, "rptOwnerCik") if ident is not None else None
        owners.append(
            {
                "name": (child_text(ident, "rptOwnerName") or "").strip() if ident is not None else "",
                "cik": int(cik) if cik and cik.strip().isdigit() else None,
                "title": title,
                "is_director": bool(rel is not None and get_bool(child_text(rel, "isDirector"))),
                "is_officer": bool(rel is not None and get_bool(child_text(rel, "isOfficer"))),
                "is_ten_pct": bool(rel is not None and get_bool(child_text(rel, "isTenPercentOwner"))),
            }
        )
    return owners


def parse_form4(
    xml_text: str,
    accepted_at: dt.datetime | dt.date | str | None,
    *,
    accession_no: str | None = None,
    ticker: str | None = None,
    filing_date: dt.date | str | None = None,
) -> pl.DataFrame:
    """Non-derivative transactions of a Form 4 (or 5) ownership document -> `schemas.INSIDER_TRANSACTIONS`.

    One row per ``<nonDerivativeTransaction>`` in filing order (``line`` from 1). With several reporting
    owners (joint filers) the row carries the first owner's name and CIK, the distinct titles joined by
    "; ", and director/officer flags set if any owner has them. ``is_ceo_cfo_buy`` is an open-market
    purchase (code P) by an owner whose title names the CEO or CFO. ``value`` = shares x price (null without
    a price). Form 3 (holdings only) yields an empty frame.
    """
    from edgar.ownership.table_containers import NonDerivativeTable
    from edgar.xmltools import child_text, find_element, local_name, parse_xml

    root = parse_xml(xml_text.strip())
    if local_name(root) != "ownershipDocument":
        raise ValueError(f"not an ownership document (root <{local_name(root)}>)")
    form = child_text(root, "documentType") or ""
    issuer = find_element(root, "issuer")
    symbol = ticker or (child_text(issuer, "issuerTradingSymbol") if issuer is not None else None)
    symbol = (symbol or "").strip().upper() or None
    owners = _owners(root, child_text(root, "remarks") or "")
    if not owners:
        raise ValueError("ownership document without a reporting owner")
    titles = "; ".join(dict.fromkeys(o["title"] for o in owners if o["title"])) or None
    ceo_cfo = any(is_ceo_or_cfo(o["title"]) for o in owners)
    known_at = known_at_for(accepted_at, filing_date)

    table = NonDerivativeTable.extract(find_element(root, "nonDerivativeTable"), form=form)
    data = table.transactions.data
    if data is None or len(data) == 0 or "Code" not in data.columns:
        return schemas.INSIDER_TRANSACTIONS.empty()
    rows = []
    for line, rec in enumerate(data.to_dict("records"), start=1):
        shares, price = _num(rec.get("Shares")), _num(rec.get("Price"))
        code = (rec.get("Code") or "").strip().upper() or None
        rows.append(
            {
                "ticker": symbol,
                "accession_no": accession_no,
                "line": line,
                "insider_name": owners[0]["name"],
                "insider_cik": owners[0]["cik"],
                "insider_title": titles,
                "is_director": any(o["is_director"] for o in owners),
                "is_officer": any(o["is_officer"] for o in owners),
                "transaction_date": _to_date(rec.get("Date")),
                "code": code,
                "acquired_disposed": (rec.get("AcquiredDisposed") or "").strip().upper() or None,
                "shares": shares,
                "price": price,
                "value": shares * price if shares is not None and price is not None else None,
                "shares_owned_after": _num(rec.get("Remaining")),
                "is_ceo_cfo_buy": code == "P" and ceo_cfo,
                "known_at": known_at,
            }
        )
    return schemas.INSIDER_TRANSACTIONS.conform(
        pl.DataFrame(rows, schema_overrides=schemas.INSIDER_TRANSACTIONS.columns)
    )


def parse_form4_submission(sgml: Any, *, ticker: str | None = None) -> pl.DataFrame:
    """A Form 4 full submission (`edgar.sgml.FilingSGML`, or its text / path) -> insider transactions."""
    sgml = _as_sgml(sgml)
    xml = sgml.xml()
    if not xml:
        raise ValueError(f"{sgml.accession_number}: no ownership XML in the submission")
    return parse_form4(
        xml,
        sgml.header.acceptance_datetime,
        accession_no=sgml.accession_number,
        ticker=ticker,
        filing_date=sgml.filing_date,
    )


def _as_sgml(sgml: Any) -> Any:
    from edgar.sgml import FilingSGML

    if isinstance(sgml, FilingSGML) or (hasattr(sgml, "header") and hasattr(sgml, "xml")):
        return sgml  # a FilingSGML, or anything shaped like one
    if isinstance(sgml, Path) or (isinstance(sgml, str) and "\n" not in sgml and Path(sgml).exists()):
        return FilingSGML.from_source(Path(sgml))
    return FilingSGML.from_text(str(sgml))


# --------------------------------------------------------------------------------------------- 13-F


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

    period = _to_date(report_period)
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
        rows.append({"ticker": ticker, "cusip": cusip, "shares": _num(rec.get("SharesPrnAmount")),
                     "value_usd": (_num(rec.get("Value")) or 0.0) * unit.multiplier})
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
    sgml = _as_sgml(sgml)
    info = None
    for att in sgml.attachments:
        if (att.document_type or "").upper() == "INFORMATION TABLE" and (att.document or "").lower().endswith(".xml"):
            info = att.content
            break
    primary = sgml.xml() or ""
    m = re.search(r"<(?:\w+:)?schemaVersion>\s*([^<\s]+)", primary)
    period = _to_date(sgml.period_of_report)
    if period is None:
        p = re.search(r"<(?:\w+:)?reportCalendarOrQuarter>\s*([^<\s]+)", primary)
        period = _to_date(p.group(1)) if p else None
    return ThirteenFDocument(
        accession_no=sgml.accession_number,
        fund_cik=int(sgml.cik) if sgml.cik else None,
        report_period=period,
        filing_date=_to_date(sgml.filing_date),
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


# --------------------------------------------------------------------------------------------- XBRL

# Line item -> us-gaap (or dei) concepts, first present wins. Derived items are computed in `_derive`.
CONCEPTS: dict[str, tuple[str, ...]] = {
    "revenue": (
        "Revenues",
        "RevenueFromContractWithCustomerExcludingAssessedTax",
        "RevenueFromContractWithCustomerIncludingAssessedTax",
        "SalesRevenueNet",
        "SalesRevenueGoodsNet",
        "SalesRevenueServicesNet",
        "RevenuesNetOfInterestExpense",
    ),
    "cost_of_revenue": (
        "CostOfRevenue",
        "CostOfGoodsAndServicesSold",
        "CostOfGoodsSold",
        "CostOfServices",
        "CostOfGoodsAndServiceExcludingDepreciationDepletionAndAmortization",
    ),
    "gross_profit": ("GrossProfit",),
    "operating_income": ("OperatingIncomeLoss",),
    "_pretax": (
        "IncomeLossFromContinuingOperationsBeforeIncomeTaxesExtraordinaryItemsNoncontrollingInterest",
        "IncomeLossFromContinuingOperationsBeforeIncomeTaxesMinorityInterestAndIncomeLossFromEquityMethodInvestments",
        "IncomeLossFromContinuingOperationsBeforeIncomeTaxesDomestic",
    ),
    "depreciation": (
        "DepreciationDepletionAndAmortization",
        "DepreciationAmortizationAndAccretionNet",
        "DepreciationAndAmortization",
        "Depreciation",
    ),
    "interest_expense": ("InterestExpense", "InterestExpenseNonoperating", "InterestExpenseDebt", "InterestAndDebtExpense"),
    "income_tax": ("IncomeTaxExpenseBenefit",),
    "net_income": ("NetIncomeLoss", "NetIncomeLossAvailableToCommonStockholdersBasic", "ProfitLoss"),
    "eps_diluted": ("EarningsPerShareDiluted", "EarningsPerShareBasicAndDiluted"),
    "_weighted_diluted_shares": ("WeightedAverageNumberOfDilutedSharesOutstanding",),
    "shares_outstanding": ("CommonStockSharesOutstanding",),
    "total_assets": ("Assets",),
    "current_assets": ("AssetsCurrent",),
    "cash": (
        "CashAndCashEquivalentsAtCarryingValue",
        "CashCashEquivalentsRestrictedCashAndRestrictedCashEquivalents",
        "Cash",
        "CashAndDueFromBanks",
    ),
    "receivables": ("AccountsReceivableNetCurrent", "ReceivablesNetCurrent", "AccountsNotesAndLoansReceivableNetCurrent"),
    "inventory": ("InventoryNet", "InventoryGross", "InventoryFinishedGoodsNetOfReserves"),
    "total_liabilities": ("Liabilities",),
    "_liabilities_and_equity": ("LiabilitiesAndStockholdersEquity",),
    "current_liabilities": ("LiabilitiesCurrent",),
    "long_term_debt": (
        "LongTermDebtNoncurrent",
        "LongTermDebtAndCapitalLeaseObligations",
        "LongTermDebtAndFinanceLeasesNoncurrent",
        "LongTermNotesPayable",
    ),
    "_long_term_debt_total": ("LongTermDebt",),
    "_debt_current": ("DebtCurrent",),
    "_ltd_current": ("LongTermDebtCurrent", "LongTermDebtAndCapitalLeaseObligationsCurrent"),
    "_short_borrowings": ("ShortTermBorrowings", "CommercialPaper", "OtherShortTermBorrowings"),
    "retained_earnings": ("RetainedEarningsAccumulatedDeficit",),
    "total_equity": ("StockholdersEquity", "StockholdersEquityIncludingPortionAttributableToNoncontrollingInterest"),
    "_equity_incl_nci": ("StockholdersEquityIncludingPortionAttributableToNoncontrollingInterest", "StockholdersEquity"),
    "operating_cash_flow": (
        "NetCashProvidedByUsedInOperatingActivities",
        "NetCashProvidedByUsedInOperatingActivitiesContinuingOperations",
    ),
    "capex": ("PaymentsToAcquirePropertyPlantAndEquipment", "PaymentsToAcquireProductiveAssets", "PaymentsForCapitalImprovements"),
    "dividends_paid": ("PaymentsOfDividends", "PaymentsOfDividendsCommonStock"),
    "share_repurchases": ("PaymentsForRepurchaseOfCommonStock", "PaymentsForRepurchaseOfEquity"),
}
# Items measured over a period (the rest are balances at the period end).
FLOW_ITEMS = frozenset(
    {"revenue", "cost_of_revenue", "gross_profit", "operating_income", "_pretax", "depreciation", "interest_expense",
     "income_tax", "net_income", "eps_diluted", "_weighted_diluted_shares", "operating_cash_flow", "capex",
     "dividends_paid", "share_repurchases"}
)
# Flow items that can be de-accumulated (YTD minus previous YTD); per-share and share counts cannot.
_ADDITIVE = FLOW_ITEMS - {"eps_diluted", "_weighted_diluted_shares"}


@dataclass
class XbrlValues:
    """The line items of one filing's main period, before they become a row."""

    period_end: dt.date
    fiscal_year: int | None
    fiscal_period: str | None  # FY | Q1..Q4
    period_type: str  # annual | quarterly
    form: str | None
    items: dict[str, float | None] = field(default_factory=dict)  # raw concept picks (incl. "_" helpers)
    ytd: dict[str, float] = field(default_factory=dict)  # flow items over the fiscal year to date (10-Q)
    ytd_start: dt.date | None = None


def _fact_table(xbrl: Any) -> dict[tuple[str, str, dt.date | None, dt.date], float]:
    """Non-dimensional numeric facts: (concept local name, 'instant'|'duration', start, end) -> value."""
    df = xbrl.facts.to_dataframe()
    out: dict[tuple[str, str, dt.date | None, dt.date], float] = {}
    if df is None or len(df) == 0:
        return out
    dims = df["is_dimensioned"] if "is_dimensioned" in df.columns else None
    for i, rec in enumerate(df[["concept", "numeric_value", "period_type", "period_start", "period_end", "period_instant"]].itertuples(index=False)):
        if dims is not None and bool(dims.iloc[i] == True):  # noqa: E712 -- numpy/NaN-safe
            continue
        concept = str(rec.concept)
        prefix, _, local = concept.rpartition(":")
        if prefix not in ("us-gaap", "dei", "ifrs-full"):
            continue
        value = _num(rec.numeric_value)
        if value is None:
            continue
        if rec.period_type == "instant":
            key = (local, "instant", None, _to_date(rec.period_instant))
        else:
            key = (local, "duration", _to_date(rec.period_start), _to_date(rec.period_end))
        if key[3] is not None:
            out.setdefault(key, value)
    return out


def _main_period_end(facts: Mapping[tuple, float], stated: dt.date | None) -> dt.date:
    """The document period end, snapped to the nearest date the facts actually use (52/53-week years)."""
    ends: dict[dt.date, int] = {}
    for (_, _, _, end) in facts:
        ends[end] = ends.get(end, 0) + 1
    if stated is not None:
        near = [d for d in ends if abs((d - stated).days) <= 7]
        if stated in ends or not near:
            return stated
        return max(near, key=lambda d: ends[d])
    if not ends:
        raise ValueError("XBRL without dated facts")
    return max(ends, key=lambda d: (ends[d], d))


def xbrl_values(xbrl: Any) -> XbrlValues:
    """Pick every `CONCEPTS` item for the filing's main period (annual for a 10-K, the quarter for a 10-Q)."""
    info = dict(xbrl.entity_info or {})
    facts = _fact_table(xbrl)
    pe = _main_period_end(facts, _to_date(info.get("document_period_end_date") or xbrl.period_of_report))
    doc_type = str(info.get("document_type") or xbrl.document_type or "") or None
    fp = (str(info.get("fiscal_period") or "") or None)
    annual = bool(info.get("annual_report")) or fp == "FY" or (doc_type or "").startswith(("10-K", "20-F", "40-F"))
    fy = info.get("fiscal_year")
    durations = {(s, e) for (_, kind, s, e) in facts if kind == "duration" and e == pe and s is not None}
    lo, hi = (300, 400) if annual else (70, 110)
    main = sorted((d for d in durations if lo <= (d[1] - d[0]).days <= hi), key=lambda d: abs((d[1] - d[0]).days - (365 if annual else 91)))
    ytd_spans = sorted((d for d in durations if 70 <= (d[1] - d[0]).days <= 300), key=lambda d: d[0])
    main_span = main[0] if main else None
    ytd_span = ytd_spans[0] if (ytd_spans and not annual) else None

    def pick(item: str, span: tuple[dt.date, dt.date] | None) -> float | None:
        for concept in CONCEPTS[item]:
            if item in FLOW_ITEMS:
                if span is not None and (v := facts.get((concept, "duration", span[0], span[1]))) is not None:
                    return v
            elif (v := facts.get((concept, "instant", None, pe))) is not None:
                return v
        return None

    items = {item: pick(item, main_span) for item in CONCEPTS}
    if items["shares_outstanding"] is None:  # cover page count (dated after the period end), may be per class
        cover = [(e, v) for (c, k, _, e), v in facts.items() if c == "EntityCommonStockSharesOutstanding" and k == "instant"]
        if cover:
            items["shares_outstanding"] = max(cover)[1]
    ytd = {}
    if ytd_span is not None:
        ytd = {item: v for item in FLOW_ITEMS if (v := pick(item, ytd_span)) is not None}
    return XbrlValues(
        period_end=pe,
        fiscal_year=int(fy) if fy not in (None, "") and str(fy).isdigit() else None,
        fiscal_period="FY" if annual else fp,
        period_type="annual" if annual else "quarterly",
        form=doc_type,
        items=items,
        ytd=ytd,
        ytd_start=ytd_span[0] if ytd_span else None,
    )


def quarterize(current: XbrlValues, previous: XbrlValues | None) -> XbrlValues:
    """Fill a 10-Q's missing quarterly flow items (typically the cash-flow statement, reported year to date
    only) as its YTD minus the previous 10-Q's YTD of the same fiscal year. Needs ``previous`` to be that
    10-Q (same YTD start, earlier period end); otherwise returns ``current`` unchanged."""
    if (
        previous is None
        or current.period_type != "quarterly"
        or current.ytd_start is None
        or previous.ytd_start != current.ytd_start
        or previous.period_end >= current.period_end
    ):
        return current
    items = dict(current.items)
    for item in _ADDITIVE:
        if items.get(item) is None and item in current.ytd and item in previous.ytd:
            items[item] = current.ytd[item] - previous.ytd[item]
    return replace(current, items=items)


def _derive(raw: Mapping[str, float | None]) -> dict[str, float | None]:
    v = dict(raw)

    def add(*xs: float | None) -> float | None:
        return None if any(x is None for x in xs) else float(sum(xs))  # type: ignore[arg-type]

    if v.get("gross_profit") is None and v.get("revenue") is not None and v.get("cost_of_revenue") is not None:
        v["gross_profit"] = v["revenue"] - v["cost_of_revenue"]
    # EBIT: pre-tax income + interest expense; without both, operating income (the usual proxy).
    v["ebit"] = add(v.get("_pretax"), v.get("interest_expense"))
    if v["ebit"] is None:
        v["ebit"] = v.get("operating_income") if v.get("operating_income") is not None else v.get("_pretax")
    v["ebitda"] = add(v["ebit"], v.get("depreciation"))
    if v.get("total_liabilities") is None and v.get("_liabilities_and_equity") is not None and v.get("_equity_incl_nci") is not None:
        v["total_liabilities"] = v["_liabilities_and_equity"] - v["_equity_incl_nci"]
    if v.get("long_term_debt") is None and v.get("_long_term_debt_total") is not None:
        v["long_term_debt"] = v["_long_term_debt_total"] - (v.get("_ltd_current") or 0.0)
    if v.get("_debt_current") is not None:
        v["short_term_debt"] = v["_debt_current"]
    else:
        parts = [x for x in (v.get("_ltd_current"), v.get("_short_borrowings")) if x is not None]
        v["short_term_debt"] = float(sum(parts)) if parts else None
    if v.get("shares_outstanding") is None:
        v["shares_outstanding"] = v.get("_weighted_diluted_shares")
    # Cash-flow signs as reported: capex, dividends and repurchases are positive cash paid.
    v["free_cash_flow"] = add(v.get("operating_cash_flow"), -v["capex"] if v.get("capex") is not None else None)
    return {k: v.get(k) for k in schemas.FUNDAMENTAL_ITEMS}


def values_frame(
    values: XbrlValues, ticker: str, *, accession_no: str | None, known_at: dt.date | None, form: str | None = None
) -> pl.DataFrame:
    """An `XbrlValues` -> one `schemas.FUNDAMENTALS_RAW` row."""
    row = {
        "ticker": ticker,
        "period_end": values.period_end,
        "fiscal_year": values.fiscal_year,
        "fiscal_period": values.fiscal_period,
        "period_type": values.period_type,
        "form": form or values.form,
        "accession_no": accession_no,
        "known_at": known_at,
        **_derive(values.items),
    }
    return schemas.FUNDAMENTALS_RAW.conform(pl.DataFrame([row], schema=schemas.FUNDAMENTALS_RAW.columns))


def fundamentals_from_xbrl(
    xbrl: Any,
    ticker: str,
    *,
    accession_no: str | None = None,
    known_at: dt.date | None = None,
    form: str | None = None,
    previous: XbrlValues | None = None,
) -> pl.DataFrame:
    """An `edgar.xbrl.XBRL` (10-K or 10-Q) -> one `schemas.FUNDAMENTALS_RAW` row for its main period.

    Values are in the filing's units (USD, shares; EPS per share). Flow items cover the fiscal year for a
    10-K and the three-month quarter for a 10-Q (``previous``: the prior 10-Q's `xbrl_values`, to turn
    year-to-date cash flows into the quarter -- see `quarterize`). Items the filing does not tag are null.
    """
    values = quarterize(xbrl_values(xbrl), previous)
    return values_frame(values, ticker, accession_no=accession_no, known_at=known_at, form=form)


# --------------------------------------------------------------------------------------------- 10-K Item 1A

_ITEM_1A_START = re.compile(r"^[\s#*|>_]*item[\s\xa0]*1a[\s\xa0]*[.:\-\u2013\u2014]?[\s\xa0|*_]*risk[\s\xa0]+factors", re.I | re.M)
_ITEM_1A_END = re.compile(r"^[\s#*|>_]*item[\s\xa0]*(?:1b|1c|2)\b", re.I | re.M)


def _looks_like_html(text: str) -> bool:
    head = text[:5000].lower()
    # Markdown may carry a few inline tags; an HTML document is dense with them.
    return "<html" in head or "<body" in head or len(re.findall(r"<[a-z]", head)) >= 20


def _item_1a_by_headings(text: str) -> str:
    """Longest span from an "Item 1A ... Risk Factors" heading line to the next Item 1B/1C/2 heading line
    (the table of contents yields a one-line span, so the longest is the section itself)."""
    best = ""
    for m in _ITEM_1A_START.finditer(text):
        end = _ITEM_1A_END.search(text, m.end())
        span = text[m.start(): end.start() if end else len(text)]
        if len(span) > len(best):
            best = span
    return re.sub(r"^[\s#*|>]+", "", best).strip()


def _html_to_text(html: str) -> str:
    import lxml.html

    doc = lxml.html.fromstring(html.encode("utf-8", "ignore"), parser=lxml.html.HTMLParser(encoding="utf-8"))
    for bad in doc.xpath("//script|//style"):
        bad.drop_tree()
    for block in doc.xpath("//p|//div|//br|//tr|//li|//h1|//h2|//h3|//h4|//h5|//h6"):
        block.tail = "\n" + (block.tail or "")
    return re.sub(r"[ \t\xa0]+", " ", doc.text_content())


def extract_item_1a(text: str) -> str:
    """The Item 1A (Risk Factors) text of a 10-K, from its HTML, plain text or Markdown; "" when not found.

    HTML goes through edgartools' 10-K section detection (`edgar.documents.HTMLParser`, section
    ``risk_factors``); when that finds nothing the text (tags stripped with lxml) is cut by headings.
    """
    if not text:
        return ""
    if _looks_like_html(text):
        try:
            from edgar.documents import HTMLParser, ParserConfig

            doc = HTMLParser(ParserConfig(form="10-K")).parse(text)
            section = doc.sections.get("risk_factors") if doc is not None else None
            body = section.text().strip() if section is not None else ""
            if len(body) > 500:
                return body
        except Exception:  # noqa: BLE001 -- edgartools' parser failing falls back to the heading cut
            pass
        text = _html_to_text(text)
    return _item_1a_by_headings(text)


# --------------------------------------------------------------------------------------------- tickers


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
