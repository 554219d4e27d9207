"""Value, quality and growth characteristics, with the Piotroski F-score and the Altman Z-score, as known at D.

Fundamentals are turned into one **snapshot per filing event**: for every (entity, K) where K is a session on
which some filing of the entity became known, the rows known by K (the latest-known version of each period)
give:

* ``TTM`` flows = the sum of the four latest quarterly rows when their period ends span 240-310 days (four
  consecutive quarters), else the latest annual row; ``prior TTM`` = the four quarters before them when they
  end 330-400 days earlier (else the prior annual row, 330-400 days before the current one);
* stocks (balance-sheet items) from the latest row, and from the prior-year row for Piotroski;
* EPS restated into the latest period end's share basis with the splits in between (so a 2:1 split inside
  the window is not a -50% EPS change), and the prior share count likewise (so a split is not dilution).

Snapshots are then joined to the panel as of D (``known_at <= D``, at most 550 days old), market values use
the close at D and the latest share count restated to D's basis. `piotroski_f_score` and `altman_z_score`
of `meridian_assets.ingest.ratios` compute the two scores (Piotroski on the snapshot, Altman on the panel
because its X4 uses the market cap at D; the model was fitted on manufacturers, but it is only ever ranked
within a sector here). Quality ratios come from the ``fundamental_ratios`` table, latest quarterly row known
at D (the annual row when there is no quarterly one).
"""

from __future__ import annotations

import polars as pl

from meridian_assets.factors.characteristics_base import (
    asof, div_pos, finite, growth, with_entity, with_split_log,
)
from meridian_assets.ingest.ratios import altman_z_score, piotroski_f_score
from meridian_assets.ingest.schemas import FUNDAMENTAL_RATIOS, FUNDAMENTALS_RAW

FLOWS = ("revenue", "gross_profit", "ebit", "ebitda", "net_income", "operating_cash_flow", "fcf", "dividends",
         "eps_l")
STOCKS = ("total_assets", "current_assets", "current_liabilities", "long_term_debt", "short_term_debt",
          "total_liabilities", "retained_earnings", "total_equity", "cash", "shares_outstanding")
RATIO_ITEMS = ("roe", "roa", "gross_margin", "accruals_ratio", "debt_to_assets")
SNAPSHOT_STALE = "550d"
QUARTER_SPAN = (240, 310)  # days from the 4th-latest to the latest quarter end
YEAR_GAP = (330, 400)  # days between a period end and the same period a year earlier


def _prepared(fundamentals: pl.DataFrame, emap: dict[str, str], splits: pl.DataFrame) -> pl.DataFrame:
    f = with_entity(FUNDAMENTALS_RAW.conform(fundamentals), emap)
    f = with_split_log(f, splits, "period_end", "L_pe")
    ebit = pl.coalesce(finite(pl.col("ebit")), finite(pl.col("operating_income")))
    return f.select(
        "entity", "period_end", "period_type", "known_at", "L_pe",
        revenue=finite(pl.col("revenue")),
        gross_profit=pl.coalesce(finite(pl.col("gross_profit")), pl.col("revenue") - pl.col("cost_of_revenue")),
        ebit=ebit,
        ebitda=pl.coalesce(finite(pl.col("ebitda")), ebit + pl.col("depreciation")),
        net_income=finite(pl.col("net_income")),
        operating_cash_flow=finite(pl.col("operating_cash_flow")),
        fcf=pl.coalesce(finite(pl.col("free_cash_flow")), pl.col("operating_cash_flow") - pl.col("capex").abs()),
        dividends=finite(pl.col("dividends_paid")).abs().fill_null(0.0),
        eps_l=finite(pl.col("eps_diluted")) * pl.col("L_pe").exp(),  # in the basis before any split
        **{s: finite(pl.col(s)) for s in STOCKS},
    )


