"""10-K / 10-Q XBRL financial statements -> one ``fundamentals_raw`` row for the filing's main period.

edgartools reads the XBRL (`edgar.xbrl.XBRL`, from a filing or from files) and gives its fact table
(`xbrl.facts.to_dataframe()`); the us-gaap concept -> line-item mapping with fallbacks (`CONCEPTS`), the
choice of the main period, the de-accumulation of year-to-date flows and the derived items are ours.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import polars as pl

from meridian_assets.ingest import schemas
from meridian_assets.ingest.providers.edgar_parse.common import num, to_date

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
        value = num(rec.numeric_value)
        if value is None:
            continue
        if rec.period_type == "instant":
            key = (local, "instant", None, to_date(rec.period_instant))
        else:
            key = (local, "duration", to_date(rec.period_start), to_date(rec.period_end))
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
    pe = _main_period_end(facts, to_date(info.get("document_period_end_date") or xbrl.period_of_report))
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
