"""Derived fundamental ratios (``fundamental_ratios``), the Piotroski F-score and the Altman Z-score.

Pure functions over polars frames: no Dagster, no I/O.

Conventions
-----------
* **One output row per input row** of ``fundamentals_raw`` (key ``ticker, period_end, period_type``), carrying
  that row's ``known_at``.
* **Point in time.** A ratio row uses only (a) its own row, (b) other rows of the same ticker and
  ``period_type`` whose ``known_at`` <= its own ``known_at``, and (c) closes dated at or before its
  ``known_at``. A row that becomes known later can never change an earlier ratio row.
* **Annualisation.** ``k = 4`` for ``period_type == "quarterly"``, ``k = 1`` for ``"annual"`` (any other
  period type: ``k`` is null, so every annualised ratio is null). A flow (income-statement or cash-flow item)
  is multiplied by ``k`` only when the ratio divides it by a stock (balance-sheet item or market value);
  flow/flow ratios (margins, coverage, growth, cash conversion) are not annualised.
* **Average stock** ``avg(X) = (X_t + X_prev) / 2`` where ``X_prev`` is the same item in the *prior period*
  row: same ticker and ``period_type``, ``period_end`` 91 days (quarterly) or 365 days (annual) earlier
  +/- 20 days, known by the current row's ``known_at`` (closest ``period_end`` wins). When that row or its
  value is missing, ``avg(X) = X_t``.
* **Year-ago row** for growth: same ticker and ``period_type``, ``period_end`` 365 +/- 20 days earlier, known
  by the current row's ``known_at`` (closest to 365 days wins). No such row: growth is null.
* **Safe division.** ``a / b`` is null when either side is null or non-finite, or when ``b <= 0`` (every
  denominator below is a size, a cost or a base that is meaningless when zero or negative: negative equity,
  zero interest expense, a loss-making base year...). The result is never ``inf`` or ``NaN``.
* **Fallbacks** (used only when the reported item is null):
  ``gross_profit = revenue - cost_of_revenue``; ``ebit = operating_income``;
  ``ebitda = ebit + depreciation``; ``free_cash_flow = operating_cash_flow - |capex|`` (capex is taken as an
  outflow whatever its sign); ``total_debt = long_term_debt + short_term_debt`` (a missing part counts 0,
  both missing: null); ``inventory`` missing counts 0 in the quick ratio.
* **Market cap** ``= shares_outstanding x close``, where ``close`` is the latest non-null positive ``close``
  of the ticker dated at or before the row's ``known_at`` (as-of join on ``daily_prices``). No price: null.
  ``shares_outstanding`` is the period-end count from the filing; a split between ``period_end`` and
  ``known_at`` is not corrected for.

The 24 ratios (``schemas.RATIO_COLUMNS``), ``NI`` = net income, ``CFO`` = operating cash flow,
``FCF`` = free cash flow, ``k`` = annualisation factor, ``X_ya`` = the year-ago row's value:

======================  ==========================================================  =================================
name                    formula                                                     notes
======================  ==========================================================  =================================
roe                     k*NI / avg(total_equity)                                    null when avg equity <= 0
roa                     k*NI / avg(total_assets)
roic                    k*EBIT*(1 - t) / avg(total_equity + total_debt)             t = income_tax / (NI + income_tax)
                                                                                    clipped to [0, 1]; 0.21 when
                                                                                    pre-tax income <= 0 or tax null
gross_margin            gross_profit / revenue                                      null when revenue <= 0
operating_margin        operating_income / revenue
net_margin              NI / revenue
ebitda_margin           ebitda / revenue
fcf_margin              FCF / revenue
revenue_growth_yoy      revenue / revenue_ya - 1                                    null when base <= 0
eps_growth_yoy          eps_diluted / eps_diluted_ya - 1                            null when base <= 0 (a loss base
                                                                                    gives no meaningful growth)
net_income_growth_yoy   NI / NI_ya - 1                                              null when base <= 0
fcf_growth_yoy          FCF / FCF_ya - 1                                            null when base <= 0
debt_to_equity          total_debt / total_equity                                   period-end; null when equity <= 0
debt_to_assets          total_debt / total_assets                                   period-end
current_ratio           current_assets / current_liabilities                        period-end
quick_ratio             (current_assets - inventory) / current_liabilities          period-end
interest_coverage       EBIT / interest_expense                                     null when interest <= 0
asset_turnover          k*revenue / avg(total_assets)
inventory_turnover      k*cost_of_revenue / avg(inventory)                          null without inventory
receivables_turnover    k*revenue / avg(receivables)
accruals_ratio          k*(NI - CFO) / avg(total_assets)                            Sloan accruals; may be negative
cfo_to_net_income       CFO / NI                                                    null when NI <= 0
fcf_yield               k*FCF / market_cap                                          may be negative
earnings_yield          k*NI / market_cap                                           may be negative
======================  ==========================================================  =================================

Piotroski F-score and Altman Z-score: see `piotroski_f_score` and `altman_z_score`. Both take a frame with
the explicit columns listed in `PIOTROSKI_CURRENT` / `PIOTROSKI_PRIOR` and `ALTMAN_COLUMNS`; flows must be
annual or trailing-twelve-month figures (the caller builds them), stocks are period-end values.
"""

