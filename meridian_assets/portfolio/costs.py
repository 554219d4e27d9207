"""Transaction costs of a trade, in the cvxportfolio form: one model for planning, simulating and backtesting.

For a trade ``x`` (change of weight, a fraction of NAV) in one name::

    cost(x) = c·|x|  +  a·|x|  +  b·σ·|x|^{3/2} / V^{1/2}
              commission  spread      market impact

* ``c`` commission as a fraction of notional (``portfolio.commission_bps / 1e4``; $0 at Alpaca);
* ``a`` the **half-spread**: what a trade pays from the mid to the side it trades on, once per trade, as a
  fraction of the price: ``a = spread_fraction_of_range × (high − low) / close``. The spec's cost of a trade,
  in bps of its notional, has a "spread (5% of avg HL range)" term: that is what one trade pays, i.e. the
  half-spread, so the key means exactly that everywhere. The optimizer uses the average daily range over
  ``adv_lookback_days``; the simulated venue the range of the bar the order trades against;
* ``b`` impact coefficient (0.10), ``σ`` daily return volatility, ``V`` the average dollar volume divided by
  NAV (so ``|x|/V`` is the fraction of a day's volume traded). The optimizer uses σ of daily returns and the
  20-day ADV; the venue, which sees one bar, its range / close as σ and its volume × open as ADV.

The impact term is the spec's "0.10 · √(trade/ADV) · vol" applied to notional ``|x|``: ``b·σ·√(|x|/V)·|x|``.

`CostModel` holds the three coefficients (the `portfolio` block's ``commission_bps``,
``spread_fraction_of_range``, ``impact_coefficient``); `TransactionCost` is that model applied to ``n`` names'
market data. It gives the cost three ways, all the same formula:

* `TransactionCost.expression`: a convex cvxpy expression (``cp.power(cp.abs(x), 1.5)``) for the MVO, DPP with
  the compiled program's parameters (`cost_expression`);
* `TransactionCost.estimate`: each cost type of a trade vector, in fractions of NAV, bps and dollars;
* `TransactionCost.price_fill`: an actual fill of whole shares at a price — the price it pays (buys above,
  sells below: ``price × (1 ± (a + b·σ·√(notional/ADV$)))``, commission billed apart) and each cost type in
  dollars. The simulated venue fills at that price; the backtest charges those dollars.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from meridian_assets.portfolio.errors import DataError
from meridian_assets.portfolio.settings import PortfolioConfig

if TYPE_CHECKING:  # cvxpy is imported where the optimizer builds its program
    import cvxpy as cp


def _vector(name: str, values, n: int | None = None, *, positive: bool = False) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(values, dtype=float))
    if n is not None and arr.shape == (1,) and n != 1:
        arr = np.full(n, arr[0])
    if n is not None and arr.shape != (n,):
        raise DataError("transaction_costs", f"expected {n} values, got shape {arr.shape}", field=name)
    bad = ~np.isfinite(arr) | ((arr <= 0) if positive else (arr < 0))
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError("transaction_costs", "must be finite and " + ("> 0" if positive else ">= 0"),
                        field=f"{name}[{i}]", value=float(arr[i]))
    return arr


@dataclass(frozen=True)
class CostEstimate:
    """Per-trade costs; ``*_frac`` arrays are fractions of NAV, totals likewise, ``dollars`` at ``nav``."""

    trade: np.ndarray
    commission_frac: np.ndarray
    spread_frac: np.ndarray
    impact_frac: np.ndarray
    nav: float

    @property
    def total_frac(self) -> np.ndarray:
        return self.commission_frac + self.spread_frac + self.impact_frac

    @property
    def bps(self) -> np.ndarray:
        """Cost in basis points of each trade's notional (0 where nothing trades)."""
        notional = np.abs(self.trade)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(notional > 0, 1e4 * self.total_frac / notional, 0.0)

    @property
    def dollars(self) -> np.ndarray:
        return self.total_frac * self.nav

    def totals(self) -> dict[str, float]:
        """Total of each cost type as a fraction of NAV, plus ``total`` and ``total_dollars``."""
        out = {"commission": float(self.commission_frac.sum()), "spread": float(self.spread_frac.sum()),
               "impact": float(self.impact_frac.sum())}
        out["total"] = out["commission"] + out["spread"] + out["impact"]
        out["total_dollars"] = out["total"] * self.nav
        return out


@dataclass(frozen=True)
class CostModel:
    """The three coefficients of the one cost model (module docstring), from the `portfolio` block."""

    commission: float = 0.0  # c: fraction of traded notional
    spread_fraction_of_range: float = 0.05  # a = this × (high − low) / close
    impact_coefficient: float = 0.10  # b

    @classmethod
    def from_config(cls, cfg: PortfolioConfig | None = None) -> "CostModel":
        cfg = cfg or PortfolioConfig()
        return cls(cfg.commission_bps / 1e4, cfg.spread_fraction_of_range, cfg.impact_coefficient)

    def half_spread(self, range_pct) -> np.ndarray:
        """``a`` per name from its (high − low) / close: the fraction of the price a trade pays to cross."""
        return self.spread_fraction_of_range * _vector("range_pct", range_pct)

    def for_names(self, range_pct, daily_vol, adv_dollars, nav: float) -> "TransactionCost":
        """The model over ``n`` names: ``range_pct`` (high − low) / close, ``daily_vol`` σ, ``adv_dollars`` $."""
        rng = _vector("range_pct", range_pct)
        n = len(rng)
        return TransactionCost(half_spread=self.half_spread(rng), sigma=_vector("daily_vol", daily_vol, n),
                               adv=_vector("adv_dollars", adv_dollars, n, positive=True) / float(nav),
                               impact_coefficient=self.impact_coefficient, commission=self.commission, nav=float(nav))

    def for_bar(self, open_: float, high: float, low: float, close: float, volume: float) -> "TransactionCost":
        """The model for one name trading against one daily bar (the simulated venue): the bar's range / close
        is both its spread's range and its volatility, its volume × open its dollar volume."""
        rng = (high - low) / close
        return self.for_names([rng], [rng], [max(volume, 1.0) * open_], nav=1.0)


