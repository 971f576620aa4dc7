"""``survey``: a satisfaction score, one key from 1 to 5, kept on the ticket."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ivr.dialplan.model import BaseNode, Prompt
from ivr.dialplan.nodes.asking import RETRY_KEYS, NoMatch, retry_fields, until_answered
from ivr.dialplan.nodes.base import NODE_NAME, RETRY_FIELDS, Fields, NodeType
from ivr.dialplan.nodes.call import Call
from ivr.telephony.interface import DigitPressed

SURVEY_TRIES = 2
SCORES = "12345"


@dataclass(frozen=True)
class SurveyNode(BaseNode):
    """Asks for a satisfaction score, one key from 1 to 5, kept on the ticket."""

    timeout_seconds: float
    tries: int
    no_input: tuple[Prompt, ...]
    no_match: tuple[Prompt, ...]
    next: str | None


class SurveyType(NodeType[SurveyNode]):
    name = "survey"
    node_class = SurveyNode
    keys = frozenset({"next"}) | RETRY_KEYS
    waits_for_caller = True
    plays_prompts_first = False

    def build(self, f: Fields) -> SurveyNode:
        return SurveyNode(
            name=f.name,
            location=f.location,
            prompts=f.prompts,
            **retry_fields(f, SURVEY_TRIES),
            next=f.target("next"),
        )

    def targets(self, node: SurveyNode) -> list[str]:
        return [node.next] if node.next else []

    def schema(self) -> dict[str, Any]:
        return {**RETRY_FIELDS, "next": NODE_NAME}

    def prompts(self, node: SurveyNode) -> tuple[Prompt, ...]:
        return node.prompts + node.no_input + node.no_match

    async def run(self, node: SurveyNode, call: Call) -> str | None:
        async def answer(key: DigitPressed) -> str | None | NoMatch:
            call.journal.pressed(key.digit, node.name)
            if key.digit not in SCORES:
                return NoMatch(digit=key.digit)
            call.journal.rated(int(key.digit), node.name)
            return None

        await until_answered(call, node, answer)
        return node.next