from __future__ import annotations

import polars as pl

from meridian_assets.ingest.schemas import FUNDAMENTAL_RATIOS, FUNDAMENTALS_RAW, RATIO_COLUMNS

# Prior-period spacing (days) by period type; a candidate matches within +/- MATCH_TOLERANCE_DAYS.
PRIOR_PERIOD_DAYS: dict[str, int] = {"quarterly": 91, "annual": 365}
YEAR_AGO_DAYS = 365
MATCH_TOLERANCE_DAYS = 20
ANNUALISATION: dict[str, int] = {"quarterly": 4, "annual": 1}
DEFAULT_TAX_RATE = 0.21

# Items averaged with the prior period, and items compared with the year-ago period.
_AVG_ITEMS = ("total_equity", "total_assets", "invested_capital", "inventory", "receivables")
_YOY_ITEMS = ("revenue", "eps_diluted", "net_income", "fcf")

# Score bands -> traffic-light colours for reports.
BAND_COLOURS: dict[str, str] = {
    "strong": "green",
    "neutral": "amber",
    "weak": "red",
    "safe": "green",
    "grey": "amber",
    "distress": "red",
}


# --------------------------------------------------------------------------------------------- helpers
def _finite(e: pl.Expr) -> pl.Expr:
    """``e`` with NaN / +-inf replaced by null."""
    return pl.when(e.is_finite()).then(e).otherwise(None)


