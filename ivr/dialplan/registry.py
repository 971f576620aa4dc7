"""The plans in service: every ``*.yaml`` of the plan folder, loaded and checked.

A plan is only taken into service when it loads without errors and every
prompt it names converts (files) or synthesises (text), so a missing or
broken prompt is an error at load time, not a silent call.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ivr.dialplan.loader import load_plan
from ivr.dialplan.model import Plan
from ivr.dialplan.problems import Location, Problem
from ivr.exceptions import DialplanError, PromptError
from ivr.prompts.library import PromptLibrary
from ivr.telephony.interface import CallInfo

log = logging.getLogger(__name__)


async def prepare_plan(path: Path, prompts: PromptLibrary) -> Plan:
    """Load ``path`` and render all its prompts.

    Raises:
        DialplanError: every problem found, each with its file:line:col.
    """
    plan = load_plan(path, warn=lambda problem: log.warning("%s", problem))
    problems = []
    for prompt in plan.prompts():
        try:
            if prompt.file is not None:
                await prompts.file(prompt.file)
            else:
                await prompts.speech(prompt.text or "", prompt.voice)
        except PromptError as exc:
            problems.append(Problem(prompt.location, str(exc)))
    if problems:
        raise DialplanError(problems)
    return plan


class PlanRegistry:
    def __init__(self, directory: Path, default_plan: str) -> None:
        self._directory = directory
        self._default_name = default_plan
        self._plans: dict[str, Plan] = {}
        self.errors: dict[str, list[str]] = {}

    async def load_all(self, prompts: PromptLibrary) -> None:
        """Load every plan in the folder; the default plan must load.

        Raises:
            DialplanError: the default plan is missing or broken.
        """
        for path in sorted(self._directory.glob("*.yaml")):
            try:
                plan = await prepare_plan(path, prompts)
            except DialplanError as exc:
                self.errors[str(path)] = [str(p) for p in exc.problems]
                for problem in exc.problems:
                    log.error("plan refused: %s", problem)
                continue
            if plan.name in self._plans:
                other = self._plans[plan.name].path
                log.error("plan %r in %s ignored: %s has the same name", plan.name, path, other)
                continue
            self._plans[plan.name] = plan
            log.info("plan %s loaded from %s (version %s)", plan.name, path, plan.version)
        if self._default_name not in self._plans:
            where = Location(str(self._directory), 1, 1)
            detail = "it failed to load (see above)" if self.errors else "no such plan"
            raise DialplanError([Problem(where, f"default plan {self._default_name!r}: {detail}")])

    def for_call(self, info: CallInfo) -> Plan:
        return self._plans[self._default_name]

    def summary(self) -> list[dict[str, str]]:
        return [
            {"name": p.name, "version": p.version, "path": str(p.path)}
            for p in self._plans.values()
        ]
