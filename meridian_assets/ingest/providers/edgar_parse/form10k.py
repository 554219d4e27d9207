"""10-K Item 1A (Risk Factors): the section's text from the document's HTML, plain text or Markdown.

HTML goes through edgartools' 10-K section detection (`edgar.documents.HTMLParser`). Plain text / Markdown, or
HTML the parser cannot sectionise, fall back to a heading regex (`_item_1a_by_headings`).
"""

from __future__ import annotations

import re

_ITEM_1A_START = re.compile(r"^[\s#*|>_]*item[\s\xa0]*1a[\s\xa0]*[.:\-\u2013\u2014]?[\s\xa0|*_]*risk[\s\xa0]+factors", re.I | re.M)
_ITEM_1A_END = re.compile(r"^[\s#*|>_]*item[\s\xa0]*(?:1b|1c|2)\b", re.I | re.M)


def _looks_like_html(text: str) -> bool:
    head = text[:5000].lower()
    # Markdown may carry a few inline tags; an HTML document is dense with them.
    return "<html" in head or "<body" in head or len(re.findall(r"<[a-z]", head)) >= 20


def _item_1a_by_headings(text: str) -> str:
    """Longest span from an "Item 1A ... Risk Factors" heading line to the next Item 1B/1C/2 heading line
    (the table of contents yields a one-line span, so the longest is the section itself)."""
    best = ""
    for m in _ITEM_1A_START.finditer(text):
        end = _ITEM_1A_END.search(text, m.end())
        span = text[m.start(): end.start() if end else len(text)]
        if len(span) > len(best):
            best = span
    return re.sub(r"^[\s#*|>]+", "", best).strip()


def _html_to_text(html: str) -> str:
    import lxml.html

    doc = lxml.html.fromstring(html.encode("utf-8", "ignore"), parser=lxml.html.HTMLParser(encoding="utf-8"))
    for bad in doc.xpath("//script|//style"):
        bad.drop_tree()
    for block in doc.xpath("//p|//div|//br|//tr|//li|//h1|//h2|//h3|//h4|//h5|//h6"):
        block.tail = "\n" + (block.tail or "")
    return re.sub(r"[ \t\xa0]+", " ", doc.text_content())


def extract_item_1a(text: str) -> str:
    """The Item 1A (Risk Factors) text of a 10-K, from its HTML, plain text or Markdown; "" when not found.

    HTML goes through edgartools' 10-K section detection (`edgar.documents.HTMLParser`, section
    ``risk_factors``); when that finds nothing the text (tags stripped with lxml) is cut by headings.
    """
    if not text:
        return ""
    if _looks_like_html(text):
        try:
            from edgar.documents import HTMLParser, ParserConfig

            doc = HTMLParser(ParserConfig(form="10-K")).parse(text)
            section = doc.sections.get("risk_factors") if doc is not None else None
            body = section.text().strip() if section is not None else ""
            if len(body) > 500:
                return body
        except Exception:  # noqa: BLE001 -- edgartools' parser failing falls back to the heading cut
            pass
        text = _html_to_text(text)
    return _item_1a_by_headings(text)
