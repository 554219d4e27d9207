"""Page III, Risk: breaker bars, risk decomposition, MCTR, alerts and stress, from the latest risk state."""

from __future__ import annotations

import json

import polars as pl

from meridian_assets.desk.source import Snapshot


def state(snap: Snapshot) -> dict | None:
    row = snap.query("SELECT state_json FROM risk_state ORDER BY as_of DESC LIMIT 1")
    return json.loads(row["state_json"][0]) if row.height else None


def breaker_bars(doc: dict, cfg) -> list[dict]:
    """One bar per breaker: the loss against its threshold, the fill fraction (capped at 1) and FIRED."""
    r = cfg.risk
    daily = -(doc.get("daily_return") or 0.0)
    weekly = -(doc.get("weekly_return") or 0.0)
    dd = doc.get("drawdown") or 0.0
    bars = [("Daily loss (size down)", daily, r.daily_loss_size_down),
            ("Daily loss (close all)", daily, r.daily_loss_close_all),
            ("5-day loss", weekly, r.weekly_loss_size_down),
            ("Drawdown (kill switch)", dd, r.drawdown_kill)]
    fired = {e["trigger"] for e in (doc.get("breakers") or {}).get("events", [])}
    names = {"Daily loss (size down)": "daily_loss_size_down", "Daily loss (close all)": "daily_loss_close_all",
             "5-day loss": "weekly_loss", "Drawdown (kill switch)": "drawdown"}
    return [{"breaker": name, "value": max(v, 0.0), "threshold": t, "fill": min(max(v, 0.0) / t, 1.0),
             "fired": names[name] in fired or v > t} for name, v, t in bars]


def decomposition(doc: dict) -> dict | None:
    d = doc.get("decomposition")
    if not d:
        return None
    return {"sigma": d["sigma"], "factor_share": d["factor_share"], "specific_share": 1.0 - d["factor_share"],
            "factor_contributions": doc.get("factor_contributions") or {}}


MCTR_FLAG_MULTIPLE = 1.5  # the risk model's flag: a name's share of risk above 1.5x its share of gross


def mctr_table(doc: dict) -> pl.DataFrame:
    """The largest contributors to risk: (ticker, weight, mctr, risk_share, gross_share, risk_to_weight,
    flagged). ``mctr`` is the name's contribution to the book's volatility (they sum to sigma), ``risk_share``
    = mctr / sigma, ``gross_share`` = |weight| / gross over the whole book (not only the rows shown), and
    ``risk_to_weight`` their ratio; the model flags a name when that ratio exceeds 1.5."""
    rows = doc.get("top_mctr") or []
    if not rows:
        return pl.DataFrame()
    df = pl.DataFrame(rows)
    gross = (doc.get("exposures") or {}).get("gross") or float(df["weight"].abs().sum())
    return df.select(
        "ticker", "weight", "mctr", pl.col("mctr_pct").alias("risk_share"),
        (pl.col("weight").abs() / gross).alias("gross_share"),
        (pl.col("mctr_pct") / (pl.col("weight").abs() / gross)).alias("risk_to_weight"), "flagged")


def alerts(snap: Snapshot, days: int = 3) -> pl.DataFrame:
    """Alerts of the risk states of the last ``days`` sessions (the spec's 72 hours), newest first."""
    rows = snap.query("SELECT as_of, trading_state, state_json FROM risk_state ORDER BY as_of DESC LIMIT ?", [days])
    out = []
    for r in rows.iter_rows(named=True):
        out += [{"as_of": r["as_of"], "trading_state": r["trading_state"], "alert": a}
                for a in json.loads(r["state_json"]).get("alerts", [])]
    return pl.DataFrame(out) if out else pl.DataFrame(schema={"as_of": pl.Date, "trading_state": pl.Utf8,
                                                              "alert": pl.Utf8})


def stress(doc: dict) -> pl.DataFrame:
    return pl.DataFrame(doc.get("stress") or [])
