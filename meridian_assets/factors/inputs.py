"""What the scoring maths reads: the Layer-1 frames in one `ScoringInputs`, from DuckDB or from a provider.

Pure data plumbing, no Dagster. Every frame is conformed to its `meridian_assets.ingest.schemas` table, so the
characteristics never meet a missing column (a missing table is an empty frame in its schema).

**Windows.** Scoring dates run from ``start`` to ``end``. Fast data (prices, estimates, short interest, insider
transactions and clusters) is read from ``start - lookback_days``: 12-1 momentum needs 252 sessions
(~366 calendar days) before the first scored date, so the default 400 days is the minimum that keeps
``mom_12_1`` non-null on ``start``. Slow data (fundamentals, ratios, 13-F summaries, corporate actions) is read
from ``start - lookback_days - FUNDAMENTAL_EXTRA_DAYS`` so a trailing-twelve-month and a prior-year TTM
(eight quarters) are known on the first scored date. Nothing dated or known after ``end`` is read.

**Identity.** Prices meet membership through ``security_id`` (`ingest.identity.follow_identity`): bars sit
under each date's ticker, so a renamed company's history is continuous through the universe's successor
links, and a reused ticker never lends a later company's bars to the earlier one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields, replace

import polars as pl

from meridian_assets.errors import ProviderUnsupported
from meridian_assets.ingest.identity import follow_identity, security_ids
from meridian_assets.ingest.insiders import insider_cluster_flags
from meridian_assets.ingest.institutional import institutional_summary
from meridian_assets.ingest.ratios import compute_ratios
from meridian_assets.ingest.schemas import (
    ANALYST_ESTIMATES, CORPORATE_ACTIONS, DAILY_PRICES, FUNDAMENTAL_RATIOS, FUNDAMENTALS_RAW, INSIDER_CLUSTER_FLAGS,
    INSIDER_TRANSACTIONS, INSTITUTIONAL_HOLDINGS, INSTITUTIONAL_SUMMARY, SHORT_INTEREST, UNIVERSE, TableSchema,
)

# Extra calendar days of slow-moving data (8 quarters of filings plus a filing lag).
FUNDAMENTAL_EXTRA_DAYS = 800
DEFAULT_LOOKBACK_DAYS = 400

# field -> (schema, point-in-time column: the date a row is dated or becomes known)
_FIELDS: dict[str, tuple[TableSchema, str | None]] = {
    "universe": (UNIVERSE, None),
    "prices": (DAILY_PRICES, "date"),
    "corporate_actions": (CORPORATE_ACTIONS, "known_at"),
    "fundamentals_raw": (FUNDAMENTALS_RAW, "known_at"),
    "fundamental_ratios": (FUNDAMENTAL_RATIOS, "known_at"),
    "analyst_estimates": (ANALYST_ESTIMATES, "date"),
    "short_interest": (SHORT_INTEREST, "date"),
    "insider_transactions": (INSIDER_TRANSACTIONS, "known_at"),
    "insider_cluster_flags": (INSIDER_CLUSTER_FLAGS, "known_at"),
    "institutional_summary": (INSTITUTIONAL_SUMMARY, "known_at"),
}
# Slow tables get the extended window; the rest start at start - lookback.
_SLOW = ("corporate_actions", "fundamentals_raw", "fundamental_ratios", "institutional_summary")


@dataclass
class ScoringInputs:
    """The Layer-1 frames the characteristics need, each in its ingest schema.

    ``prices`` holds stocks *and* benchmarks (SPY, the sector ETFs, ^VIX). ``start``/``end`` are the scoring
    window the frames were read for (the frames themselves reach back further, see the module docstring).
    """

    start: dt.date
    end: dt.date
    universe: pl.DataFrame
    prices: pl.DataFrame
    corporate_actions: pl.DataFrame
    fundamentals_raw: pl.DataFrame
    fundamental_ratios: pl.DataFrame
    analyst_estimates: pl.DataFrame
    short_interest: pl.DataFrame
    insider_transactions: pl.DataFrame
    insider_cluster_flags: pl.DataFrame
    institutional_summary: pl.DataFrame

    def frames(self) -> dict[str, pl.DataFrame]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name in _FIELDS}

    def sessions(self) -> list[dt.date]:
        """Trading sessions in ``[start, end]``: the distinct price dates."""
        d = self.prices.filter(pl.col("date").is_between(self.start, self.end)).get_column("date")
        return d.unique().sort().to_list()

    def truncated(self, as_of: dt.date) -> ScoringInputs:
        """A copy holding only what was dated or known on or before ``as_of`` (the universe is kept)."""
        out = {}
        for name, frame in self.frames().items():
            col = _FIELDS[name][1]
            out[name] = frame if col is None else frame.filter(pl.col(col) <= as_of)
        return replace(self, end=min(self.end, as_of), **out)


def pit_column(name: str) -> str | None:
    """The column a `ScoringInputs` frame is dated or known by (None for the universe)."""
    return _FIELDS[name][1]


def _table_exists(conn, name: str) -> bool:
    sql = "SELECT count(*) FROM information_schema.tables WHERE table_name = ?"
    return bool(conn.execute(sql, [name]).fetchall()[0][0])


def load_inputs(conn, start: dt.date, end: dt.date, lookback_days: int = DEFAULT_LOOKBACK_DAYS) -> ScoringInputs:
    """Read the scoring inputs for ``[start, end]`` from DuckDB (see the module docstring for the windows).

    A table that does not exist yet comes back empty in its schema (its sub-factors then score as degenerate).
    """
    from meridian_assets.storage import read

    fast_lo = start - dt.timedelta(days=lookback_days)
    slow_lo = fast_lo - dt.timedelta(days=FUNDAMENTAL_EXTRA_DAYS)
    out: dict[str, pl.DataFrame] = {}
    for name, (schema, col) in _FIELDS.items():
        if not _table_exists(conn, schema.name):
            out[name] = schema.empty()
            continue
        if col is None:
            df = read(conn, f'SELECT * FROM "{schema.name}" WHERE start_date <= ?', [end])
        elif name == "corporate_actions":  # effective in the window and announced by its end
            sql = f'SELECT * FROM "{schema.name}" WHERE "date" BETWEEN ? AND ? AND known_at <= ?'
            df = read(conn, sql, [slow_lo, end, end])
        else:
            lo = slow_lo if name in _SLOW else fast_lo
            df = read(conn, f'SELECT * FROM "{schema.name}" WHERE "{col}" BETWEEN ? AND ?', [lo, end])
        out[name] = schema.conform(df) if df.height else schema.empty()
    return _identified(ScoringInputs(start=start, end=end, **out))


def _identified(inputs: ScoringInputs) -> ScoringInputs:
    """Prices joined to membership through the security, not the ticker alone: every row carries its
    ``security_id``, and a bar whose (date, ticker) is another company's membership that day (a reused
    ticker) is dropped, so it can never be scored as the earlier company."""
    universe = security_ids(inputs.universe)
    prices = DAILY_PRICES.conform(follow_identity(universe, inputs.prices)) if inputs.prices.height else inputs.prices
    return replace(inputs, universe=universe, prices=prices)


def _fetch(call, schema: TableSchema) -> pl.DataFrame:
    try:
        frame = call().frame
    except ProviderUnsupported:
        return schema.empty()
    return schema.conform(frame) if frame.height else schema.empty()


def inputs_from_provider(
    provider, start: dt.date, end: dt.date, lookback_days: int = DEFAULT_LOOKBACK_DAYS
) -> ScoringInputs:
    """The same inputs straight from a Provider (no DuckDB): for tests, benchmarks and notebooks.

    The derived tables are computed with the ingest functions: ``fundamental_ratios`` by `compute_ratios`,
    ``insider_cluster_flags`` by `insider_cluster_flags`, ``institutional_summary`` by `institutional_summary`.
    """
    fast_lo = start - dt.timedelta(days=lookback_days)
    slow_lo = fast_lo - dt.timedelta(days=FUNDAMENTAL_EXTRA_DAYS)
    universe = UNIVERSE.conform(provider.universe(end))
    universe = universe.filter(pl.col("start_date") <= end)
    all_tickers = universe.get_column("ticker").unique().sort().to_list()
    stocks = universe.filter(~pl.col("is_benchmark")).get_column("ticker").unique().sort().to_list()

    prices = _fetch(lambda: provider.daily_prices(all_tickers, fast_lo, end), DAILY_PRICES)
    actions = _fetch(lambda: provider.corporate_actions(stocks, slow_lo, end), CORPORATE_ACTIONS)
    actions = actions.filter(pl.col("known_at") <= end)
    fundamentals = _fetch(lambda: provider.fundamentals(stocks, slow_lo, end), FUNDAMENTALS_RAW)
    estimates = _fetch(lambda: provider.analyst_estimates(stocks, fast_lo, end), ANALYST_ESTIMATES)
    short = _fetch(lambda: provider.short_interest(stocks, fast_lo, end), SHORT_INTEREST)
    insiders = _fetch(lambda: provider.insider_transactions(stocks, fast_lo, end), INSIDER_TRANSACTIONS)
    funds = getattr(provider, "funds", None)
    holdings = _fetch(lambda: provider.institutional_holdings(funds, stocks, slow_lo, end), INSTITUTIONAL_HOLDINGS)
    return _identified(ScoringInputs(
        start=start,
        end=end,
        universe=universe,
        prices=prices,
        corporate_actions=actions,
        fundamentals_raw=fundamentals,
        fundamental_ratios=compute_ratios(fundamentals, prices) if fundamentals.height else FUNDAMENTAL_RATIOS.empty(),
        analyst_estimates=estimates,
        short_interest=short,
        insider_transactions=insiders,
        insider_cluster_flags=insider_cluster_flags(insiders),
        institutional_summary=institutional_summary(holdings),
    ))