def _div(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    """``num / den``; null when either is null or non-finite or ``den <= 0``. Never inf/NaN."""
    num, den = _finite(num), _finite(den)
    return _finite(pl.when(den > 0).then(num / den).otherwise(None))


def _growth(cur: pl.Expr, base: pl.Expr) -> pl.Expr:
    """``cur / base - 1``; null when ``base <= 0`` (growth from a loss or zero base is meaningless)."""
    return _div(cur, base) - 1.0


def _avg(cur: str, prev: str) -> pl.Expr:
    """Mean of the current and prior-period stock; the current value alone when the prior is missing."""
    c, p = _finite(pl.col(cur)), _finite(pl.col(prev))
    return pl.when(p.is_not_null()).then((c + p) / 2.0).otherwise(c)


def _sum_parts(*cols: str) -> pl.Expr:
    """Sum of the columns with a missing part counted 0; null only when every part is null."""
    parts = [_finite(pl.col(c)) for c in cols]
    any_present = pl.any_horizontal([p.is_not_null() for p in parts])
    return pl.when(any_present).then(pl.sum_horizontal([p.fill_null(0.0) for p in parts])).otherwise(None)


def _with_derived_items(df: pl.DataFrame) -> pl.DataFrame:
    """Add the fallback-filled items the ratios are defined on (see the module docstring)."""
    ebit = pl.coalesce(_finite(pl.col("ebit")), _finite(pl.col("operating_income")))
    return df.with_columns(
        gp=pl.coalesce(_finite(pl.col("gross_profit")), pl.col("revenue") - pl.col("cost_of_revenue")),
        ebit_=ebit,
        ebitda_=pl.coalesce(_finite(pl.col("ebitda")), ebit + pl.col("depreciation")),
        fcf=pl.coalesce(
            _finite(pl.col("free_cash_flow")), pl.col("operating_cash_flow") - pl.col("capex").abs()
        ),
        total_debt=_sum_parts("long_term_debt", "short_term_debt"),
    ).with_columns(
        invested_capital=pl.col("total_equity") + pl.col("total_debt").fill_null(0.0),
    )


def _match_earlier(
    df: pl.DataFrame, lag_days: dict[str, int] | int, cols: tuple[str, ...], suffix: str
) -> pl.DataFrame:
    """For each row (``__row``), the values of ``cols`` in the row of the same ticker and period_type whose
    period_end is ``lag_days`` earlier (+/- MATCH_TOLERANCE_DAYS) and whose known_at <= the row's known_at.

    The candidate closest to the target lag wins; ties go to the later known_at. Returns ``__row`` plus
    ``{col}{suffix}`` for each col (rows without a match are absent).
    """
    if isinstance(lag_days, int):
        lag = pl.lit(lag_days)
    else:
        lag = pl.col("period_type").replace_strict(lag_days, default=None, return_dtype=pl.Int64)
    left = df.select("__row", "ticker", "period_type", "period_end", "known_at")
    right = df.select(
        "ticker",
        "period_type",
        pl.col("period_end").alias("__pe_r"),
        pl.col("known_at").alias("__ka_r"),
        *[pl.col(c).alias(f"{c}{suffix}") for c in cols],
    )
    dist = ((pl.col("period_end") - pl.col("__pe_r")).dt.total_days() - lag).abs()
    return (
        left.join(right, on=["ticker", "period_type"], how="inner")
        .with_columns(__dist=dist)
        .filter(
            (pl.col("__dist") <= MATCH_TOLERANCE_DAYS)
            & (pl.col("__pe_r") < pl.col("period_end"))
            & (pl.col("__ka_r") <= pl.col("known_at"))
        )
        .sort(["__row", "__dist", "__ka_r"], descending=[False, False, True])
        .unique("__row", keep="first", maintain_order=True)
        .select("__row", *[f"{c}{suffix}" for c in cols])
    )


def _with_close_asof(df: pl.DataFrame, prices: pl.DataFrame | None) -> pl.DataFrame:
    """Add ``__close``: the ticker's latest positive close dated <= the row's known_at (null if none)."""
    if prices is None or prices.height == 0:
        return df.with_columns(__close=pl.lit(None, dtype=pl.Float64))
    px = (
        prices.select(
            pl.col("ticker").cast(pl.Utf8),
            pl.col("date").cast(pl.Date).alias("known_at"),
            _finite(pl.col("close").cast(pl.Float64)).alias("__close"),
        )
        .filter(pl.col("__close") > 0)
        .unique(["ticker", "known_at"], keep="last", maintain_order=True)
        .sort(["ticker", "known_at"])
    )
    left = df.sort(["ticker", "known_at"])
    out = left.join_asof(px, on="known_at", by="ticker", strategy="backward", check_sortedness=False)
    return out.sort("__row")


# --------------------------------------------------------------------------------------------- ratios
def compute_ratios(fundamentals: pl.DataFrame, prices: pl.DataFrame | None) -> pl.DataFrame:
    """The 24 ratios of `schemas.RATIO_COLUMNS` for every row of ``fundamentals`` (``fundamentals_raw``).

    ``prices`` is a ``daily_prices`` frame (only ``date``, ``ticker``, ``close`` are read) used for the
    market-cap ratios; ``None`` leaves ``fcf_yield`` and ``earnings_yield`` null. Definitions, fallbacks and
    the point-in-time rule are in the module docstring. Returns a frame conformed to
    `schemas.FUNDAMENTAL_RATIOS`, one row per input row, sorted by ticker, period_type, period_end.
    """
    if fundamentals.height == 0:
        return FUNDAMENTAL_RATIOS.empty()
    df = FUNDAMENTALS_RAW.conform(fundamentals).with_row_index("__row")
    df = _with_derived_items(df)

    prev = _match_earlier(df, PRIOR_PERIOD_DAYS, _AVG_ITEMS, "__prev")
    ya = _match_earlier(df, YEAR_AGO_DAYS, _YOY_ITEMS, "__ya")
    df = df.join(prev, on="__row", how="left").join(ya, on="__row", how="left")
    df = _with_close_asof(df, prices)

    k = pl.col("period_type").replace_strict(ANNUALISATION, default=None, return_dtype=pl.Float64)
    ni, rev, cfo = pl.col("net_income"), pl.col("revenue"), pl.col("operating_cash_flow")
    pretax = ni + pl.col("income_tax")
    tax_rate = (
        pl.when((pretax > 0) & pl.col("income_tax").is_not_null())
        .then((pl.col("income_tax") / pretax).clip(0.0, 1.0))
        .otherwise(DEFAULT_TAX_RATE)
    )
    avg = {c: _avg(c, f"{c}__prev") for c in _AVG_ITEMS}
    mcap = pl.col("shares_outstanding") * pl.col("__close")
    inventory0 = _finite(pl.col("inventory")).fill_null(0.0)

    ratios: dict[str, pl.Expr] = {
        "roe": _div(k * ni, avg["total_equity"]),
        "roa": _div(k * ni, avg["total_assets"]),
        "roic": _div(k * pl.col("ebit_") * (1.0 - tax_rate), avg["invested_capital"]),
        "gross_margin": _div(pl.col("gp"), rev),
        "operating_margin": _div(pl.col("operating_income"), rev),
        "net_margin": _div(ni, rev),
        "ebitda_margin": _div(pl.col("ebitda_"), rev),
        "fcf_margin": _div(pl.col("fcf"), rev),
        "revenue_growth_yoy": _growth(rev, pl.col("revenue__ya")),
        "eps_growth_yoy": _growth(pl.col("eps_diluted"), pl.col("eps_diluted__ya")),
        "net_income_growth_yoy": _growth(ni, pl.col("net_income__ya")),
        "fcf_growth_yoy": _growth(pl.col("fcf"), pl.col("fcf__ya")),
        "debt_to_equity": _div(pl.col("total_debt"), pl.col("total_equity")),
        "debt_to_assets": _div(pl.col("total_debt"), pl.col("total_assets")),
        "current_ratio": _div(pl.col("current_assets"), pl.col("current_liabilities")),
        "quick_ratio": _div(pl.col("current_assets") - inventory0, pl.col("current_liabilities")),
        "interest_coverage": _div(pl.col("ebit_"), pl.col("interest_expense")),
        "asset_turnover": _div(k * rev, avg["total_assets"]),
        "inventory_turnover": _div(k * pl.col("cost_of_revenue"), avg["inventory"]),
        "receivables_turnover": _div(k * rev, avg["receivables"]),
        "accruals_ratio": _div(k * (ni - cfo), avg["total_assets"]),
        "cfo_to_net_income": _div(cfo, ni),
        "fcf_yield": _div(k * pl.col("fcf"), mcap),
        "earnings_yield": _div(k * ni, mcap),
    }
    assert tuple(ratios) == RATIO_COLUMNS
    out = df.with_columns(**ratios).sort(["ticker", "period_type", "period_end"])
    return FUNDAMENTAL_RATIOS.conform(out)


# --------------------------------------------------------------------------------------------- Piotroski
# Current-year inputs (annual or TTM flows, period-end stocks) and the prior year's, prefixed "prior_".
PIOTROSKI_CURRENT: tuple[str, ...] = (
    "net_income",
    "operating_cash_flow",
    "total_assets",
    "long_term_debt",
    "current_assets",
    "current_liabilities",
    "shares_outstanding",
    "gross_profit",
    "revenue",
)
PIOTROSKI_PRIOR: tuple[str, ...] = (
    "prior_net_income",
    "prior_total_assets",
    "prior_long_term_debt",
    "prior_current_assets",
    "prior_current_liabilities",
    "prior_shares_outstanding",
    "prior_gross_profit",
    "prior_revenue",
)
PIOTROSKI_SIGNALS: tuple[str, ...] = (
    "f_roa",
    "f_cfo",
    "f_delta_roa",
    "f_accrual",
    "f_delta_leverage",
    "f_delta_liquidity",
    "f_no_dilution",
    "f_delta_margin",
    "f_delta_turnover",
)


def piotroski_band(score: pl.Expr) -> pl.Expr:
    """8-9 ``strong`` (green), 5-7 ``neutral`` (amber), 0-4 ``weak`` (red); null score -> null."""
    return (
        pl.when(score.is_null())
        .then(None)
        .when(score >= 8)
        .then(pl.lit("strong"))
        .when(score >= 5)
        .then(pl.lit("neutral"))
        .otherwise(pl.lit("weak"))
    )


def piotroski_f_score(df: pl.DataFrame, *, keep_signals: bool = False) -> pl.DataFrame:
    """Piotroski (2000) F-score: nine binary signals over the current and prior fiscal year.

    Input: ``df`` with the columns `PIOTROSKI_CURRENT` (current year: annual or TTM flows, period-end
    stocks) and `PIOTROSKI_PRIOR` (the same for the prior year, prefixed ``prior_``); other columns are kept.
    ROA and asset turnover scale by *end-of-year* total assets in both years (the paper uses beginning-of-year
    assets; using the same convention in both years keeps the change tests consistent with one year of
    history). Leverage = long_term_debt / total_assets (a missing long_term_debt counts 0).

    ====================  ==========================================================================
    signal                1 when
    ====================  ==========================================================================
    f_roa                 ROA_t = NI_t / TA_t > 0
    f_cfo                 CFO_t > 0
    f_delta_roa           ROA_t > ROA_{t-1}
    f_accrual             CFO_t > NI_t                        (cash earnings exceed accounting earnings)
    f_delta_leverage      LEV_t < LEV_{t-1}, or both are 0    (no new leverage)
    f_delta_liquidity     CR_t > CR_{t-1}, CR = current_assets / current_liabilities
    f_no_dilution         shares_t <= shares_{t-1}            (no equity issued)
    f_delta_margin        GM_t > GM_{t-1}, GM = gross_profit / revenue
    f_delta_turnover      ATO_t > ATO_{t-1}, ATO = revenue / TA
    ====================  ==========================================================================

    A signal whose inputs are missing (or whose denominator is <= 0) scores 0. Adds ``f_score`` (Int64,
    0-9; null only when no signal could be evaluated), ``f_score_signals`` (how many of the nine could be
    evaluated) and ``f_score_band`` (`piotroski_band`). ``keep_signals=True`` also keeps the nine signal
    columns (Boolean, null when not evaluable).
    """
    missing = [c for c in (*PIOTROSKI_CURRENT, *PIOTROSKI_PRIOR) if c not in df.columns]
    if missing:
        raise ValueError(f"piotroski_f_score: missing input columns {missing}")
    c = {name: _finite(pl.col(name).cast(pl.Float64)) for name in (*PIOTROSKI_CURRENT, *PIOTROSKI_PRIOR)}
    roa = _div(c["net_income"], c["total_assets"])
    roa_p = _div(c["prior_net_income"], c["prior_total_assets"])
    lev = _div(c["long_term_debt"].fill_null(0.0), c["total_assets"])
    lev_p = _div(c["prior_long_term_debt"].fill_null(0.0), c["prior_total_assets"])
    cr = _div(c["current_assets"], c["current_liabilities"])
    cr_p = _div(c["prior_current_assets"], c["prior_current_liabilities"])
    gm = _div(c["gross_profit"], c["revenue"])
    gm_p = _div(c["prior_gross_profit"], c["prior_revenue"])
    ato = _div(c["revenue"], c["total_assets"])
    ato_p = _div(c["prior_revenue"], c["prior_total_assets"])
    signals = {
        "f_roa": roa > 0,
        "f_cfo": c["operating_cash_flow"] > 0,
        "f_delta_roa": roa > roa_p,
        "f_accrual": c["operating_cash_flow"] > c["net_income"],
        "f_delta_leverage": (lev < lev_p) | ((lev == 0) & (lev_p == 0)),
        "f_delta_liquidity": cr > cr_p,
        "f_no_dilution": c["shares_outstanding"] <= c["prior_shares_outstanding"],
        "f_delta_margin": gm > gm_p,
        "f_delta_turnover": ato > ato_p,
    }
    out = df.with_columns(**signals)
    n_eval = pl.sum_horizontal([pl.col(s).is_not_null().cast(pl.Int64) for s in PIOTROSKI_SIGNALS])
    score = pl.sum_horizontal([pl.col(s).fill_null(False).cast(pl.Int64) for s in PIOTROSKI_SIGNALS])
    out = out.with_columns(
        f_score=pl.when(n_eval > 0).then(score).otherwise(None).cast(pl.Int64),
        f_score_signals=n_eval.cast(pl.Int64),
    ).with_columns(f_score_band=piotroski_band(pl.col("f_score")))
    return out if keep_signals else out.drop(PIOTROSKI_SIGNALS)


# --------------------------------------------------------------------------------------------- Altman
ALTMAN_COLUMNS: tuple[str, ...] = (
    "current_assets",
    "current_liabilities",
    "retained_earnings",
    "ebit",
    "market_cap",
    "total_liabilities",
    "revenue",
    "total_assets",
)
ALTMAN_SAFE = 2.99
ALTMAN_DISTRESS = 1.81


def altman_band(z: pl.Expr) -> pl.Expr:
    """``safe`` (green) when Z > 2.99, ``grey`` (amber) when 1.81 <= Z <= 2.99, ``distress`` (red) when
    Z < 1.81; null Z -> null."""
    return (
        pl.when(z.is_null())
        .then(None)
        .when(z > ALTMAN_SAFE)
        .then(pl.lit("safe"))
        .when(z >= ALTMAN_DISTRESS)
        .then(pl.lit("grey"))
        .otherwise(pl.lit("distress"))
    )


def altman_z_score(df: pl.DataFrame) -> pl.DataFrame:
    """Altman (1968) Z-score, the original formula for public manufacturers.

    ``Z = 1.2*X1 + 1.4*X2 + 3.3*X3 + 0.6*X4 + 1.0*X5`` with
    X1 = (current_assets - current_liabilities) / total_assets (working capital / TA),
    X2 = retained_earnings / total_assets, X3 = ebit / total_assets,
    X4 = market_cap / total_liabilities (market value of equity / book liabilities),
    X5 = revenue / total_assets.

    Input: ``df`` with the columns `ALTMAN_COLUMNS`; ``ebit`` and ``revenue`` must be annual or TTM,
    the others period-end values (``market_cap`` at the scoring date). Other columns are kept. Adds
    ``altman_z`` (Float64; null when any input is missing or non-finite, or total_assets or
    total_liabilities <= 0) and ``altman_band`` (`altman_band`). The model was fitted on manufacturers; it is
    less meaningful for financials and utilities (the caller decides whether to use it there).
    """
    missing = [c for c in ALTMAN_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"altman_z_score: missing input columns {missing}")
    c = {name: _finite(pl.col(name).cast(pl.Float64)) for name in ALTMAN_COLUMNS}
    ta = c["total_assets"]
    z = (
        1.2 * _div(c["current_assets"] - c["current_liabilities"], ta)
        + 1.4 * _div(c["retained_earnings"], ta)
        + 3.3 * _div(c["ebit"], ta)
        + 0.6 * _div(c["market_cap"], c["total_liabilities"])
        + 1.0 * _div(c["revenue"], ta)
    )
    return df.with_columns(altman_z=_finite(z)).with_columns(altman_band=altman_band(pl.col("altman_z")))
