"""``ivr speech eval-text``: labelled sentences through a plan's menus, as typed text.

It measures the intent layer alone (no acoustic model), for every language a plan
declares. A set file::

    language: en
    plan: dialplans/it-helpdesk.en.yaml     # from the set file's folder or one above it
    menus:
      main_menu:
        intents: {password: ["I can't log in", ...], agent: [...]}
        out_of_menu: ["where is the cafeteria", ...]

Each sentence goes through the same :func:`~ivr.dialplan.speech_turn.understand`
as a call's transcript (recognizer confidence 1). Counted per menu: right, wrong
(another intent taken), refused; out-of-menu sentences refused; yes taken for no
or no for yes (swaps).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ivr.dialplan.model import Plan
from ivr.dialplan.speech_turn import menu_request, understand
from ivr.exceptions import SpeechError
from ivr.speech.answers import NO, YES
from ivr.speech.eval import choose_menu
from ivr.speech.spec import HeardText


@dataclass
class MenuFigures:
    menu: str
    sentences: int = 0
    right: int = 0
    wrong: int = 0
    refused: int = 0
    out_of_menu: int = 0
    out_of_menu_refused: int = 0
    swaps: int = 0  # a yes taken for a no, or a no for a yes
    confusions: Counter[str] = field(default_factory=Counter)  # "said -> taken"

    @property
    def accuracy(self) -> float:
        return self.right / self.sentences if self.sentences else 0.0

    @property
    def refusal(self) -> float:
        return self.out_of_menu_refused / self.out_of_menu if self.out_of_menu else 0.0


@dataclass
class SentenceReport:
    set_file: str
    language: str
    plan: str
    menus: list[MenuFigures]

    def total(self) -> MenuFigures:
        whole = MenuFigures("all")
        for m in self.menus:
            for name in ("sentences", "right", "wrong", "refused", "out_of_menu"):
                setattr(whole, name, getattr(whole, name) + getattr(m, name))
            whole.out_of_menu_refused += m.out_of_menu_refused
            whole.swaps += m.swaps
            whole.confusions.update(m.confusions)
        return whole

    def render(self) -> str:
        lines = [f"{self.set_file} ({self.language}) against plan {self.plan}"]
        for m in [*self.menus, self.total()]:
            line = (
                f"  {m.menu:<18} {m.right}/{m.sentences} right ({m.accuracy:.1%}), "
                f"{m.wrong} wrong, {m.refused} refused"
            )
            if m.out_of_menu:
                line += (
                    f"; out of menu refused {m.out_of_menu_refused}/{m.out_of_menu} "
                    f"({m.refusal:.1%})"
                )
            if m.swaps:
                line += f"; YES/NO SWAPS {m.swaps}"
            lines.append(line)
        confusions = self.total().confusions
        if confusions:
            lines.append(
                "  confusions: " + ", ".join(f"{k} x{n}" for k, n in confusions.most_common())
            )
        return "\n".join(lines)


def to_json(report: SentenceReport) -> str:
    def figures(m: MenuFigures) -> dict[str, Any]:
        counts = {k: v for k, v in vars(m).items() if k != "confusions"}
        return {
            **counts,
            "confusions": dict(m.confusions),
            "accuracy": m.accuracy,
            "refusal": m.refusal,
        }

    return json.dumps(
        {
            "set": report.set_file,
            "language": report.language,
            "plan": report.plan,
            "menus": [figures(m) for m in report.menus],
            "total": figures(report.total()),
        },
        ensure_ascii=False,
        indent=2,
    )


def read_set(path: Path) -> dict[str, Any]:
    """The set file as data. Raises SpeechError when it is unreadable or malformed."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SpeechError(f"{path}: cannot read the sentence set: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("menus"), dict):
        raise SpeechError(f"{path}: expected 'language', 'plan' and a 'menus' mapping")
    return data


def plan_path_of(set_file: Path, data: dict[str, Any]) -> Path:
    """The set's ``plan``, looked up from the set file's folder upwards."""
    relative = Path(str(data.get("plan", "")))
    for folder in set_file.resolve().parents:
        if (folder / relative).is_file():
            return folder / relative
    raise SpeechError(f"{set_file}: plan {str(relative)!r} not found from its folder upwards")


def evaluate_sentences(plan: Plan, data: dict[str, Any], set_file: str) -> SentenceReport:
    """Raises SpeechError: a menu of the set is not a menu with intents in the plan."""
    language = str(data.get("language", ""))
    report = SentenceReport(set_file, language, plan.name, [])
    for name, labelled in data["menus"].items():
        node = choose_menu(plan, str(name))
        menu = menu_request(plan, node, language)
        if menu is None:
            raise SpeechError(f"{set_file}: menu {name!r} of plan {plan.name!r} has no speech")
        figures = MenuFigures(str(name))
        said: list[tuple[str | None, str]] = [
            (str(intent), str(text))
            for intent, texts in (labelled.get("intents") or {}).items()
            for text in texts
        ]
        said += [(None, str(text)) for text in labelled.get("out_of_menu") or ()]
        for expected, text in said:
            taken = understand(menu, HeardText(text, 1.0, 0.0, 0.0, 0.0)).match.intent
            if expected is None:
                figures.out_of_menu += 1
                figures.out_of_menu_refused += taken is None
            else:
                figures.sentences += 1
                figures.right += taken == expected
                figures.refused += taken is None
                figures.wrong += taken not in (None, expected)
                figures.swaps += {expected, taken} == {YES, NO}
            if taken != expected:
                figures.confusions[f"{expected or 'none'} -> {taken or 'none'}"] += 1
        report.menus.append(figures)
    return report
