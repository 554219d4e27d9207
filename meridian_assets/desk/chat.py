"""Ask ULTRON: the desk's chat, in the house voice, over a compact snapshot of the network's state.

* **Voice**: `reporting.persona.SYSTEM_PROMPT` (the commentary's and the letter's), plus the rules of a chat.
* **Context**: `network_context` — positions, exposures, risk, win/loss, recent attribution and fills, VIX —
  as one JSON block of at most ``desk.chat_context_max_kb``, sent as the system prompt (the provider caches
  it across the turns of a session).
* **Memory**: the last ``desk.chat_memory_turns`` question/answer pairs (six) go with each question.
* **Cost**: one session is one `structured_llm` session on the ``chat`` budget: a hard ceiling of
  ``analysis.chat_cost_ceiling_usd`` ($2), counted from what the session id already spent.
* **Audit**: every call is a row of `llm_calls` — written to the desk's own file
  (`serving/chat_calls.duckdb`: the desk never writes the live database) and merged into the live
  `llm_calls` by the next `serving_snapshot`.
* **Provider / model**: ``analysis.tasks.chat``. Without its key the chat says so and calls nothing.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

from meridian_assets.config import MeridianConfig
from meridian_assets.desk.data import performance, portfolio, risk
from meridian_assets.desk.source import Snapshot
from meridian_assets.analysis.client import key_available, missing_reason
from meridian_assets.analysis.service import LLMRequest, structured_llm
from meridian_assets.reporting.persona import SYSTEM_PROMPT
from meridian_assets.serving.publish import chat_calls_path

CHAT_RULES = ("You are ULTRON, the desk's assistant. Answer the portfolio manager's question from the JSON "
              "snapshot of the network below; say plainly when the snapshot does not hold the answer. Keep "
              "answers short: a few sentences or a compact list.")


def _rows(df, n: int | None = None) -> list[dict]:
    if df is None or df.is_empty():
        return []
    return json.loads((df.head(n) if n else df).write_json())


def network_context(snap: Snapshot, max_kb: int) -> str:
    """The snapshot of the network as compact JSON, trimmed (fewest positions and fills first) to ``max_kb``."""
    doc = risk.state(snap) or {}
    best, worst = performance.contributors(snap)
    fills = snap.query("SELECT ticker, action, shares, fill_price, slippage_bps, status, finished_at "
                       "FROM execution_fills ORDER BY recorded_at DESC LIMIT 20")
    ctx = {
        "kpis": portfolio.kpis(snap), "status": portfolio.status(snap),
        "exposures": doc.get("exposures"), "risk": {k: doc.get(k) for k in
                                                   ("trading_state", "alerts", "decomposition", "tail_risk")},
        "stress": doc.get("stress"), "win_loss": performance.win_loss(snap),
        "sector_relative_alpha": _rows(performance.sector_alpha(snap)),
        "attribution_last_5_days": _rows(performance.attribution(snap, days=5)),
        "best_contributors": _rows(best), "worst_contributors": _rows(worst),
        "recent_fills": _rows(fills), "positions": _rows(portfolio.positions(snap)),
    }
    limit = max_kb * 1024
    text = json.dumps(ctx, default=str, separators=(",", ":"))
    while len(text.encode()) > limit and (ctx["positions"] or ctx["recent_fills"]):
        key = "positions" if ctx["positions"] else "recent_fills"
        ctx[key] = ctx[key][: len(ctx[key]) // 2] if len(ctx[key]) > 1 else []
        text = json.dumps(ctx, default=str, separators=(",", ":"))
    return text[:limit]


@dataclass
class ChatSession:
    """One desk chat session: its id (the `llm_calls.run_id` of its calls), memory and LLM session."""

    cfg: MeridianConfig
    context: str
    session_id: str = field(default_factory=lambda: f"desk-chat-{uuid.uuid4().hex[:12]}")
    history: list[tuple[str, str]] = field(default_factory=list)
    spent_usd: float = 0.0
    _llm: object = None

    @property
    def task(self):
        return self.cfg.analysis.tasks["chat"]

    def available(self) -> tuple[bool, str]:
        if key_available(self.task.provider):
            return True, ""
        return False, missing_reason(self.task.provider)

    def system_prompt(self) -> str:
        return f"{SYSTEM_PROMPT}\n\n{CHAT_RULES}\n\nSnapshot of the network (JSON):\n{self.context}"

    def user_prompt(self, question: str) -> str:
        turns = self.history[-self.cfg.desk.chat_memory_turns:]
        lines = [f"PM: {q}\nULTRON: {a}" for q, a in turns]
        return ("Earlier in this conversation:\n" + "\n\n".join(lines) + "\n\n" if lines else "") + f"PM: {question}"

    def ask(self, question: str) -> str:
        """ULTRON's answer, or a plain sentence saying why there is none (no key, the ceiling, an error)."""
        ok, why = self.available()
        if not ok:
            return f"ULTRON is offline: {why}"
        if self._llm is None:
            chat_calls_path(self.cfg.home()).parent.mkdir(parents=True, exist_ok=True)
            self._llm = structured_llm(self.task.provider, run_id=self.session_id, budget="chat", config=self.cfg,
                                       database=chat_calls_path(self.cfg.home()))
        answer = self._llm(LLMRequest(task="chat", provider=self.task.provider, model=self.task.model,
                                      system=self.system_prompt(), user=self.user_prompt(question), schema=None,
                                      max_tokens=self.task.max_tokens,
                                      cost_ceiling_usd=self.cfg.analysis.chat_cost_ceiling_usd))
        self.spent_usd = float(answer.extra.get("run_spent_usd", self.spent_usd))
        if answer.content is None:
            return f"ULTRON could not answer: {answer.error}"
        text = str(answer.content).strip()
        self.history.append((question, text))
        self.history = self.history[-self.cfg.desk.chat_memory_turns:]
        return text
