"""A plan's menus are ready to score speech when the plan goes into service, so the
first caller to speak to a menu (and the event loop) does not wait for its hundreds of
examples to be encoded."""

from __future__ import annotations

import shutil
from pathlib import Path

from support.service import REPO

from ivr.dialplan.model import Plan
from ivr.dialplan.nodes.menu import MenuNode
from ivr.dialplan.registry import PlanRegistry
from ivr.dialplan.speech_turn import menu_request
from ivr.dialplan.versions import VersionArchive
from ivr.media.prompts import PromptLibrary

KOREAN = REPO / "tests" / "plans" / "korean" / "default.yaml"


def scorers_ready(plan: Plan) -> list[bool]:
    ready = []
    for node in plan.nodes.values():
        if isinstance(node, MenuNode):
            menu = menu_request(plan, node, plan.default_language)
            if menu is not None:
                ready.append(menu.scorer.prepared)
    return ready


async def test_menus_are_prepared_when_speech_starts_and_for_each_new_version(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "plans"
    folder.mkdir()
    plan_file = folder / "default.yaml"
    shutil.copy(KOREAN, plan_file)
    prompts = PromptLibrary(REPO / "var" / "test-cache")
    try:
        plans = PlanRegistry(folder, "default", prompts, VersionArchive(tmp_path / "versions"))
        await plans.load_all()
        first = plans.get("default")
        assert first is not None
        assert scorers_ready(first) == [False, False]  # no model loaded: nothing encoded

        await plans.start_listening(["en"])  # a model no plan here uses
        assert scorers_ready(first) == [False, False]

        await plans.start_listening(["ko"])
        assert scorers_ready(first) == [True, True]  # the main menu and the yes/no question

        plan_file.write_text(
            KOREAN.read_text(encoding="utf-8") + "\n# a new version\n", encoding="utf-8"
        )
        await plans.reload()
        second = plans.get("default")
        assert second is not None and second.version != first.version
        assert scorers_ready(second) == [True, True]
    finally:
        prompts.close()
