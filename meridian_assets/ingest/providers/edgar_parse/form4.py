"""Form 3/4/5 ownership documents -> ``insider_transactions`` rows.

edgartools parses offline: `edgar.xmltools.parse_xml` and the non-derivative table parser
`edgar.ownership.table_containers.NonDerivativeTable.extract` (the one `Form4.parse_xml` uses). The reporting
owners are read here with `edgar.xmltools.child_text`, because edgartools' `ReportingOwners` looks every owner
up on SEC (``Entity(cik)``) just to decide whether to reverse the name -- one request per owner. The name is
therefore kept as filed ("Scarpelli Michael"). A CEO or CFO is recognised by `insiders.is_ceo_cfo`, the one
title rule the insider factor uses too.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from meridian_assets.ingest import schemas
from meridian_assets.ingest.insiders import is_ceo_cfo
from meridian_assets.ingest.providers.edgar_parse.common import as_sgml, known_at_for, num, to_date


def _owners(root: Any, remarks: str) -> list[dict[str, Any]]:
    from edgar.core import get_bool
    from edgar.xmltools import child_text, find_all_elements, find_element

    owners = []
    for tag in find_all_elements(root, "reportingOwner"):
        ident = find_element(tag, "reportingOwnerId")
        rel = find_element(tag, "reportingOwnerRelationship")
        title = (child_text(rel, "officerTitle") or "").strip() if rel is not None else ""
        if title and "see remarks" in title.lower() and remarks:
            title = remarks.strip()
        cik = child_text(ident, "rptOwnerCik") if ident is not None else None
        owners.append(
            {
                "name": (child_text(ident, "rptOwnerName") or "").strip() if ident is not None else "",
                "cik": int(cik) if cik and cik.strip().isdigit() else None,
                "title": title,
                "is_director": bool(rel is not None and get_bool(child_text(rel, "isDirector"))),
                "is_officer": bool(rel is not None and get_bool(child_text(rel, "isOfficer"))),
                "is_ten_pct": bool(rel is not None and get_bool(child_text(rel, "isTenPercentOwner"))),
            }
        )
    return owners


def parse_form4(
    xml_text: str,
    accepted_at: dt.datetime | dt.date | str | None,
    *,
    accession_no: str | None = None,
    ticker: str | None = None,
    filing_date: dt.date | str | None = None,
) -> pl.DataFrame:
    """Non-derivative transactions of a Form 4 (or 5) ownership document -> `schemas.INSIDER_TRANSACTIONS`.

    One row per ``<nonDerivativeTransaction>`` in filing order (``line`` from 1). With several reporting
    owners (joint filers) the row carries the first owner's name and CIK, the distinct titles joined by
    "; ", and director/officer flags set if any owner has them. ``is_ceo_cfo_buy`` is an open-market
    purchase (code P) by an owner whose title names the CEO or CFO. ``value`` = shares x price (null without
    a price). Form 3 (holdings only) yields an empty frame.
    """
    from edgar.ownership.table_containers import NonDerivativeTable
    from edgar.xmltools import child_text, find_element, local_name, parse_xml

    root = parse_xml(xml_text.strip())
    if local_name(root) != "ownershipDocument":
        raise ValueError(f"not an ownership document (root <{local_name(root)}>)")
    form = child_text(root, "documentType") or ""
    issuer = find_element(root, "issuer")
    symbol = ticker or (child_text(issuer, "issuerTradingSymbol") if issuer is not None else None)
    symbol = (symbol or "").strip().upper() or None
    owners = _owners(root, child_text(root, "remarks") or "")
    if not owners:
        raise ValueError("ownership document without a reporting owner")
    titles = "; ".join(dict.fromkeys(o["title"] for o in owners if o["title"])) or None
    ceo_cfo = any(is_ceo_cfo(o["title"]) for o in owners)
    known_at = known_at_for(accepted_at, filing_date)

    table = NonDerivativeTable.extract(find_element(root, "nonDerivativeTable"), form=form)
    data = table.transactions.data
    if data is None or len(data) == 0 or "Code" not in data.columns:
        return schemas.INSIDER_TRANSACTIONS.empty()
    rows = []
    for line, rec in enumerate(data.to_dict("records"), start=1):
        shares, price = num(rec.get("Shares")), num(rec.get("Price"))
        code = (rec.get("Code") or "").strip().upper() or None
        rows.append(
            {
                "ticker": symbol,
                "accession_no": accession_no,
                "line": line,
                "insider_name": owners[0]["name"],
                "insider_cik": owners[0]["cik"],
                "insider_title": titles,
                "is_director": any(o["is_director"] for o in owners),
                "is_officer": any(o["is_officer"] for o in owners),
                "transaction_date": to_date(rec.get("Date")),
                "code": code,
                "acquired_disposed": (rec.get("AcquiredDisposed") or "").strip().upper() or None,
                "shares": shares,
                "price": price,
                "value": shares * price if shares is not None and price is not None else None,
                "shares_owned_after": num(rec.get("Remaining")),
                "is_ceo_cfo_buy": code == "P" and ceo_cfo,
                "known_at": known_at,
            }
        )
    return schemas.INSIDER_TRANSACTIONS.conform(
        pl.DataFrame(rows, schema_overrides=schemas.INSIDER_TRANSACTIONS.columns)
    )


def parse_form4_submission(sgml: Any, *, ticker: str | None = None) -> pl.DataFrame:
    """A Form 4 full submission (`edgar.sgml.FilingSGML`, or its text / path) -> insider transactions."""
    sgml = as_sgml(sgml)
    xml = sgml.xml()
    if not xml:
        raise ValueError(f"{sgml.accession_number}: no ownership XML in the submission")
    return parse_form4(
        xml,
        sgml.header.acceptance_datetime,
        accession_no=sgml.accession_number,
        ticker=ticker,
        filing_date=sgml.filing_date,
    )
