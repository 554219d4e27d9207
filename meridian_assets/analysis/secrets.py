"""Keeping API keys out of everything Meridian writes: `redact` replaces the value of every provider key
variable with ``[redacted]``. Keys are never passed to the archive, logs or metadata in the first place;
this is the second line of defence, for a provider that echoes a key back in an error message."""

from __future__ import annotations

import os

SECRET_ENV_VARS = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_AUTH_TOKEN")
REDACTED = "[redacted]"
MIN_SECRET_LENGTH = 8  # shorter values would redact ordinary words


def redact(text: str | None) -> str | None:
    """``text`` with the value of every provider key variable replaced by ``[redacted]``."""
    if not text:
        return text
    for name in SECRET_ENV_VARS:
        secret = os.environ.get(name, "").strip()
        if len(secret) >= MIN_SECRET_LENGTH and secret in text:
            text = text.replace(secret, REDACTED)
    return text
