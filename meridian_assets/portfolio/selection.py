"""Which names go in the books: 20 LONG / 20 SHORT from the scores, topped up when fewer are flagged.

LONG = names flagged long, best score first; when fewer than ``num_longs`` are flagged the book is topped up
with the highest-scored remaining names. SHORT likewise from the short flags and the lowest scores. A name is
never in both books, and a name without a price or volume that session is not tradable and is left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class Books:
    longs: tuple[str, ...]
    shorts: tuple[str, ...]
    topped_up_long: int
    topped_up_short: int
    untradable: tuple[str, ...]


def tradable(candidates: pl.DataFrame) -> pl.Expr:
    return (pl.col("price").is_not_null() & (pl.col("price") > 0) & pl.col("adv_dollars").is_not_null()
            & (pl.col("adv_dollars") > 0) & pl.col("score").is_not_null())


def select_books(candidates: pl.DataFrame, num_longs: int, num_shorts: int) -> Books:
    """``candidates``: ticker, score, long_flag, short_flag, price, adv_dollars (one row per scored name)."""
    ok = candidates.filter(tradable(candidates))
    untradable = tuple(sorted(set(candidates["ticker"]) - set(ok["ticker"])))
    flagged_long = ok.filter(pl.col("long_flag").fill_null(False)).sort(["score", "ticker"], descending=[True, False])
    longs = flagged_long["ticker"].head(num_longs).to_list()
    topped_long = 0
    if len(longs) < num_longs:
        rest = (ok.filter(~pl.col("ticker").is_in(longs), ~pl.col("short_flag").fill_null(False))
                .sort(["score", "ticker"], descending=[True, False])["ticker"].head(num_longs - len(longs)).to_list())
        topped_long = len(rest)
        longs += rest
    flagged_short = (ok.filter(pl.col("short_flag").fill_null(False), ~pl.col("ticker").is_in(longs))
                     .sort(["score", "ticker"]))
    shorts = flagged_short["ticker"].head(num_shorts).to_list()
    topped_short = 0
    if len(shorts) < num_shorts:
        rest = (ok.filter(~pl.col("ticker").is_in(longs + shorts)).sort(["score", "ticker"])["ticker"]
                .head(num_shorts - len(shorts)).to_list())
        topped_short = len(rest)
        shorts += rest
    return Books(tuple(longs), tuple(shorts), topped_long, topped_short, untradable)
