"""The risk vocabulary the layers above speak: the book's trading state and the pre-trade reason codes.

Defined here, not in the modules that decide them (`breakers`, `pre_trade`), so portfolio construction,
execution and reporting can name a state or a reason without importing a check (nautilus_trader's model
layer). The order of `VetoReason` is the order the pre-trade checks run in.
"""

from __future__ import annotations

import enum


class TradingState(str, enum.Enum):
    """ACTIVE trades freely; REDUCING only shrinks positions; HALTED places no new order (cancels still go)."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


class VetoReason(str, enum.Enum):
    """Why the pre-trade check denied a trade (one code per check, in check order)."""

    TRADING_HALTED = "TRADING_HALTED"
    EARNINGS_BLACKOUT = "EARNINGS_BLACKOUT"
    LIQUIDITY = "LIQUIDITY"
    POSITION_SIZE = "POSITION_SIZE"
    SECTOR_CONCENTRATION = "SECTOR_CONCENTRATION"
    GROSS_NET = "GROSS_NET"
    BETA = "BETA"
    TRADING_REDUCING = "TRADING_REDUCING"
