"""The ``daily_prices`` rules of `meridian_assets.ingest.quality` (listed in its docstring)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

from meridian_assets import calendar
from meridian_assets.ingest import schemas
from meridian_assets.ingest.settings import QualityConfig
from meridian_assets.ingest.quality.engine import (
    DEFAULT_MAX_PER_RULE,
    Rule,
    Violations,
    _fin,
    _finite_positive_violated,
    _is_session_expr,
    _key_rules,
    _negative_or_non_finite,
    _with_key_count,
    evaluate,
)

PRICE_FIELDS: tuple[str, ...] = ("open", "high", "low", "close", "adj_close")
RANGE_TOLERANCE = 1e-9
SPLIT_TOLERANCE = 0.15


def _split_factor(prices: pl.DataFrame, corporate_actions: pl.DataFrame | None) -> pl.DataFrame:
    """Add ``__split_r``: the split ratio effective on the row's (date, ticker), null without a split."""
    if corporate_actions is None or corporate_actions.height == 0:
        return prices.with_columns(__split_r=pl.lit(None, dtype=pl.Float64))
    splits = (
        corporate_actions.filter(pl.col("action") == "split")
        .select(
            pl.col("date").cast(pl.Date),
            pl.col("ticker").cast(pl.Utf8),
            pl.col("ratio").cast(pl.Float64).alias("__split_r"),
        )
        .filter(pl.col("__split_r").is_finite() & (pl.col("__split_r") > 0))
        .unique(["date", "ticker"], keep="first")
    )
    return prices.join(splits, on=["date", "ticker"], how="left")


def _prepare_prices(
    prices: pl.DataFrame, corporate_actions: pl.DataFrame | None, with_warnings: bool
) -> pl.DataFrame:
    df = schemas.DAILY_PRICES.conform(prices)
    if not with_warnings:
        return _with_key_count(schemas.DAILY_PRICES, df)
    df = df.sort(["ticker", "date"], nulls_last=True)
    same = pl.col("ticker") == pl.col("ticker").shift(1)
    df = df.with_columns(
        __prev_close=pl.when(same).then(pl.col("close").shift(1)).otherwise(None),
        __prev_date=pl.when(same).then(pl.col("date").shift(1)).otherwise(None),
    )
    # Session index of each bar and of the previous bar -> sessions missing in between.
    dates = df.get_column("date")
    if dates.null_count() < df.height:
        sess = calendar.sessions(dates.min(), dates.max())
        sess_days = pl.Series(sess, dtype=pl.Date).to_physical().to_numpy().astype(np.int64)
        cur = dates.to_physical().fill_null(0).to_numpy().astype(np.int64)
        prev = df.get_column("__prev_date").to_physical().fill_null(0).to_numpy().astype(np.int64)
        i_cur = np.searchsorted(sess_days, cur, "left")  # index of the session on/after the bar's date
        i_prev = np.searchsorted(sess_days, prev, "right")  # first session after the previous bar
        n_missing = np.where(df.get_column("__prev_date").is_null().to_numpy(), 0, i_cur - i_prev)
        n_missing = np.maximum(n_missing, 0)
        first = sess_days[np.clip(i_prev, 0, len(sess_days) - 1)] if len(sess_days) else i_prev
        last = sess_days[np.clip(i_cur - 1, 0, len(sess_days) - 1)] if len(sess_days) else i_cur
        df = df.with_columns(
            __gap_n=pl.Series(n_missing, dtype=pl.Int64),
            __gap_from=pl.Series(first, dtype=pl.Int32).cast(pl.Date),
            __gap_to=pl.Series(last, dtype=pl.Int32).cast(pl.Date),
        )
    else:
        df = df.with_columns(
            __gap_n=pl.lit(0, dtype=pl.Int64),
            __gap_from=pl.lit(None, dtype=pl.Date),
            __gap_to=pl.lit(None, dtype=pl.Date),
        )
    df = _split_factor(df, corporate_actions)
    return df.with_columns(__move=pl.col("close") / pl.col("__prev_close") - 1.0)


