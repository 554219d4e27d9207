"""Positions and trades: the executed ledger, holdings through time, open positions marked to market, round
trips matched last-in-first-out, and the predictive power of the entry score.

**The ledger.** `position_approvals` rows with status EXECUTED, in execution order (date, decision time;
on one timestamp closing trades before opening ones). BUY opens or adds to a long, SELL reduces it, SHORT
opens or adds to a short, COVER reduces it; `shares` is positive and the direction is in the action.

**Units.** Trades are booked as traded, so a split between two trades would make their share counts and
prices incomparable. Each trade is restated in *split-adjusted units* with ``C(d)``, the product of the split
ratios (new shares per old, `corporate_actions`) effective on or before its date: ``units = shares / C(d)``
and ``unit_price = price · C(d)`` (``units · unit_price = shares · price``). Lots are matched and valued in
these units, so a 2:1 split between entry and exit changes nothing; the shares held on a later date t are
``units · C(t)``. Dividends are income, not trade P&L, and are left out.

**Corporate actions** besides splits, as the portfolio layer's replay applies them: a ticker change renames
the earlier trades (and prices) to the new ticker (`rename_tickers`), and a delisting closes whatever is
still held at the last close, before that day's trades (a closing row with rebalance id ``delisting``).

**Round trips (LIFO).** Each closing trade is paired with the most recent earlier opening lots of the same
ticker and side; a partial close splits the lot. A round trip's ``return_pct`` is side-adjusted (a short
that falls 10% earns +10%), ``price_return`` is the stock's own return from entry to exit.

**Predictive power.** Spearman rank correlation between the composite score at entry and the stock's own
price return (not side-adjusted, so a score that ranks stocks well gives a positive value on both sides),
over open and closed positions, when there are at least 5 of them.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import polars as pl

from meridian_assets import calendar
from meridian_assets.errors import DataError

SIGN = {"BUY": 1, "SELL": -1, "SHORT": -1, "COVER": 1}  # signed share change
SIDE_OF = {"BUY": 1, "SELL": 1, "SHORT": -1, "COVER": -1}  # the side (long +1 / short -1) a trade acts on
OPENING = {"BUY", "SHORT"}
SIDE_NAME = {1: "LONG", -1: "SHORT"}
EPS = 1e-6


def split_factors(splits: pl.DataFrame | None, keys: pl.DataFrame) -> pl.DataFrame:
    """``keys`` (date, ticker, ...) with ``c``: the cumulative split factor C on each date (1 without splits).

    ``splits``: `corporate_actions` rows with action 'split' (date = ex date, ratio = new shares per old).
    """
    if splits is None or splits.height == 0 or keys.height == 0:
        return keys.with_columns(pl.lit(1.0).alias("c"))
    cum = (splits.filter(pl.col("action") == "split").select("ticker", pl.col("date").alias("_split_date"),
                                                              "ratio")
           .sort("ticker", "_split_date").with_columns(pl.col("ratio").cum_prod().over("ticker").alias("c"))
           .sort("_split_date"))
    return (keys.sort("date").join_asof(cum.select("ticker", "_split_date", "c"), left_on="date",
                                        right_on="_split_date", by="ticker", strategy="backward",
                                        check_sortedness=False)
            .drop("_split_date").with_columns(pl.col("c").fill_null(1.0)))


def rename_tickers(frame: pl.DataFrame, actions: pl.DataFrame | None, date_col: str = "date") -> pl.DataFrame:
    """``frame`` with each ticker renamed to the name it trades under after every ticker change (rows dated
    before a change of ``ticker`` to ``new_ticker`` take ``new_ticker``); changes are applied in date order."""
    if actions is None or actions.height == 0 or frame.height == 0:
        return frame
    changes = actions.filter((pl.col("action") == "ticker_change") & pl.col("new_ticker").is_not_null()).sort("date")
    for d, old, new in changes.select("date", "ticker", "new_ticker").iter_rows():
        frame = frame.with_columns(pl.when((pl.col("ticker") == old) & (pl.col(date_col) < d)).then(pl.lit(new))
                                   .otherwise(pl.col("ticker")).alias("ticker"))
    return frame


def _delisting_closes(ex: pl.DataFrame, actions: pl.DataFrame | None, prices: pl.DataFrame | None) -> pl.DataFrame:
    """Closing rows for the units held when a name is delisted, at its last close on or before that day."""
    if actions is None or prices is None or ex.height == 0:
        return ex.head(0)
    rows = []
    for d, t in actions.filter(pl.col("action") == "delisting").select("date", "ticker").iter_rows():
        before = ex.filter((pl.col("ticker") == t) & (pl.col("date") < d))
        units = float((before["units"] * before["sign"]).sum()) if before.height else 0.0
        px = prices.filter((pl.col("ticker") == t) & (pl.col("date") <= d)).sort("date")
        if abs(units) <= EPS or px.height == 0:
            continue
        c = float(before["c"][-1])
        close = float(px["close"][-1])
        side = 1 if units > 0 else -1
        rows.append({"rebalance_id": "delisting", "date": d, "ticker": t, "sector": before["sector"][-1],
                     "action": "SELL" if side > 0 else "COVER", "shares": int(round(abs(units) * c)), "price": close,
                     "score": None, "decided_at": dt.datetime.combine(d, dt.time(0)), "c": c,
                     "sign": -side, "side": side, "opening": False, "units": abs(units), "unit_price": close * c,
                     "signed_shares": -side * int(round(abs(units) * c))})
    return pl.DataFrame(rows, schema=ex.schema) if rows else ex.head(0)


def executed_ledger(approvals: pl.DataFrame, actions: pl.DataFrame | None = None,
                    prices: pl.DataFrame | None = None) -> pl.DataFrame:
    """EXECUTED trades in execution order with signed shares, side and split-adjusted units, plus the closes
    delistings force (module docstring). ``actions``: `corporate_actions` rows; ``prices``: daily_prices."""
    cols = ["rebalance_id", "date", "ticker", "sector", "action", "shares", "price", "score", "decided_at"]
    if approvals.height == 0:
        ex = pl.DataFrame(schema={c: approvals.schema.get(c, pl.Utf8) for c in cols})
    else:
        ex = approvals.filter(pl.col("status") == "EXECUTED").select(cols)
    bad = ex.filter(~pl.col("action").is_in(list(SIGN)) | (pl.col("shares") <= 0) | (pl.col("price") <= 0))
    if bad.height:
        r = bad.row(0, named=True)
        raise DataError("position_approvals", "executed trades need action BUY/SELL/SHORT/COVER, shares > 0 and "
                        "price > 0", ticker=r["ticker"], date=r["date"], field="action/shares/price",
                        value=(r["action"], r["shares"], r["price"]))
    splits = actions.filter(pl.col("action") == "split") if actions is not None and actions.height else None
    ex = split_factors(splits, ex.with_row_index("_order")).sort("_order").drop("_order")
    ex = ex.with_columns(
        pl.col("action").replace_strict(SIGN, return_dtype=pl.Int64).alias("sign"),
        pl.col("action").replace_strict(SIDE_OF, return_dtype=pl.Int64).alias("side"),
        pl.col("action").is_in(list(OPENING)).alias("opening"),
    )
    ex = ex.with_columns(
        (pl.col("shares") / pl.col("c")).alias("units"),
        (pl.col("price") * pl.col("c")).alias("unit_price"),
        (pl.col("shares") * pl.col("sign")).alias("signed_shares"),
    )
    ex = pl.concat([ex, _delisting_closes(ex, actions, prices)], how="vertical_relaxed")
    return ex.sort("date", pl.col("decided_at").fill_null(dt.datetime(1970, 1, 1)), "opening", "ticker",
                   "rebalance_id", maintain_order=True)


@dataclass
class Lot:
    ticker: str
    sector: str | None
    side: int
    date: dt.date
    units: float
    unit_price: float
    c: float
    score: float | None
    rebalance_id: str | None


@dataclass
class LotMatch:
    """Closed pieces (one row per matched lot piece), the lots still open, and closes that found no lot."""

    closed: pl.DataFrame
    open_lots: list[Lot]
    unmatched_units: float


def match_lots(ledger: pl.DataFrame, order: str = "lifo") -> LotMatch:
    """Pair each closing trade with open lots of its ticker and side, ``lifo`` (most recent first) or ``fifo``."""
    if order not in ("lifo", "fifo"):
        raise ValueError(f"order must be lifo or fifo, got {order!r}")
    books: dict[tuple[str, int], list[Lot]] = defaultdict(list)
    pieces, unmatched = [], 0.0
    for t in ledger.iter_rows(named=True):
        key = (t["ticker"], t["side"])
        if t["opening"]:
            books[key].append(Lot(t["ticker"], t["sector"], t["side"], t["date"], t["units"], t["unit_price"],
                                  t["c"], t["score"], t["rebalance_id"]))
            continue
        need, lots = t["units"], books[key]
        while need > EPS and lots:
            lot = lots[-1] if order == "lifo" else lots[0]
            take = min(need, lot.units)
            pnl = take * (t["unit_price"] - lot.unit_price) * lot.side
            pieces.append({
                "ticker": lot.ticker, "sector": lot.sector or t["sector"], "side": SIDE_NAME[lot.side],
                "entry_date": lot.date, "exit_date": t["date"], "shares": int(round(take * lot.c)),
                "units": take, "entry_price": lot.unit_price / lot.c, "exit_price": t["price"],
                "entry_score": lot.score, "pnl": pnl,
                "price_return": t["unit_price"] / lot.unit_price - 1.0,
                "cost_basis": take * lot.unit_price, "rebalance_id": t["rebalance_id"],
            })
            lot.units -= take
            need -= take
            if lot.units <= EPS:
                lots.remove(lot)
        unmatched += max(need, 0.0) if need > EPS else 0.0
    schema = {"ticker": pl.Utf8, "sector": pl.Utf8, "side": pl.Utf8, "entry_date": pl.Date, "exit_date": pl.Date,
              "shares": pl.Int64, "units": pl.Float64, "entry_price": pl.Float64, "exit_price": pl.Float64,
              "entry_score": pl.Float64, "pnl": pl.Float64, "price_return": pl.Float64,
              "cost_basis": pl.Float64, "rebalance_id": pl.Utf8}
    closed = pl.DataFrame(pieces, schema=schema)
    closed = closed.with_columns(
        (pl.col("price_return") * pl.when(pl.col("side") == "LONG").then(1.0).otherwise(-1.0)).alias("return_pct"),
        pl.struct("entry_date", "exit_date").map_elements(
            lambda s: holding_sessions(s["entry_date"], s["exit_date"]), return_dtype=pl.Int64
        ).alias("holding_days") if closed.height else pl.lit(None, dtype=pl.Int64).alias("holding_days"),
    )
    open_lots = [lot for lots in books.values() for lot in lots]
    return LotMatch(closed, open_lots, unmatched)


def holding_sessions(entry: dt.date, exit_: dt.date) -> int:
    """Sessions held: the number of session closes after the entry session up to and including the exit."""
    return max(len(calendar.sessions(entry, exit_)) - 1, 0)


def round_trips(ledger: pl.DataFrame) -> pl.DataFrame:
    """Closed round trips, LIFO (see the module docstring)."""
    return match_lots(ledger, "lifo").closed


def holdings_history(ledger: pl.DataFrame, prices: pl.DataFrame, dates: list[dt.date],
                     splits: pl.DataFrame | None = None) -> pl.DataFrame:
    """``(date, ticker, sector, units, market_value)`` at each date's close: the cumulative signed units
    traded up to and including that date, valued at ``units · C(t) · close_t`` (signed market value)."""
    schema = {"date": pl.Date, "ticker": pl.Utf8, "sector": pl.Utf8, "units": pl.Float64,
              "market_value": pl.Float64}
    if ledger.height == 0 or not dates:
        return pl.DataFrame(schema=schema)
    deltas = (ledger.group_by("date", "ticker").agg((pl.col("units") * pl.col("sign")).sum().alias("d"),
                                                    pl.col("sector").last()))
    tickers = deltas["ticker"].unique().sort()
    sectors = deltas.group_by("ticker").agg(pl.col("sector").last())
    grid = (pl.DataFrame({"date": pl.Series(sorted(dates), dtype=pl.Date)})
            .join(pl.DataFrame({"ticker": tickers}), how="cross"))
    # trades before the first requested date still count
    first = min(dates)
    prior = deltas.filter(pl.col("date") < first).group_by("ticker").agg(pl.col("d").sum().alias("prior"))
    held = (grid.join(deltas.filter(pl.col("date") >= first).select("date", "ticker", "d"),
                      on=["date", "ticker"], how="left")
            .join(prior, on="ticker", how="left")
            .with_columns(pl.col("d").fill_null(0.0), pl.col("prior").fill_null(0.0))
            .sort("ticker", "date")
            .with_columns((pl.col("d").cum_sum().over("ticker") + pl.col("prior")).alias("units")))
    px = prices.select("date", "ticker", "close")
    held = (held.join(px, on=["date", "ticker"], how="left").sort("ticker", "date")
            .with_columns(pl.col("close").forward_fill().over("ticker"))
            .filter(pl.col("units").abs() > EPS))
    held = split_factors(splits, held).join(sectors, on="ticker", how="left")
    held = held.with_columns((pl.col("units") * pl.col("c") * pl.col("close")).alias("market_value"))
    return held.select(list(schema)).sort("date", "ticker")


def mark_open_positions(positions: pl.DataFrame, prices: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
    """Open positions from `portfolio_positions` marked at the latest close on or before ``as_of``."""
    schema = {"ticker": pl.Utf8, "sector": pl.Utf8, "side": pl.Utf8, "entry_date": pl.Date, "shares": pl.Int64,
              "entry_price": pl.Float64, "exit_price": pl.Float64, "entry_score": pl.Float64, "pnl": pl.Float64,
              "return_pct": pl.Float64, "price_return": pl.Float64, "holding_days": pl.Int64}
    pos = positions.filter(pl.col("shares") != 0) if positions.height else positions
    if pos.height == 0:
        return pl.DataFrame(schema=schema)
    last = (prices.filter(pl.col("date") <= as_of).sort("date").group_by("ticker")
            .agg(pl.col("close").last().alias("mark")))
    out = (pos.join(last, on="ticker", how="left")
           .with_columns(pl.coalesce("mark", "last_price").alias("exit_price"))
           .with_columns(
               pl.when(pl.col("shares") > 0).then(pl.lit("LONG")).otherwise(pl.lit("SHORT")).alias("side"),
               pl.col("avg_cost").alias("entry_price"),
               pl.col("entry_score"),
               (pl.col("shares") * (pl.col("exit_price") - pl.col("avg_cost"))).alias("pnl"),
               (pl.col("exit_price") / pl.col("avg_cost") - 1).alias("price_return"),
           ).with_columns(
               (pl.col("price_return") * pl.col("shares").sign()).alias("return_pct"),
               pl.col("entry_date").map_elements(lambda d: holding_sessions(d, as_of),
                                                 return_dtype=pl.Int64).alias("holding_days"),
           ))
    return out.select(list(schema))


def open_lots_frame(lots: list[Lot], prices: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
    """Open lots left by the ledger, marked at ``as_of`` (used when `portfolio_positions` is empty)."""
    if not lots:
        return mark_open_positions(pl.DataFrame(), prices, as_of)
    rows = pl.DataFrame([{"ticker": lot.ticker, "sector": lot.sector, "shares": int(round(lot.side * lot.units * lot.c)),
                          "avg_cost": lot.unit_price / lot.c, "entry_date": lot.date, "entry_score": lot.score,
                          "last_price": None} for lot in lots],
                        schema_overrides={"last_price": pl.Float64, "entry_score": pl.Float64})
    agg = rows.group_by("ticker", "entry_date").agg(
        pl.col("sector").first(), pl.col("shares").sum(),
        ((pl.col("avg_cost") * pl.col("shares").abs()).sum() / pl.col("shares").abs().sum()).alias("avg_cost"),
        pl.col("entry_score").first(), pl.col("last_price").first())
    return mark_open_positions(agg, prices, as_of)


@dataclass(frozen=True)
class PredictivePower:
    rho: float | None
    p_value: float | None
    points: int
    min_points: int

    @property
    def defined(self) -> bool:
        return self.rho is not None


def predictive_power(frame: pl.DataFrame, min_points: int = 5) -> PredictivePower:
    """Spearman(entry score, price return) over the rows having both (None below ``min_points``)."""
    from scipy import stats as sps

    ok = frame.drop_nulls(["entry_score", "price_return"]).filter(
        pl.col("entry_score").is_finite() & pl.col("price_return").is_finite()) if frame.height else frame
    n = ok.height
    if n < min_points:
        return PredictivePower(None, None, n, min_points)
    x, y = ok["entry_score"].to_numpy(), ok["price_return"].to_numpy()
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return PredictivePower(None, None, n, min_points)
    res = sps.spearmanr(x, y)
    return PredictivePower(float(res.statistic), float(res.pvalue), n, min_points)
