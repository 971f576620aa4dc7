"""The plans in service: every ``*.yaml`` of the plan folder, loaded, checked, reloadable.

A plan version is only taken into service when it loads without errors and
every prompt it names converts (files) or synthesises (text). A version that
fails is refused: the running version stays, and the problems are kept for
the API and the log. Calls hold the :class:`Plan` they started with, so a
reload never changes a call in progress.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
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


@dataclass
class ReloadReport:
    loaded: list[str] = field(default_factory=list)  # "name version" taken into service
    refused: dict[str, list[str]] = field(default_factory=dict)  # file -> problems
    removed: list[str] = field(default_factory=list)


def _file_stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


class PlanRegistry:
    def __init__(self, directory: Path, default_plan: str, prompts: PromptLibrary) -> None:
        self._directory = directory
        self._default_name = default_plan
        self._prompts = prompts
        self._plans: dict[str, Plan] = {}
        self._stamps: dict[Path, tuple[int, int]] = {}
        self._lock = asyncio.Lock()
        self.errors: dict[str, list[str]] = {}

    async def load_all(self) -> None:
        """First load; the default plan must be among the plans that load.

        Raises:
            DialplanError: the default plan is missing or broken.
        """
        await self.reload()
        if self._default_name not in self._plans:
            where = Location(str(self._directory), 1, 1)
            detail = "it failed to load (see above)" if self.errors else "no such plan"
            raise DialplanError([Problem(where, f"default plan {self._default_name!r}: {detail}")])

    def changed_on_disk(self) -> bool:
        """True when a plan file was added, removed or modified since the last load."""
        try:
            current = {p: _file_stamp(p) for p in self._directory.glob("*.yaml")}
        except OSError:
            return False
        return current != self._stamps

    async def reload(self) -> ReloadReport:
        """Load what changed in the folder; broken versions are refused, not applied."""
        async with self._lock:
            return await self._reload()

    async def _reload(self) -> ReloadReport:
        report = ReloadReport()
        seen: dict[Path, tuple[int, int]] = {}
        names_on_disk: set[str] = set()
        for path in sorted(self._directory.glob("*.yaml")):
            try:
                seen[path] = _file_stamp(path)
            except OSError:
                continue
            unchanged = self._stamps.get(path) == seen[path] and str(path) not in self.errors
            current = next((p for p in self._plans.values() if p.path == path), None)
            if unchanged and current is not None:
                names_on_disk.add(current.name)
                continue
            try:
                plan = await prepare_plan(path, self._prompts)
            except DialplanError as exc:
                self.errors[str(path)] = [str(p) for p in exc.problems]
                report.refused[str(path)] = self.errors[str(path)]
                for problem in exc.problems:
                    log.error("plan refused, the running version stays: %s", problem)
                if current is not None:
                    names_on_disk.add(current.name)
                continue
            other = self._plans.get(plan.name)
            if other is not None and other.path != path and other.path.exists():
                message = f"{path}: plan name {plan.name!r} is already used by {other.path}"
                self.errors[str(path)] = [message]
                report.refused[str(path)] = [message]
                log.error("plan refused: %s", message)
                continue
            self.errors.pop(str(path), None)
            names_on_disk.add(plan.name)
            if other is None or other.version != plan.version:
                self._plans[plan.name] = plan
                report.loaded.append(f"{plan.name} {plan.version}")
                log.info("plan %s version %s in service (%s)", plan.name, plan.version, path)
        for name in list(self._plans):
            if name in names_on_disk:
                continue
            if name == self._default_name:
                self.errors[str(self._plans[name].path)] = [
                    "the default plan's file is gone; its last version stays in service"
                ]
                continue
            del self._plans[name]
            report.removed.append(name)
            log.info("plan %s removed: its file is gone", name)
        for gone in set(self.errors) - {str(p) for p in seen}:
            if not any(str(p.path) == gone for p in self._plans.values()):
                del self.errors[gone]
        self._stamps = seen
        return report

    def for_call(self, info: CallInfo) -> Plan:
        """The plan whose ``match`` fits the call (by plan name order), else the default."""
        for name in sorted(self._plans):
            if name != self._default_name and self._plans[name].matches(
                info.caller_number, info.called_number
            ):
                return self._plans[name]
        return self._plans[self._default_name]

    def summary(self) -> list[dict[str, str]]:
        return [
            {"name": p.name, "version": p.version, "path": str(p.path)}
            for p in sorted(self._plans.values(), key=lambda p: p.name)
        ]