def _stack(rows: pl.DataFrame, events: pl.DataFrame, n: int) -> pl.DataFrame:
    """For each event (entity, K): the rows known by K, one per period end (the latest-known version),
    newest first, numbered ``idx`` 0..n-1."""
    keys = ["entity", "K"]
    return (
        events.join(rows.rename({"known_at": "row_known"}), on="entity", how="inner")
        .filter(pl.col("row_known") <= pl.col("K"))
        .sort(["entity", "K", "period_end", "row_known"], descending=[False, False, True, True])
        .unique(["entity", "K", "period_end"], keep="first", maintain_order=True)
        .with_columns(idx=pl.col("period_end").cum_count().over(keys) - 1)
        .filter(pl.col("idx") < n)
    )


def _block(lo: int, hi: int, prefix: str) -> list[pl.Expr]:
    """TTM sums of the flows over rows ``lo <= idx < hi`` (null unless every row has the item)."""
    sel = (pl.col("idx") >= lo) & (pl.col("idx") < hi)
    need = hi - lo
    return [
        pl.when(pl.col(c).filter(sel).count() == need).then(pl.col(c).filter(sel).sum()).alias(f"{prefix}{c}")
        for c in FLOWS
    ]


def _at(i: int, prefix: str) -> list[pl.Expr]:
    at = pl.col("idx") == i
    return [pl.col(c).filter(at).first().alias(f"{prefix}{c}") for c in (*STOCKS, "period_end", "L_pe")]


def _days(a: str, b: str) -> pl.Expr:
    return (pl.col(a) - pl.col(b)).dt.total_days()


def _in(e: pl.Expr, bounds: tuple[int, int]) -> pl.Expr:
    return e.is_between(*bounds).fill_null(False)


