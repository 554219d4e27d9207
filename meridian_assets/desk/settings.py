"""The desk's configuration block (``desk`` in meridian.yaml).

Base layer: imports pydantic and `config_base` only (importing it loads no Streamlit).
"""

from __future__ import annotations

from pydantic import Field

from meridian_assets.config_base import Block


class DeskConfig(Block):
    """The PM's desk (`make desk`, meridian_assets/desk): where it listens, the Dagster webserver its actions
    go through, and when it refreshes itself."""

    port: int = Field(8502, ge=1, le=65535)  # the desk's HTTP port (loopback)
    dagster_host: str = "127.0.0.1"  # the Dagster webserver that Approve / Execute / Regenerate launch runs on
    dagster_port: int = Field(3000, ge=1, le=65535)  # that webserver's HTTP port
    auto_refresh_seconds: int = Field(300, ge=10)  # reload interval, only while NYSE is open (09:30-16:00 ET)
    chat_memory_turns: int = Field(6, ge=1, le=50)  # question/answer pairs the chat remembers
    chat_context_max_kb: int = Field(19, ge=1, le=200)  # size bound (KiB) of the network snapshot sent as context
