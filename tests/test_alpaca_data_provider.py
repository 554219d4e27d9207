"""The `alpaca` provider through the real alpaca-py client, against a loopback stub of Alpaca's REST API."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import polars as pl
import pytest

from meridian_assets.errors import ProviderUnavailable, ProviderUnsupported
from meridian_assets.ingest.providers.alpaca_data import AlpacaDataProvider
from meridian_assets.ingest.providers.base import Provider
from meridian_assets.ingest.schemas import DAILY_PRICES
from tests.stubs import AlpacaStub, generated_bar
from tests.conftest import fake_credential

KEY, SECRET = fake_credential("PK"), fake_credential("stub")
D = dt.date
BARS = "/v2/stocks/bars"
REALDATA_ALPACA = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "alpaca"


@pytest.fixture(scope="module")
def server():
    with AlpacaStub(api_key=KEY, secret_key=SECRET) as stub:
        yield stub


@pytest.fixture
def stub(server, monkeypatch):
    server.clear()
    server.market_data()
    monkeypatch.setenv("ALPACA_API_KEY", KEY)
    monkeypatch.setenv("ALPACA_SECRET_KEY", SECRET)
    monkeypatch.setenv("ALPACA_DATA_URL", server.url)
    monkeypatch.delenv("ALPACA_DATA_FEED", raising=False)
    return server


def provider(**kw) -> AlpacaDataProvider:
    kw.setdefault("retry_wait_seconds", 0.01)
    return AlpacaDataProvider(**kw)


def expected(symbol: str, day: dt.date) -> dict:
    split, total = generated_bar(symbol, day, "split"), generated_bar(symbol, day, "all")
    return {"date": day, "ticker": symbol, "open": split["o"], "high": split["h"], "low": split["l"],
            "close": split["c"], "adj_close": total["c"], "volume": float(split["v"]),
            "security_id": None}  # Alpaca knows tickers only: readers fill the company from the membership


def test_stub_speaks_alpacas_shape(stub):
    """The stub's bars have the fields of the recorded examples, and the example body parses the same way."""
    example = json.loads((REALDATA_ALPACA / "test_historical_stock_data__test_get_bars__0.json").read_text()) if (
        REALDATA_ALPACA.is_dir()) else {"bars": {"AAPL": [generated_bar("AAPL", D(2022, 2, 1))]}, "next_page_token": None}
    assert set(generated_bar("AAPL", D(2024, 1, 2))) == set(example["bars"]["AAPL"][0])
    stub.route_json("GET", BARS, {"bars": example["bars"], "next_page_token": None})
    f = provider().daily_prices(["AAPL"], D(2022, 2, 1), D(2022, 2, 2)).frame
    first = example["bars"]["AAPL"][0]
    assert f["date"].to_list()[0] == D(2022, 2, 1)  # 05:00Z is midnight in New York
    assert f.row(0, named=True)["close"] == first["c"] and f.row(0, named=True)["volume"] == float(first["v"])


def test_bars_values_and_schema(stub):
    res = provider().daily_prices(["AAPL", "brk-b"], D(2024, 1, 2), D(2024, 1, 5))
    assert res.errors == []
    assert res.frame.schema == DAILY_PRICES.polars_schema
    want = pl.DataFrame(
        [expected(s, D(2024, 1, d)) for s in ("AAPL", "BRK.B") for d in (2, 3, 4, 5)], schema=DAILY_PRICES.columns
    )
    assert res.frame.equals(want)
    # close from adjustment=split, adj_close from adjustment=all; feed iex; one batch per adjustment
    reqs = stub.requests_to(BARS)
    assert sorted(r.arg("adjustment") for r in reqs) == ["all", "split"]
    assert {r.arg("feed") for r in reqs} == {"iex"} and {r.arg("timeframe") for r in reqs} == {"1Day"}
    assert {r.arg("symbols") for r in reqs} == {"AAPL,BRK.B"}


def test_pagination_and_batches(stub):
    stub.bars.max_page_size = 5  # 3 symbols x 8 sessions = 24 bars -> 5 pages per adjustment
    res = provider(batch_size=2).daily_prices(["AAPL", "MSFT", "NVDA"], D(2024, 3, 4), D(2024, 3, 13))
    assert res.errors == []
    assert res.frame.group_by("ticker").len().sort("ticker")["len"].to_list() == [8, 8, 8]
    assert res.frame.row(0, named=True) == expected("AAPL", D(2024, 3, 4))
    reqs = stub.requests_to(BARS)
    assert {r.arg("symbols") for r in reqs} == {"AAPL,MSFT", "NVDA"}  # batches of 2
    tokens = [r.arg("page_token") for r in reqs if r.arg("symbols") == "AAPL,MSFT" and r.arg("adjustment") == "split"]
    assert len(tokens) == 4 and tokens[0] is None and all(tokens[1:])  # 16 bars in pages of 5