def fundamental_snapshots(fundamentals: pl.DataFrame, emap: dict[str, str], splits: pl.DataFrame) -> pl.DataFrame:
    """One row per (entity, known_at): TTM and prior-TTM flows (``cur_*``, ``pri_*``), the latest and
    prior-year stocks (plain and ``pri_*``), ``pe0``, ``L0``, and the Piotroski ``f_score`` / band."""
    if fundamentals.height == 0:
        return pl.DataFrame()
    f = _prepared(fundamentals, emap, splits)
    events = f.select("entity", pl.col("known_at").alias("K")).unique()
    cols = [*(f"cur_{c}" for c in FLOWS), *(f"pri_{c}" for c in FLOWS), *STOCKS, "pe0", "L0",
            *(f"pri_{s}" for s in STOCKS), "pe_prior", "L_prior"]

    def rename_at(prefix: str, stock_prefix: str, pe: str, lpe: str) -> dict[str, str]:
        m = {f"{prefix}{s}": f"{stock_prefix}{s}" for s in STOCKS}
        m.update({f"{prefix}period_end": pe, f"{prefix}L_pe": lpe})
        return m

    q = (
        _stack(f.filter(pl.col("period_type") == "quarterly"), events, 8)
        .group_by("entity", "K")
        .agg(*_block(0, 4, "cur_"), *_block(4, 8, "pri_"), *_at(0, "a0_"), *_at(4, "a4_"),
             pl.col("period_end").filter(pl.col("idx") == 3).first().alias("pe3"),
             pl.col("period_end").filter(pl.col("idx") == 7).first().alias("pe7"))
        .rename({**rename_at("a0_", "", "pe0", "L0"), **rename_at("a4_", "pri_", "pe_prior", "L_prior")})
        .with_columns(
            q_ok=_in(_days("pe0", "pe3"), QUARTER_SPAN) & pl.col("cur_revenue").is_not_null(),
            q_prior_ok=_in(_days("pe0", "pe_prior"), YEAR_GAP) & _in(_days("pe_prior", "pe7"), QUARTER_SPAN),
        )
    )
    a = (
        _stack(f.filter(pl.col("period_type") == "annual"), events, 2)
        .group_by("entity", "K")
        .agg(*_block(0, 1, "cur_"), *_block(1, 2, "pri_"), *_at(0, "a0_"), *_at(1, "a1_"))
        .rename({**rename_at("a0_", "", "pe0", "L0"), **rename_at("a1_", "pri_", "pe_prior", "L_prior")})
        .with_columns(a_prior_ok=_in(_days("pe0", "pe_prior"), YEAR_GAP))
    )
    snap = events.join(q, on=["entity", "K"], how="left").join(a, on=["entity", "K"], how="left", suffix="_a")
    use_q = pl.col("q_ok").fill_null(False)
    prior_ok = pl.when(use_q).then(pl.col("q_prior_ok")).otherwise(pl.col("a_prior_ok")).fill_null(False)
    pri_cols = {c for c in cols if c.startswith("pri_")} | {"pe_prior", "L_prior"}
    picked = []
    for c in cols:
        e = pl.when(use_q).then(pl.col(c)).otherwise(pl.col(f"{c}_a") if f"{c}_a" in snap.columns else None)
        picked.append((pl.when(prior_ok).then(e) if c in pri_cols else e).alias(c))
    snap = snap.select("entity", pl.col("K").alias("known_at"), *picked).filter(pl.col("pe0").is_not_null())

    # EPS and the prior share count in the latest period end's share basis.
    snap = snap.with_columns(
        cur_eps=pl.col("cur_eps_l") * (-pl.col("L0")).exp(),
        pri_eps=pl.col("pri_eps_l") * (-pl.col("L0")).exp(),
        pri_shares_outstanding=pl.col("pri_shares_outstanding") * (pl.col("L0") - pl.col("L_prior")).exp(),
    )
    piotroski_in = snap.select(
        **{c: pl.col(f"cur_{c}") for c in ("net_income", "operating_cash_flow", "gross_profit", "revenue")},
        **{c: pl.col(c) for c in ("total_assets", "long_term_debt", "current_assets", "current_liabilities",
                                  "shares_outstanding")},
        **{f"prior_{c}": pl.col(f"pri_{c}") for c in ("net_income", "gross_profit", "revenue", "total_assets",
                                                      "long_term_debt", "current_assets", "current_liabilities",
                                                      "shares_outstanding")},
    )
    pio = piotroski_f_score(piotroski_in)
    has_prior = pl.col("pri_total_assets").is_not_null()
    return snap.with_columns(
        f_score=pl.when(has_prior).then(pio.get_column("f_score")),
        f_score_band=pl.when(has_prior).then(pio.get_column("f_score_band")),
    ).sort(["entity", "known_at"])


def latest_period_rows(df: pl.DataFrame, period_col: str) -> pl.DataFrame:
    """Drop rows that, when they became known, described a period older than one already known for the
    entity (a late amendment of an old period must not replace the newest period in an as-of join)."""
    return (
        df.sort(["entity", "known_at", period_col])
        .filter(pl.col(period_col) >= pl.col(period_col).cum_max().over("entity"))
    )


def _ratios_asof(panel: pl.DataFrame, ratios: pl.DataFrame, emap: dict[str, str]) -> pl.DataFrame:
    r = with_entity(FUNDAMENTAL_RATIOS.conform(ratios), emap)
    out = panel
    for ptype, suffix in (("quarterly", "_q"), ("annual", "_a")):
        rows = latest_period_rows(r.filter(pl.col("period_type") == ptype), "period_end").select(
            "entity", "known_at", pl.lit(True).alias(f"has{suffix}"),
            *[pl.col(c).alias(f"{c}{suffix}") for c in RATIO_ITEMS],
        )
        out = asof(out, rows, left_on="date", right_on="known_at", tolerance=SNAPSHOT_STALE)
    use_q = pl.col("has_q").fill_null(False)
    return out.with_columns(
        [pl.when(use_q).then(pl.col(f"{c}_q")).otherwise(pl.col(f"{c}_a")).alias(f"r_{c}") for c in RATIO_ITEMS]
    ).drop([f"{c}{s}" for c in RATIO_ITEMS for s in ("_q", "_a")] + ["has_q", "has_a"])