@dataclass(frozen=True)
class FillCost:
    """What `TransactionCost.price_fill` charges one fill: the price paid and each cost type in dollars."""

    price: float
    commission: float
    spread: float
    impact: float

    @property
    def cost(self) -> float:
        return self.commission + self.spread + self.impact


@dataclass(frozen=True)
class TransactionCost:
    """Commission + half-spread + 3/2-power market impact for ``n`` names (see the module docstring).

    ``half_spread`` (a), ``sigma`` (daily vol σ) and ``adv`` (V: ADV dollars / NAV) are length-``n``
    arrays; build from market data with `CostModel.for_names` (or `from_market`).
    """

    half_spread: np.ndarray
    sigma: np.ndarray
    adv: np.ndarray
    impact_coefficient: float = 0.10
    commission: float = 0.0
    nav: float = 1.0

    def __post_init__(self) -> None:
        n = len(np.atleast_1d(self.half_spread))
        object.__setattr__(self, "half_spread", _vector("half_spread", self.half_spread, n))
        object.__setattr__(self, "sigma", _vector("sigma", self.sigma, n))
        object.__setattr__(self, "adv", _vector("adv", self.adv, n, positive=True))

    @classmethod
    def from_market(cls, avg_range_pct, daily_vol, adv_dollars, nav: float,
                    cfg: PortfolioConfig | None = None) -> "TransactionCost":
        """``avg_range_pct``: mean (high−low)/close; ``daily_vol``: σ of daily returns; ``adv_dollars``: $."""
        return CostModel.from_config(cfg).for_names(avg_range_pct, daily_vol, adv_dollars, nav)

    @property
    def n(self) -> int:
        return len(self.half_spread)

    @property
    def linear_coefficient(self) -> np.ndarray:
        """``c + a`` per name: the cost per unit |x|."""
        return self.commission + self.half_spread

    @property
    def impact_scale(self) -> np.ndarray:
        """``b·σ/√V`` per name: the cost per unit |x|^{3/2}."""
        return self.impact_coefficient * self.sigma / np.sqrt(self.adv)

    def subset(self, idx) -> "TransactionCost":
        return TransactionCost(self.half_spread[idx], self.sigma[idx], self.adv[idx],
                               self.impact_coefficient, self.commission, self.nav)

    def estimate(self, trade) -> CostEstimate:
        """Costs of the trade vector ``trade`` (weights), each type separately."""
        x = np.abs(np.asarray(trade, dtype=float))
        if x.shape != (self.n,):
            raise DataError("transaction_costs", f"trade has shape {x.shape}, expected ({self.n},)")
        return CostEstimate(trade=np.asarray(trade, dtype=float), commission_frac=self.commission * x,
                            spread_frac=self.half_spread * x, impact_frac=self.impact_scale * x**1.5,
                            nav=self.nav)

    def price_fill(self, i: int, shares: float, price: float) -> FillCost:
        """An actual fill of ``shares`` (signed: + buys) of name ``i`` at reference ``price`` ($/share): the price
        it pays, ``price × (1 ± (a + b·σ·√(notional / ADV$)))``, and each cost type in dollars (`estimate` of
        the same trade; the commission is billed apart from the price)."""
        notional = abs(float(shares)) * float(price)
        adv_dollars = float(self.adv[i]) * self.nav
        spread = float(self.half_spread[i]) * notional
        impact = self.impact_coefficient * float(self.sigma[i]) * np.sqrt(notional / adv_dollars) * notional
        per_share = (spread + impact) / abs(shares) if shares else 0.0
        return FillCost(price=float(price + np.sign(shares) * per_share), commission=self.commission * notional,
                        spread=spread, impact=float(impact))

    def expression(self, trade: "cp.Expression") -> "cp.Expression":
        """The total cost of ``trade`` as a convex cvxpy expression (`cost_expression` with this model's
        coefficients)."""
        return cost_expression(trade, self.linear_coefficient, self.impact_scale)


def cost_expression(trade: "cp.Expression", linear, impact) -> "cp.Expression":
    """``linearᵀ|x| + impactᵀ|x|^{3/2}`` as a convex cvxpy expression of the trade ``x``.

    ``linear``/``impact`` are `TransactionCost.linear_coefficient` / `impact_scale` as arrays or as non-negative
    cvxpy Parameters; with parameters and ``trade`` a variable (not ``w − w₀`` with a parameter ``w₀``) the
    expression is DPP, so a compiled program takes new costs without recompiling.
    """
    import cvxpy as cp

    return linear @ cp.abs(trade) + impact @ cp.power(cp.abs(trade), 1.5)
