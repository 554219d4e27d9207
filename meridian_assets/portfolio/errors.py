"""Typed errors of portfolio construction (cvxportfolio style): each says what failed and what to do.

* `DataError` (re-exported from `meridian_assets.errors`): an input cannot be true (NaN score, negative ADV,
  a name in both books, a covariance of the wrong shape).
* `ProgramInfeasible`: the constraints admit no book; ``binding`` names the constraint groups that had to
  be relaxed to find one (e.g. ``("beta", "turnover")``).
* `NumericalSolverError`: every solver in the fallback list failed or returned an inaccurate answer.
"""

from __future__ import annotations

from meridian_assets.errors import DataError, MeridianError

__all__ = ["DataError", "PortfolioError", "ProgramInfeasible", "NumericalSolverError"]


class PortfolioError(MeridianError):
    """Base class of the portfolio-construction errors."""


class ProgramInfeasible(PortfolioError):
    """The optimisation problem has no feasible point; ``binding`` lists the constraint groups to relax."""

    def __init__(self, message: str, binding: tuple[str, ...] = ()) -> None:
        self.binding = tuple(binding)
        where = f" (binding: {', '.join(self.binding)})" if self.binding else ""
        super().__init__(f"{message}{where}")


class NumericalSolverError(PortfolioError):
    """No solver in the fallback chain produced an accurate solution; ``attempts`` is (solver, status) pairs."""

    def __init__(self, message: str, attempts: tuple[tuple[str, str], ...] = ()) -> None:
        self.attempts = tuple(attempts)
        tried = "; ".join(f"{s}: {st}" for s, st in self.attempts)
        super().__init__(f"{message}" + (f" [{tried}]" if tried else ""))
