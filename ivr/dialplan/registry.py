"""The plans in service: every ``*.yaml`` of the plan folder, loaded, checked, reloadable.

A plan version is only taken into service when it loads without errors and
every prompt it names converts (files) or synthesises (text). A version that
fails is refused: the running version stays, and the problems are kept for
the API and the log. Calls hold the :class:`Plan` they started with, so a
reload never changes a call in progress.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ivr.dialplan.loader import load_plan
from ivr.dialplan.model import Plan
from ivr.dialplan.nodes import plan_prompts
from ivr.dialplan.nodes.goto import GotoNode
from ivr.dialplan.nodes.menu import MenuNode
from ivr.dialplan.problems import Location, Problem
from ivr.dialplan.speech_turn import menu_request
from ivr.dialplan.targets import ServiceTargets, check_targets
from ivr.dialplan.versions import VersionArchive
from ivr.exceptions import DialplanError, IvrError, PromptError
from ivr.media.prompts import PromptLibrary
from ivr.telephony.interface import CallInfo

log = logging.getLogger(__name__)


async def prepare_plan(
    path: Path, prompts: PromptLibrary, targets: ServiceTargets | None = None
) -> Plan:
    """Load ``path`` and render all its prompts; warnings (and, with ``targets``, the
    queues, agents and callbacks it names that the configuration lacks) are logged.

    Raises:
        DialplanError: every problem found, each with its file:line:col.
    """
    plan = load_plan(path, warn=lambda problem: log.warning("%s", problem))
    for problem in check_targets(plan, targets) if targets is not None else []:
        log.warning("%s", problem)
    problems = []
    for prompt in plan_prompts(plan):
        if prompt.has_values:  # spoken at call time, once the values are known
            continue
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


def prepare_listening(plan: Plan) -> int:
    """Build every speech menu's scorer, in each language of the plan, and encode its
    texts: otherwise the first caller to speak to a menu waits for it (about a second
    for a menu with hundreds of examples), and the event loop with them. Blocking: run
    it off the loop. Returns how many scorers were prepared."""
    prepared = 0
    for language in dict.fromkeys([plan.default_language, *plan.languages]):
        for node in plan.nodes.values():
            menu = menu_request(plan, node, language) if isinstance(node, MenuNode) else None
            if menu is not None:
                menu.scorer.prepare()
                prepared += 1
    return prepared


@dataclass
class ReloadReport:
    loaded: list[str] = field(default_factory=list)  # "name version" taken into service
    refused: dict[str, list[str]] = field(default_factory=dict)  # file -> problems
    removed: list[str] = field(default_factory=list)


def _file_stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


class PlanActionRefused(IvrError):
    """A promote or rollback that cannot be done (nothing to act on, or it would not load)."""


def canary_share(call_id: str) -> int:
    """A stable 0-99 bucket for a call, so a call's plan choice is repeatable."""
    return int.from_bytes(hashlib.sha256(call_id.encode()).digest()[:4], "big") % 100


