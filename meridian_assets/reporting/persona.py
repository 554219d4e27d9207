"""The house voice of the commentary and the LP letter, and the check that flags departures from it.

One system prompt serves both documents. Voice anchors: the book is "the network", trades are
"executions"; no first-person plural, no "we believe" / "in our view", no exclamation marks, no emoji.
`voice_check` lists what departs from the voice; the generators record the flags and log them as warnings
but never block — a person revises the text.
"""

from __future__ import annotations

import re

SYSTEM_PROMPT = (
    "You write for Meridian Capital Partners, a market-neutral long/short US equity fund, in a fixed house "
    "voice. The portfolio is 'the network'; trades are 'executions'. Write in the third person: never use "
    "first-person plural (we, our, us), never write 'we believe' or 'in our view'. Institutional, precise and "
    "unhurried; no hype, no exclamation marks, no emoji. State only figures present in the context you are "
    "given, with their units; when a figure is missing, say so rather than estimate it. No forward-looking "
    "promises and no investment advice."
)

_FIRST_PERSON_PLURAL = re.compile(r"\b(we|we're|we've|we'll|we'd|our|ours|ourselves|us)\b", re.IGNORECASE)
_HEDGES = ("we believe", "in our view", "we think", "in our opinion")
_EMOJI = re.compile(
    "[\U0001F300-\U0001FAFF\U00002600-\U000027BF\U0001F000-\U0001F02F\U0001F0A0-\U0001F0FF"
    "\U0001F100-\U0001F1FF\U0001F200-\U0001F2FF\U00002B00-\U00002BFF\U0000FE0F]"
)


def voice_check(body: str) -> list[str]:
    """What in ``body`` departs from the house voice (empty when none), one readable item per offence."""
    flags: list[str] = []
    lower = body.lower()
    for phrase in _HEDGES:
        if phrase in lower:
            flags.append(f"hedge phrase: '{phrase}'")
    words = sorted({m.group(0).lower() for m in _FIRST_PERSON_PLURAL.finditer(body)})
    if words:
        flags.append("first-person plural: " + ", ".join(f"'{w}'" for w in words))
    if "!" in body:
        flags.append(f"exclamation mark x{body.count('!')}")
    emoji = _EMOJI.findall(body)
    if emoji:
        flags.append(f"emoji x{len(emoji)}")
    return flags
