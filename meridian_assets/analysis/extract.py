"""Finding JSON in a model's text answer: bare, in a fenced block, or embedded in prose.

`json_candidates(text)` returns every JSON object the text holds, most likely first:

1. the whole text, when it parses as JSON;
2. each fenced block (```json ... ``` or ``` ... ```), in order;
3. each balanced ``{...}`` found by scanning the text with `json.JSONDecoder.raw_decode` from every ``{``
   that is not inside an object already found (so an object nested in another is not offered twice).

Only objects (dicts) are returned: every structured answer in Meridian is an object. The caller validates
the candidates against the expected fields and takes the first valid one; text with no candidate, or with
none that validates, is an invalid answer.
"""

from __future__ import annotations

import json
import re

_FENCE = re.compile(r"```[ \t]*(?:json|JSON|javascript)?[ \t]*\r?\n?(.*?)```", re.DOTALL)
_DECODER = json.JSONDecoder()


def _loads(text: str) -> object:
    try:
        return json.loads(text)
    except (ValueError, TypeError):
        return None


def _embedded(text: str) -> list[dict]:
    found: list[dict] = []
    pos = text.find("{")
    while pos != -1:
        try:
            obj, end = _DECODER.raw_decode(text, pos)
        except ValueError:
            pos = text.find("{", pos + 1)
            continue
        if isinstance(obj, dict):
            found.append(obj)
            pos = text.find("{", end)  # skip what this object spans
        else:
            pos = text.find("{", pos + 1)
    return found


def json_candidates(text: str | None) -> list[dict]:
    """Every JSON object in ``text``, most likely first (see the module docstring); duplicates dropped."""
    if not text or not text.strip():
        return []
    out: list[dict] = []

    def add(obj: object) -> None:
        if isinstance(obj, dict) and obj not in out:
            out.append(obj)

    add(_loads(text.strip()))
    for block in _FENCE.findall(text):
        add(_loads(block.strip()))
        for obj in _embedded(block):
            add(obj)
    for obj in _embedded(text):
        add(obj)
    return out


def extract_json(text: str | None) -> dict | None:
    """The most likely JSON object in ``text``, or None."""
    found = json_candidates(text)
    return found[0] if found else None
