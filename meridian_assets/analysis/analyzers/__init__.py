"""The five LLM analysts. Order matters: the four per-ticker analysts run before the sector analyst, which
reads their results."""

from meridian_assets.analysis.analyzers.base import Analyzer, AnalyzerInput
from meridian_assets.analysis.analyzers.earnings import EarningsAnalyzer
from meridian_assets.analysis.analyzers.filing import FilingAnalyzer
from meridian_assets.analysis.analyzers.insider import InsiderAnalyzer
from meridian_assets.analysis.analyzers.risk_factor import RiskFactorAnalyzer
from meridian_assets.analysis.analyzers.sector import SectorAnalyzer

TICKER_ANALYZERS: tuple[Analyzer, ...] = (EarningsAnalyzer(), FilingAnalyzer(), RiskFactorAnalyzer(),
                                          InsiderAnalyzer())
SECTOR_ANALYZER = SectorAnalyzer()
ALL_ANALYZERS: tuple[Analyzer, ...] = (*TICKER_ANALYZERS, SECTOR_ANALYZER)
BY_NAME: dict[str, Analyzer] = {a.name: a for a in ALL_ANALYZERS}
BLENDED: tuple[str, ...] = tuple(a.name for a in ALL_ANALYZERS if a.blended)

__all__ = ["ALL_ANALYZERS", "BLENDED", "BY_NAME", "SECTOR_ANALYZER", "TICKER_ANALYZERS", "Analyzer",
           "AnalyzerInput"]
