"""`MarketHistory`'s per-session lookups (next earnings date, corporate actions) answer from arrays built once;
they must give, session by session, what a point-in-time query of the frames gives — including revised earnings
dates (a date known later never shows early), actions announced after their effective date, and rows with
missing fields."""

import datetime as dt

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import meta_world as w


def _next_earnings(earnings: pl.DataFrame, day: dt.date, tickers: list[str]) -> list[int | None]:
    e = earnings.filter((pl.col("earnings_date") >= day) & (pl.col("known_at") <= day))
    nxt = dict(e.group_by("ticker").agg(pl.col("earnings_date").min()).iter_rows())
    return [(nxt[t] - day).days if t in nxt else None for t in tickers]


def _actions(actions: pl.DataFrame, day: dt.date) -> list[tuple]:
    a = actions.filter((pl.col("date") == day) & (pl.col("known_at").is_null() | (pl.col("known_at") <= day)))
    return sorted(a.select("ticker", "action", "ratio", "new_ticker").iter_rows())


def test_lookups_equal_point_in_time_queries_on_every_session():
    history = w.history(w.config())
    tickers = [*history.tickers, "NOPE"]
    assert history.earnings.height and history.actions.height  # the world has both to compare
    for day in history.sessions:
        assert history.days_to_earnings(day, tickers) == _next_earnings(history.earnings, day, tickers), day
        assert sorted(history.actions_on(day)) == _actions(history.actions, day), day


DAY0 = dt.date(2024, 1, 1)
days = st.integers(0, 40).map(lambda k: DAY0 + dt.timedelta(days=k))
maybe_days = st.one_of(st.none(), days)
names = st.sampled_from(["AAA", "BBB", "CCC"])


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(names, maybe_days, maybe_days), max_size=25),
       acts=st.lists(st.tuples(maybe_days, names, st.sampled_from(["split", "delist"]), maybe_days), max_size=12))
def test_lookups_equal_queries_on_arbitrary_frames(rows, acts):
    base = w.history(w.config())
    earnings = pl.DataFrame(rows, schema={"ticker": pl.Utf8, "earnings_date": pl.Date, "known_at": pl.Date},
                            orient="row")
    actions = pl.DataFrame([(d, t, a, 2.0, None, k) for d, t, a, k in acts], orient="row",
                           schema={"date": pl.Date, "ticker": pl.Utf8, "action": pl.Utf8, "ratio": pl.Float64,
                                   "new_ticker": pl.Utf8, "known_at": pl.Date})
    h = type(base)(**{**{f: getattr(base, f) for f in base.__dataclass_fields__}, "earnings": earnings,
                      "actions": actions})
    for k in range(0, 42, 3):
        day = DAY0 + dt.timedelta(days=k)
        assert h.days_to_earnings(day, ["AAA", "BBB", "CCC"]) == _next_earnings(earnings, day, ["AAA", "BBB", "CCC"])
        assert sorted(h.actions_on(day)) == _actions(actions, day)


def test_a_frame_already_in_order_is_kept_and_any_other_is_sorted():
    import numpy as np

    from meridian_assets.meta.history import _sorted

    rng = np.random.default_rng(7)
    days = [dt.date(2024, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 6, 300)]
    frame = pl.DataFrame({"date": days, "ticker": [f"T{int(t)}" for t in rng.integers(0, 9, 300)],
                          "v": rng.normal(size=300)}).unique(["date", "ticker"], keep="first", maintain_order=True)
    expected = frame.sort("date", "ticker")
    assert _sorted(frame, "date", "ticker").equals(expected)  # shuffled: sorted
    assert _sorted(expected, "date", "ticker") is expected  # in order: the same frame, no sort
    assert _sorted(frame.sort("ticker", "date"), "date", "ticker").equals(expected)  # the other key order
    swapped = expected.with_row_index().with_columns(  # two neighbours out of order on the second key only
        pl.when(pl.col("index") == 1).then(pl.lit(expected["ticker"][2])).when(pl.col("index") == 2)
        .then(pl.lit(expected["ticker"][1])).otherwise(pl.col("ticker")).alias("ticker")).drop("index")
    if expected["date"][1] == expected["date"][2]:
        assert _sorted(swapped, "date", "ticker").equals(swapped.sort("date", "ticker"))
    with_null = expected.with_columns(pl.when(pl.int_range(pl.len()) == 5).then(None).otherwise(pl.col("date"))
                                      .alias("date"))
    assert _sorted(with_null, "date", "ticker").equals(with_null.sort("date", "ticker"))
    assert _sorted(expected.select("date").unique().sort("date"), "date").height == 6