def _price_rules(df: pl.DataFrame, quality: QualityConfig) -> list[Rule]:
    c, lo, hi = pl.col, pl.col("low"), pl.col("high")
    rules = _key_rules(schemas.DAILY_PRICES, df)

    def positive_reason(f: str) -> Callable[[dict[str, Any]], str]:
        def reason(row: dict[str, Any]) -> str:
            v = row[f]
            return "must be > 0" if v is None or math.isnan(v) or v <= 0 else "must be finite"

        return reason

    rules += [
        Rule("positive_price", _finite_positive_violated(f), positive_reason(f), field=f) for f in PRICE_FIELDS
    ]
    rules.append(
        Rule("negative_volume", _negative_or_non_finite("volume"), "must be >= 0 and finite", field="volume")
    )
    rules.append(Rule("high_below_low", _fin("high", "low") & (hi < lo), "must be >= low={low!r}", field="high"))
    ordered = _fin("high", "low") & (hi >= lo)
    # A close outside the day's range cannot be true. An open outside it can be a vendor's quirk (real
    # consolidated bars mix the official open with a range from other venues), so it is only a warning.
    for f, blocking in (("close", True), ("open", False)):
        outside = (c(f) < lo - RANGE_TOLERANCE * lo.abs()) | (c(f) > hi + RANGE_TOLERANCE * hi.abs())
        rules.append(
            Rule(
                f"{f}_outside_range",
                ordered & _fin(f) & outside,
                "must lie within [low={low!r}, high={high!r}]",
                field=f,
                blocking=blocking,
            )
        )
    rules.append(Rule("not_a_session", ~_is_session_expr("date", df), "not an NYSE session", field="date"))

    # warnings
    rules.append(
        Rule(
            "session_gap",
            c("__gap_n") > quality.max_gap_sessions,
            lambda row: f"no bar from {row['__gap_from']} to {row['__gap_to']}; max {quality.max_gap_sessions}",
            field="sessions_missing",
            value="__gap_n",
            date="__gap_from",
            blocking=False,
        )
    )
    rules.append(
        Rule(
            "zero_volume",
            (c("volume") == 0) & ~c("ticker").str.starts_with("^"),
            "zero volume on a stock",
            field="volume",
            blocking=False,
        )
    )
    inv = 1.0 / c("__split_r")
    deviation = (c("close") / c("__prev_close") - inv).abs()
    explained = (deviation <= SPLIT_TOLERANCE * pl.max_horizontal(inv, 1.0)).fill_null(False)
    rules.append(
        Rule(
            "large_move",
            _fin("__move") & (c("__move").abs() > quality.max_abs_daily_move) & ~explained,
            lambda row: (
                f"close-to-close move {row['__move']:+.1%} from {row['__prev_close']!r} on {row['__prev_date']}"
                f" exceeds {quality.max_abs_daily_move:.0%} and no split explains it"
            ),
            field="close",
            blocking=False,
        )
    )
    return rules


def price_violations(
    prices: pl.DataFrame,
    *,
    blocking: bool,
    corporate_actions: pl.DataFrame | None = None,
    quality: QualityConfig | None = None,
    max_per_rule: int = DEFAULT_MAX_PER_RULE,
) -> Violations:
    """The blocking (``blocking=True``) or warning (``blocking=False``) violations of a ``daily_prices``
    frame; rules in the module docstring. ``corporate_actions`` (splits) explains large moves;
    ``quality`` gives the warning thresholds (default `QualityConfig()`)."""
    quality = quality or QualityConfig()
    if prices.height == 0:
        return Violations()
    df = _prepare_prices(prices, corporate_actions, with_warnings=not blocking)
    # (the warning rules' helper columns are only built when warnings are asked for; the rules of the other
    # severity are filtered out before anything is evaluated)
    return evaluate("daily_prices", df, _price_rules(df, quality), blocking=blocking, max_per_rule=max_per_rule)
