"""The texts a node of a plan speaks, read from the plan files the service reads."""

from __future__ import annotations

from pathlib import Path

from ivr.dialplan.loader import check_plan
from ivr.dialplan.model import Plan


class PlanTexts:
    """Node name -> prompt texts, for the plans in one folder (loaded on first use)."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._plans: dict[str, Plan] | None = None

    def _load(self) -> dict[str, Plan]:
        plans: dict[str, Plan] = {}
        for path in sorted(self._directory.glob("*.yaml")):
            plan, _ = check_plan(path)  # a broken plan is the service's to report
            if plan is not None:
                plans[plan.name] = plan
        return plans

    def texts(self, plan_name: str, node_name: str) -> list[str]:
        """What ``node_name`` says, in the plan's first language; ``<plan>/<node>`` names
        a node of another plan (a goto sub-flow). Audio files show as ``(audio NAME)``,
        values as their ``{fields}``. Empty for an unknown plan or node."""
        if self._plans is None:
            self._plans = self._load()
        if "/" in node_name:
            plan_name, node_name = node_name.split("/", 1)
        plan = self._plans.get(plan_name)
        node = plan.nodes.get(node_name) if plan is not None else None
        if plan is None or node is None:
            return []
        texts = []
        for prompt in node.prompts:
            variant = prompt.for_language(plan.default_language)
            if variant.text is not None:
                texts.append(variant.text)
            elif variant.file is not None:
                texts.append(f"(audio {variant.file.name})")
        return texts