def add_fundamental(
    panel: pl.DataFrame, fundamentals: pl.DataFrame, ratios: pl.DataFrame, emap: dict[str, str], splits: pl.DataFrame
) -> pl.DataFrame:
    """Adds ``mcap``, ``shares_d`` and the value, quality and growth sub-factors plus Piotroski / Altman."""
    snap = fundamental_snapshots(fundamentals, emap, splits)
    if snap.height:
        keep = ["entity", "known_at", "pe0", "L0", "f_score", "f_score_band", *STOCKS,
                *(f"cur_{c}" for c in ("revenue", "gross_profit", "ebit", "ebitda", "net_income", "fcf",
                                       "dividends", "eps")),
                *(f"pri_{c}" for c in ("revenue", "net_income", "fcf", "eps", "total_assets"))]
        p = asof(panel, snap.select(keep), left_on="date", right_on="known_at", tolerance=SNAPSHOT_STALE)
    else:
        p = panel.with_columns(pl.lit(None, dtype=pl.Float64).alias(c) for c in (
            "L0", "f_score", *STOCKS, "cur_revenue", "cur_gross_profit", "cur_ebit", "cur_ebitda", "cur_net_income",
            "cur_fcf", "cur_dividends", "cur_eps", "pri_revenue", "pri_net_income", "pri_fcf", "pri_eps",
            "pri_total_assets")).with_columns(pl.lit(None, dtype=pl.Utf8).alias("f_score_band"))
    p = p.with_columns(shares_d=pl.col("shares_outstanding") * (pl.col("L_d") - pl.col("L0")).exp())
    p = p.with_columns(mcap=pl.when(pl.col("close") > 0).then(pl.col("shares_d") * pl.col("close")))
    debt = pl.sum_horizontal(pl.col("long_term_debt").fill_null(0.0), pl.col("short_term_debt").fill_null(0.0))
    ev = pl.col("mcap") + debt - pl.col("cash").fill_null(0.0)
    mcap = pl.col("mcap")
    p = p.with_columns(
        val_earnings_yield=div_pos(pl.col("cur_net_income"), mcap),
        val_fcf_yield=div_pos(pl.col("cur_fcf"), mcap),
        val_book_to_price=div_pos(pl.col("total_equity"), mcap),
        val_sales_to_price=div_pos(pl.col("cur_revenue"), mcap),
        val_ebitda_to_ev=div_pos(pl.col("cur_ebitda"), ev),
        val_dividend_yield=div_pos(pl.col("cur_dividends"), mcap),
        gro_revenue_yoy=growth(pl.col("cur_revenue"), pl.col("pri_revenue")),
        gro_eps_yoy=growth(pl.col("cur_eps"), pl.col("pri_eps")),
        gro_net_income_yoy=growth(pl.col("cur_net_income"), pl.col("pri_net_income")),
        gro_fcf_yoy=growth(pl.col("cur_fcf"), pl.col("pri_fcf")),
        qual_piotroski=pl.col("f_score").cast(pl.Float64),
        piotroski_f=pl.col("f_score").cast(pl.Float64),
        piotroski_band=pl.col("f_score_band"),
    )
    altman_in = p.select(
        "current_assets", "current_liabilities", "retained_earnings", "total_liabilities", "total_assets",
        ebit=pl.col("cur_ebit"), revenue=pl.col("cur_revenue"), market_cap=pl.col("mcap"),
    )
    z = altman_z_score(altman_in)
    p = p.with_columns(
        qual_altman=z.get_column("altman_z"), altman_z=z.get_column("altman_z"), altman_band=z.get_column("altman_band")
    )
    p = _ratios_asof(p, ratios, emap)
    return p.with_columns(
        qual_roe=pl.col("r_roe"),
        qual_roa=pl.col("r_roa"),
        qual_gross_margin=pl.col("r_gross_margin"),
        qual_low_accruals=-pl.col("r_accruals_ratio"),
        qual_low_leverage=-pl.col("r_debt_to_assets"),
    )