class PlanRegistry:
    """The plans in service. With ``canary_percent`` above 0 a new version of a plan
    first takes that share of its calls; :meth:`promote` gives it all of them."""

    def __init__(
        self,
        directory: Path,
        default_plan: str,
        prompts: PromptLibrary,
        archive: VersionArchive,
        canary_percent: int = 0,
        targets: ServiceTargets | None = None,
    ) -> None:
        """``targets``: what the configuration offers, to warn about plans naming
        queues, agents or callbacks it lacks (None: not checked)."""
        self._directory = directory
        self._targets = targets
        self._default_name = default_plan
        self._prompts = prompts
        self._archive = archive
        self._canary_percent = canary_percent
        self._plans: dict[str, Plan] = {}
        self._canaries: dict[str, Plan] = {}
        self._stamps: dict[Path, tuple[int, int]] = {}
        self._lock = asyncio.Lock()
        self._listening_models: frozenset[str] = frozenset()  # see start_listening
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

    async def start_listening(self, models: Collection[str]) -> None:
        """Speech runs with ``models`` loaded: prepare the menus of the plans in service
        that use one of them (:func:`prepare_listening`, off the event loop), and of
        every version of such a plan loaded from now on."""
        async with self._lock:
            self._listening_models = frozenset(models)
            for plan in [*self._plans.values(), *self._canaries.values()]:
                await self._prepare_listening(plan)

    async def _prepare_listening(self, plan: Plan) -> None:
        if plan.speech is None or plan.speech.model not in self._listening_models:
            return
        loop = asyncio.get_running_loop()
        prepared = await loop.run_in_executor(None, prepare_listening, plan)
        log.info("plan %s version %s: %d menu scorers ready", plan.name, plan.version, prepared)

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

    async def _reload(self, all_calls: bool = False) -> ReloadReport:
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
            if current is not None and current.name in self._canaries:
                unchanged = unchanged and not all_calls
            if unchanged and current is not None:
                names_on_disk.add(current.name)
                continue
            try:
                plan = await prepare_plan(path, self._prompts, self._targets)
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
            await self._prepare_listening(plan)
            self._take_into_service(plan, other, all_calls, report)
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
        self._check_gotos()
        return report

    def _check_gotos(self) -> None:
        """Report gotos whose plan or node is not in service (the call would end there)."""
        for plan in [*self._plans.values(), *self._canaries.values()]:
            for node in plan.nodes.values():
                if not isinstance(node, GotoNode):
                    continue
                target = self._plans.get(node.plan)
                start = None if target is None else (node.node or target.start)
                if target is None or start not in target.nodes:
                    what = f"plan {node.plan!r}" if target is None else f"node {start!r}"
                    message = f"{node.location}: goto {node.name!r} leads to a missing {what}"
                    if message not in self.errors.get(str(plan.path), []):
                        self.errors.setdefault(str(plan.path), []).append(message)
                        log.error("%s", message)

    def get(self, name: str) -> Plan | None:
        """The version of plan ``name`` in service (for gotos between plans)."""
        return self._plans.get(name)

    def _take_into_service(
        self, plan: Plan, other: Plan | None, all_calls: bool, report: ReloadReport
    ) -> None:
        canary = self._canaries.get(plan.name)
        if other is not None and other.version == plan.version:
            if canary is not None:  # the file went back to the version in service
                del self._canaries[plan.name]
                log.info("plan %s: canary %s dropped", plan.name, canary.version)
            return
        if canary is not None and canary.version == plan.version:
            return
        self._archive.record(plan)
        report.loaded.append(f"{plan.name} {plan.version}")
        if other is None or all_calls or self._canary_percent == 0:
            self._plans[plan.name] = plan
            self._canaries.pop(plan.name, None)
            log.info("plan %s version %s in service (%s)", plan.name, plan.version, plan.path)
        else:
            self._canaries[plan.name] = plan
            log.info(
                "plan %s version %s takes %d%% of calls as a canary",
                plan.name,
                plan.version,
                self._canary_percent,
            )

    async def promote(self, name: str) -> Plan:
        """Give the canary of ``name`` all calls. Raises PlanActionRefused without one."""
        async with self._lock:
            canary = self._canaries.pop(name, None)
            if canary is None:
                raise PlanActionRefused(f"plan {name!r} has no canary to promote")
            self._plans[name] = canary
            log.info("plan %s version %s promoted: it takes all calls", name, canary.version)
            return canary

    async def rollback(self, name: str) -> Plan:
        """Drop the canary of ``name``, or else return to the version before the one in
        service. The plan file is rewritten to that version, so a restart keeps it.

        Raises:
            PlanActionRefused: unknown plan, or no earlier version kept.
            DialplanError: the earlier version no longer loads (a prompt file is gone).
        """
        async with self._lock:
            active = self._plans.get(name)
            if active is None:
                raise PlanActionRefused(f"no plan {name!r} in service")
            if name in self._canaries:
                target_text = active.source
            else:
                previous = self._archive.drop_last(name)
                if previous is None:
                    raise PlanActionRefused(f"plan {name!r} has no earlier version to return to")
                target_text = self._archive.text(name, previous)
            active.path.write_bytes(target_text)
            report = await self._reload(all_calls=True)
            if str(active.path) in report.refused:
                problems = "; ".join(report.refused[str(active.path)])
                raise PlanActionRefused(
                    f"the earlier version of {name!r} no longer loads: {problems}"
                )
            log.info("plan %s rolled back to version %s", name, self._plans[name].version)
            return self._plans[name]

    def for_call(self, info: CallInfo) -> Plan:
        """The plan whose ``match`` fits the call (by plan name order), else the default;
        a canary of that plan takes its share of calls."""
        chosen = self._plans[self._default_name]
        for name in sorted(self._plans):
            if name != self._default_name and self._plans[name].matches(
                info.caller_number, info.called_number
            ):
                chosen = self._plans[name]
                break
        canary = self._canaries.get(chosen.name)
        if canary is not None and canary_share(info.call_id) < self._canary_percent:
            return canary
        return chosen

    def summary(self) -> list[dict[str, Any]]:
        listed = []
        for plan in sorted(self._plans.values(), key=lambda p: p.name):
            canary = self._canaries.get(plan.name)
            listed.append(
                {
                    "name": plan.name,
                    "version": plan.version,
                    "path": str(plan.path),
                    "canary": None
                    if canary is None
                    else {"version": canary.version, "percent": self._canary_percent},
                    "history": self._archive.history(plan.name),
                }
            )
        return listed
