"""Typed errors. Each says what is wrong and where: table, ticker, date and field when they apply."""

from __future__ import annotations

import datetime as dt


class MeridianError(Exception):
    """Base class of every error Meridian raises on purpose."""


class ConfigError(MeridianError):
    """`meridian.yaml` (or an override) is invalid; the message names the key."""


class DataError(MeridianError):
    """A row of a table cannot be true. The message names table, ticker, date and field."""

    def __init__(
        self,
        table: str,
        message: str,
        *,
        ticker: str | None = None,
        date: dt.date | str | None = None,
        field: str | None = None,
        value: object = None,
    ) -> None:
        self.table, self.ticker, self.date, self.field, self.value = table, ticker, date, field, value
        where = " ".join(str(p) for p in (table, date, ticker) if p is not None)
        what = f"{field}={value!r}" if field is not None else ""
        super().__init__(f"{where} {what} ({message})".replace("  ", " ").strip())


class PriceDataError(DataError):
    """A price bar cannot be true (non-positive, NaN, high < low, close outside the range...)."""


class ProviderError(MeridianError):
    """A data provider could not serve a request (missing key, service unreachable, bad response)."""


class ProviderUnavailable(ProviderError):
    """The provider is not usable here: its key is missing or its service is unreachable."""


class ProviderUnsupported(ProviderError):
    """The provider does not offer this kind of data (e.g. `alpaca` has no 13-F holdings)."""


class InputFileError(ProviderError):
    """A data file cannot be used as it is: empty, truncated, not the format its name says, a required column
    missing, or values that do not parse. The message is one line: the path, then the problem."""

    def __init__(self, path: object, problem: str) -> None:
        self.path, self.problem = path, problem
        super().__init__(f"{path}: {problem}")