def test_keys_go_in_headers_and_never_in_errors_or_logs(stub, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    provider().daily_prices(["AAPL"], D(2024, 1, 2), D(2024, 1, 2))
    r = stub.requests_to(BARS)[0]
    assert r.header("APCA-API-KEY-ID") == KEY and r.header("APCA-API-SECRET-KEY") == SECRET
    assert KEY not in json.dumps(r.query)

    messages = []
    stub.fail("GET", BARS, status=500, body={"message": f"internal error for key {KEY} / {SECRET}"})
    with pytest.raises(ProviderUnavailable) as err:
        provider().daily_prices(["AAPL"], D(2024, 1, 2), D(2024, 1, 2))
    messages.append(str(err.value))
    assert "HTTP 500" in str(err.value)
    monkeypatch.setenv("ALPACA_SECRET_KEY", "wrong-secret-value")
    with pytest.raises(ProviderUnavailable, match="HTTP 401") as err:
        provider().daily_prices(["AAPL"], D(2024, 1, 2), D(2024, 1, 2))
    messages.append(str(err.value))
    messages.append(repr(provider()))
    for text in [*messages, caplog.text]:
        for secret in (KEY, SECRET, "wrong-secret-value"):
            assert secret not in text


def test_a_429_is_retried_by_alpaca_py(stub):
    p = provider()
    # alpaca-py 0.44's own retry policy (no constructor arguments for it): 3 retries on 429/504, 3 s apart
    defaults = AlpacaDataProvider(retry_wait_seconds=None).retry_settings
    assert defaults["retries"] == 3 and defaults["wait_seconds"] == 3 and {429, 504} <= set(defaults["codes"])
    stub.fail("GET", BARS, status=429, times=2)
    res = p.daily_prices(["AAPL"], D(2024, 1, 2), D(2024, 1, 3))
    assert res.errors == [] and res.frame.height == 2
    assert [r.status for r in stub.requests_to(BARS)] == [429, 429, 200, 200]

    stub.clear()
    stub.fail("GET", BARS, status=429, times=10)
    with pytest.raises(ProviderUnavailable, match="rate limit"):
        provider(retry_attempts=1).daily_prices(["AAPL"], D(2024, 1, 2), D(2024, 1, 3))
    assert len(stub.requests_to(BARS)) == 2  # the request and its one retry


def test_missing_keys_are_unavailable_at_first_use(stub, monkeypatch):
    monkeypatch.delenv("ALPACA_API_KEY")
    monkeypatch.delenv("ALPACA_SECRET_KEY")
    p = AlpacaDataProvider()  # constructing never needs the keys
    with pytest.raises(ProviderUnavailable, match="ALPACA_API_KEY.*ALPACA_SECRET_KEY"):
        p.daily_prices(["AAPL"], D(2024, 1, 2), D(2024, 1, 3))
    monkeypatch.setenv("ALPACA_API_KEY", KEY)
    with pytest.raises(ProviderUnavailable, match="missing: ALPACA_SECRET_KEY"):
        AlpacaDataProvider().daily_prices(["AAPL"], D(2024, 1, 2), D(2024, 1, 3))
    assert stub.requests_to(BARS) == []


def test_symbols_without_bars_are_fetch_errors(stub):
    stub.bars.missing = {"DELISTED"}
    res = provider().daily_prices(["AAPL", "DELISTED", "^VIX", "BAD$"], D(2024, 1, 2), D(2024, 1, 3))
    assert set(res.frame["ticker"].unique().to_list()) == {"AAPL"}
    errors = {e.ticker: e.message for e in res.errors}
    assert set(errors) == {"DELISTED", "^VIX", "BAD$"}
    assert "no bars" in errors["DELISTED"] and "index" in errors["^VIX"] and "HTTP 400" in errors["BAD$"]
    assert not any("^VIX" in (r.arg("symbols") or "") for r in stub.requests_to(BARS))


def test_unreachable_service_is_unavailable(monkeypatch):
    with AlpacaStub() as gone:
        url = gone.url
    monkeypatch.setenv("ALPACA_API_KEY", KEY)
    monkeypatch.setenv("ALPACA_SECRET_KEY", SECRET)
    monkeypatch.setenv("ALPACA_DATA_URL", url)
    with pytest.raises(ProviderUnavailable, match="cannot reach Alpaca") as err:
        provider(timeout_seconds=2).daily_prices(["AAPL"], D(2024, 1, 2), D(2024, 1, 3))
    assert err.value.__cause__ is None and KEY not in str(err.value)


def test_other_kinds_are_unsupported(stub):
    p = provider()
    assert isinstance(p, Provider) and p.name == "alpaca"
    with pytest.raises(ProviderUnsupported):
        p.fundamentals(["AAPL"], D(2024, 1, 2), D(2024, 1, 3))
    with pytest.raises(ProviderUnsupported):
        p.universe(D(2024, 1, 2))
