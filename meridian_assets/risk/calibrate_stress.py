"""Regenerate `risk/data/stress_shocks.json` from real SPY and SPDR sector-ETF closes.

Each historical scenario is the total return of SPY and of every sector ETF over a fixed, documented window
(close on the last trading day on/before `end` ÷ close on the last trading day before `start`, i.e. the move
*through* the window), computed from the adjusted closes in `etf_index_daily.parquet`:

    2008 Crisis      2008-09-01 .. 2009-03-09   (Lehman to the March 2009 low)
    2020 Covid       2020-02-19 .. 2020-03-23   (S&P peak to trough)
    2022 Rate Hikes  2022-01-03 .. 2022-10-12   (S&P peak to the October low)

A sector ETF with no price history covering the window (XLC starts 2018-06, XLRE 2015-10, so both miss 2008)
falls back to SPY's move; the fallback is listed per scenario under `fallback_to_spy`.

Run:  .venv/bin/python -m meridian_assets.risk.calibrate_stress [--source PATH] [--out PATH]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

import polars as pl

from meridian_assets.factors.settings import ScoringConfig

DEFAULT_SOURCE = Path(__file__).resolve().parents[3] / "shared" / "realdata" / "prices" / "etf_index_daily.parquet"
DEFAULT_OUT = Path(__file__).resolve().parent / "data" / "stress_shocks.json"

WINDOWS: dict[str, tuple[dt.date, dt.date]] = {
    "2008 Crisis": (dt.date(2008, 9, 1), dt.date(2009, 3, 9)),
    "2020 Covid": (dt.date(2020, 2, 19), dt.date(2020, 3, 23)),
    "2022 Rate Hikes": (dt.date(2022, 1, 3), dt.date(2022, 10, 12)),
}

# GICS sector -> SPDR sector ETF: the one mapping, in configuration.
SECTOR_ETFS: dict[str, str] = dict(ScoringConfig().sector_etfs)


def window_return(closes: pl.DataFrame, start: dt.date, end: dt.date) -> float | None:
    """Return over [start, end] for one ticker's (date, close) frame; None if history does not cover it."""
    before = closes.filter(pl.col("date") < start).sort("date")
    through = closes.filter(pl.col("date") <= end).sort("date")
    if before.is_empty() or through.is_empty() or through["date"][-1] < start:
        return None
    return float(through["close"][-1] / before["close"][-1] - 1.0)


def calibrate(prices: pl.DataFrame) -> dict:
    """Build the JSON document (scenarios -> SPY move, per-sector shocks, fallbacks) from a price frame."""
    scenarios = {}
    for name, (start, end) in WINDOWS.items():
        spy = window_return(prices.filter(pl.col("ticker") == "SPY"), start, end)
        if spy is None:
            raise ValueError(f"stress calibration: SPY has no closes covering {name} {start}..{end}")
        shocks, fallback = {}, []
        for sector, etf in SECTOR_ETFS.items():
            ret = window_return(prices.filter(pl.col("ticker") == etf), start, end)
            if ret is None:
                fallback.append(sector)
                ret = spy
            shocks[sector] = round(ret, 6)
        scenarios[name] = {
            "window": [start.isoformat(), end.isoformat()],
            "spy": round(spy, 6),
            "sector_shocks": shocks,
            "fallback_to_spy": fallback,
        }
    return {
        "source": "shared/realdata/prices/etf_index_daily.parquet (Yahoo Finance adjusted closes)",
        "method": "close(last day <= end) / close(last day < start) - 1; missing sector ETF -> SPY move",
        "sector_etfs": SECTOR_ETFS,
        "scenarios": scenarios,
    }


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    prices = pl.read_parquet(args.source, columns=["date", "ticker", "close"])
    doc = calibrate(prices)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n")
    return args.out


if __name__ == "__main__":
    print(main())
