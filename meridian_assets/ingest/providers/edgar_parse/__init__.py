"""Pure parsers for the `edgar` provider: SEC documents already in hand -> polars frames in the Layer-1 schemas,
one module per form.

Nothing here touches the network. Every function takes an edgartools object or the raw text of a document
(as downloaded from EDGAR, or recorded in a test fixture) and returns a frame conformed to
`meridian_assets.ingest.schemas`. edgartools does the parsing wherever it offers a parser that works offline.

* `common`  -- ``known_at_for`` (the session a filing becomes usable), date/number readers, SGML loading.
* `form4`   -- Form 3/4/5 ownership documents -> ``insider_transactions``.
* `form13f` -- 13-F-HR holdings -> ``institutional_holdings``, position changes, restriction to the universe.
* `xbrl`    -- 10-K / 10-Q XBRL statements -> ``fundamentals_raw``.
* `form10k` -- 10-K Item 1A (Risk Factors) text.
"""

from meridian_assets.ingest.providers.edgar_parse.common import known_at_for, parse_datetime, to_date
from meridian_assets.ingest.providers.edgar_parse.form4 import parse_form4, parse_form4_submission
from meridian_assets.ingest.providers.edgar_parse.form10k import extract_item_1a
from meridian_assets.ingest.providers.edgar_parse.form13f import (
    ThirteenFDocument,
    add_position_changes,
    parse_13f_infotable,
    parse_13f_submission,
    read_13f_submission,
    restrict_holdings,
    ticker_key,
)
from meridian_assets.ingest.providers.edgar_parse.xbrl import (
    CONCEPTS,
    FLOW_ITEMS,
    XbrlValues,
    fundamentals_from_xbrl,
    quarterize,
    values_frame,
    xbrl_values,
)

__all__ = [
    "CONCEPTS", "FLOW_ITEMS", "ThirteenFDocument", "XbrlValues", "add_position_changes", "extract_item_1a",
    "fundamentals_from_xbrl", "known_at_for", "parse_13f_infotable", "parse_13f_submission", "parse_datetime",
    "parse_form4", "parse_form4_submission", "quarterize", "read_13f_submission", "restrict_holdings",
    "ticker_key", "to_date", "values_frame", "xbrl_values",
]
