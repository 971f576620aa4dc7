"""Plan loading: every problem found, each at its file:line:col."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from support.harness import REPO

from ivr.dialplan.loader import check_plan, load_plan
from ivr.dialplan.nodes import NODE_KEYS
from ivr.dialplan.nodes.menu import MenuNode
from ivr.dialplan.nodes.prompt import HangupNode, PromptNode
from ivr.dialplan.registry import prepare_plan
from ivr.dialplan.targets import QueueStaff, ServiceTargets
from ivr.media.prompts import PromptLibrary

BROKEN = """\
plan: broken
start: welcome
nodes:
  welcome:
    type: prompt
    say: Hello
    next: nowhere
  menu:
    type: menu
    say: Press a key
    keys:
      "1": welcome
      "12": welcome
      "1": menu
    timeout: -3
  music:
    type: prompt
    play: missing.wav
  odd:
    type: jump
  typo:
    type: hangup
    sya: Bye
"""


def problems_of(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    _, problems = check_plan(path)
    return [str(p).replace(str(path), "plan.yaml") for p in problems]


def test_every_error_in_a_file_is_reported_with_its_position(tmp_path: Path) -> None:
    assert problems_of(tmp_path, BROKEN) == [
        "plan.yaml:7:11: node 'welcome' goes to unknown node 'nowhere'",
        "plan.yaml:8:3: warning: node 'menu' is never reached from 'welcome'",
        "plan.yaml:13:7: invalid DTMF key '12' (use one of 0-9, * or #, quoted)",
        "plan.yaml:14:7: duplicate key '1' in keys (first at line 12)",
        "plan.yaml:15:14: timeout must be a number from 0.5 to 120",
        "plan.yaml:16:3: warning: node 'music' is never reached from 'welcome'",
        "plan.yaml:18:11: prompt file 'missing.wav' not found "
        f"(looked for {tmp_path / 'missing.wav'})",
        f"plan.yaml:20:11: unknown node type 'jump' (known: {', '.join(NODE_KEYS)})",
        "plan.yaml:21:3: warning: node 'typo' is never reached from 'welcome'",
        "plan.yaml:23:5: unknown key 'sya' in hangup node 'typo' (known: play, say, type, voice)",
    ]


def test_yaml_syntax_error_is_located(tmp_path: Path) -> None:
    # An unquoted * is YAML's alias marker: the commonest slip in a key map.
    text = "plan: x\nstart: m\nnodes:\n  m:\n    type: menu\n    keys:\n      *: m\n"
    assert problems_of(tmp_path, text) == [
        "plan.yaml:7:8: YAML syntax error: expected alphabetic or numeric character, but found ':'"
    ]


def test_missing_start_node_is_an_error(tmp_path: Path) -> None:
    text = "plan: p\nstart: begin\nnodes:\n  end:\n    type: hangup\n"
    assert problems_of(tmp_path, text) == ["plan.yaml:2:8: start node 'begin' is not defined"]


def test_shipped_default_plan_loads_into_typed_nodes() -> None:
    plan = load_plan(REPO / "dialplans" / "default.yaml")
    assert plan.name == "default" and plan.start == "welcome" and len(plan.version) == 12
    menu = plan.node("main_menu")
    assert isinstance(menu, MenuNode)
    assert dict(menu.keys) == {"1": "password_reset", "2": "software", "9": "main_menu"}
    assert menu.tries == 3 and menu.timeout_seconds == 5
    assert isinstance(plan.node("welcome"), PromptNode)
    assert isinstance(plan.node("goodbye"), HangupNode)


def test_validate_command_prints_problems_and_exits_1_on_errors(tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(BROKEN)
    result = subprocess.run(
        [sys.executable, "-m", "ivr", "dialplan", "validate", str(tmp_path / "plan.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert f"{tmp_path / 'plan.yaml'}:13:7: invalid DTMF key '12'" in result.stdout
    assert "7 error(s)" in result.stderr


def test_validate_command_passes_the_shipped_plans() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ivr", "dialplan", "validate", str(REPO / "dialplans")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout
    assert "0 error(s)" in result.stderr


def test_service_refuses_to_start_on_a_broken_default_plan(tmp_path: Path) -> None:
    plans = tmp_path / "plans"
    plans.mkdir()
    (plans / "default.yaml").write_text(BROKEN.replace("plan: broken", "plan: default"))
    result = subprocess.run(
        [sys.executable, "-m", "ivr", "serve"],
        env={
            "IVR_DIALPLAN_DIR": str(plans),
            "IVR_SIP_LISTEN": "127.0.0.1:1",
            "IVR_CACHE_DIR": str(tmp_path / "cache"),
            "DATABASE_URL": f"sqlite:///{tmp_path}/t.db",
            "IVR_REDIS_DATA_DIR": str(tmp_path / "redis"),
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert f"{plans / 'default.yaml'}:13:7: invalid DTMF key '12'" in result.stderr
    assert "default plan 'default': it failed to load" in result.stderr


def test_invalid_caller_pattern_is_located(tmp_path: Path) -> None:
    text = (
        "plan: p\nmatch:\n  called: ['100']\n  caller: ['^(10']\nstart: end\n"
        "nodes:\n  end:\n    type: hangup\n"
    )
    assert problems_of(tmp_path, text) == [
        "plan.yaml:4:12: invalid caller pattern '^(10': missing ), unterminated subpattern "
        "at position 1"
    ]


def test_schema_accepts_the_shipped_plans_and_flags_a_typo(tmp_path: Path) -> None:
    import json

    import jsonschema
    import yaml

    schema_file = tmp_path / "plan.schema.json"
    result = subprocess.run(
        [sys.executable, "-m", "ivr", "dialplan", "schema", "-o", str(schema_file)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    validator = jsonschema.Draft202012Validator(json.loads(schema_file.read_text()))
    plans = [*REPO.glob("dialplans/*.yaml"), *REPO.glob("tests/plans/*/*.yaml")]
    assert len(plans) >= 5
    for plan in plans:
        assert list(validator.iter_errors(yaml.safe_load(plan.read_text()))) == []
    typo = yaml.safe_load(BROKEN)
    assert list(validator.iter_errors(typo)), "an unknown node type and key are flagged"


def test_committed_schema_is_up_to_date() -> None:
    import json

    from ivr.dialplan.schema import plan_schema

    committed = json.loads((REPO / "dialplans" / "plan.schema.json").read_text())
    assert committed == plan_schema(), "run: ivr dialplan schema -o dialplans/plan.schema.json"


def test_conditions_and_hours_report_their_mistakes(tmp_path: Path) -> None:
    text = """\
plan: p
start: route
hours:
  office:
    timezone: Mars/Olympus
    weekdays: [mon, funday]
    open: "18:00"
    close: "08:30"
    holidays: [someday]
nodes:
  route:
    type: condition
    when:
      - {hours: shop, goto: end}
      - {goto: end}
      - {variable: x, matches: "(", goto: end}
    otherwise: end
  end:
    type: hangup
"""
    assert problems_of(tmp_path, text) == [
        "plan.yaml:5:15: unknown time zone 'Mars/Olympus'",
        "plan.yaml:6:21: unknown weekday 'funday' (use mon ... sun)",
        "plan.yaml:8:12: close must be later than open",
        "plan.yaml:9:16: holiday 'someday' is not a date like 2026-12-25",
        "plan.yaml:14:17: unknown hours 'shop' (known: none defined)",
        "plan.yaml:15:9: rule tests nothing: give hours, caller, variable or queue/wait_above",
        "plan.yaml:16:32: invalid pattern '(': missing ), unterminated subpattern at position 0",
    ]


def test_prompts_per_language_must_cover_the_plan_languages(tmp_path: Path) -> None:
    text = (
        "plan: p\nlanguages: {en: en, zh: cmn}\nstart: a\nnodes:\n"
        "  a:\n    type: hangup\n    say: {en: Bye, fr: Au revoir}\n"
    )
    assert problems_of(tmp_path, text) == [
        "plan.yaml:7:10: prompt has no 'zh' version",
        "plan.yaml:7:20: unknown key 'fr' in prompt languages (known: en, zh)",
    ]


def test_a_loop_that_never_waits_for_the_caller_is_an_error(tmp_path: Path) -> None:
    text = (
        "plan: p\nstart: a\nnodes:\n"
        "  a: {type: prompt, say: Hi, next: b}\n"
        "  b: {type: set, values: {x: 1}, next: c}\n"
        "  c:\n    type: condition\n    when: [{variable: x, equals: '2', goto: m}]\n"
        "    otherwise: a\n"
        "  m: {type: menu, say: Press 1 to hear this again., keys: {'1': m}}\n"
    )
    assert problems_of(tmp_path, text) == [
        "plan.yaml:4:3: loop without input would repeat forever: a -> b -> c -> a"
    ]


PLAN_NAMING_TARGETS = """\
plan: desk
start: route
nodes:
  route:
    type: condition
    when: [{queue: helpdesk, wait_above: 300, goto: offer}]
    otherwise: to_agent
  offer:
    type: callback
    queue: helpdesk
    next: bye
    decline: to_agent
    fallback: bye
  to_agent:
    type: transfer
    queue: helpdesk
    next: bye
    fallback: to_vendor
  to_vendor:
    type: transfer
    queue: vendor
    next: bye
    fallback: to_desk
  to_desk:
    type: transfer
    extension: "6001"
    next: bye
  bye: {type: hangup, say: Bye.}
"""
CONFIG_LACKING = """\
agents:
  - {id: v1, uri: "sip:7001@10.0.0.9", queues: [vendor]}
queues: {vendor: {}, spare: {}}
"""


def validate_in(folder: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``ivr dialplan validate`` as an operator runs it in ``folder``."""
    return subprocess.run(
        [sys.executable, "-m", "ivr", "dialplan", "validate", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=folder,
        env={"PATH": "/usr/bin:/bin", **env},
        timeout=60,
    )


def test_validate_reports_the_queues_agents_and_callbacks_the_configuration_lacks(
    tmp_path: Path,
) -> None:
    plan = tmp_path / "desk.yaml"
    plan.write_text(PLAN_NAMING_TARGETS)
    config = tmp_path / "site.yaml"
    config.write_text(CONFIG_LACKING)
    # The configuration `ivr serve` would run with: here $IVR_CONFIG.
    result = validate_in(tmp_path, str(plan), env={"IVR_CONFIG": str(config)})
    assert result.returncode == 0, "a plan naming them still loads: warnings"
    assert result.stdout.splitlines() == [
        f"{plan}:5:5: warning: condition 'route': queue 'helpdesk' is not configured in "
        f"{config} (configured: spare, vendor); its wait rules never hold",
        f"{plan}:9:5: warning: callback 'offer': callbacks are not configured in {config} "
        "(callbacks.number_uri); the offer is withheld and calls go to its fallback 'bye'",
        f"{plan}:15:5: warning: transfer 'to_agent': queue 'helpdesk' is not configured in "
        f"{config} (configured: spare, vendor); every call here goes to its fallback "
        "'to_vendor'",
        f"{plan}:20:5: warning: transfer 'to_vendor': no agent of queue 'vendor' may be "
        f"dialled (v1: not allowed by dialling.allow in {config}); every call here goes to "
        "its fallback 'to_desk'",
        f"{plan}:25:5: warning: transfer 'to_desk' to extension '6001': "
        f"dialling.extension_uri is not set in {config}; every call here goes to no "
        "fallback: the call ends",
    ]

    config.write_text(
        "dialling:\n"
        "  allow: ['^sip:[67]0\\d\\d@10\\.0\\.0\\.9$', '^sip:\\d+@pbx$']\n"
        '  extension_uri: "sip:{extension}@10.0.0.9"\n'
        "agents: [{id: a1, extension: '6002', queues: [helpdesk]}]\n"
        "queues: {helpdesk: {}, vendor: {}}\n"
        'callbacks: {number_uri: "sip:{number}@pbx"}\n'
    )
    result = validate_in(tmp_path, "--config", str(config), str(plan), env={})
    assert result.stdout.splitlines() == [
        f"{plan}:20:5: warning: transfer 'to_vendor': queue 'vendor' has no agents in "
        f"{config} (agents[].queues); every call here goes to its fallback 'to_desk'",
    ]


def test_the_example_help_desk_configuration_has_what_the_example_plans_name(
    tmp_path: Path,
) -> None:
    plans = str(REPO / "dialplans")
    shipped = validate_in(REPO, plans, env={})
    assert shipped.returncode == 0, shipped.stdout
    lacking = [line for line in shipped.stdout.splitlines() if "not configured" in line]
    assert any("transfer 'to_finance': queue 'finance-vendor' is not" in x for x in lacking)
    assert any("callback 'wait_callback': callbacks are not" in x for x in lacking)
    example = validate_in(REPO, "--config", "examples/helpdesk.yaml", plans, env={})
    assert example.returncode == 0, example.stdout
    assert [line for line in example.stdout.splitlines() if "speech model" not in line] == []


async def test_a_plan_naming_a_missing_queue_loads_and_the_service_logs_where(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    plan_path = tmp_path / "desk.yaml"
    plan_path.write_text(PLAN_NAMING_TARGETS)
    targets = ServiceTargets("the service configuration", {"vendor": QueueStaff(("v1",))})
    prompts = PromptLibrary(REPO / "var" / "test-cache")
    try:
        with caplog.at_level(logging.WARNING, logger="ivr.dialplan.registry"):
            plan = await prepare_plan(plan_path, prompts, targets)
    finally:
        prompts.close()
    assert plan.name == "desk"
    assert (
        f"{plan_path}:15:5: warning: transfer 'to_agent': queue 'helpdesk' is not configured "
        "in the service configuration (configured: vendor); every call here goes to its "
        "fallback 'to_vendor'"
    ) in caplog.messages
    assert sum("warning:" in m for m in caplog.messages) == 3, caplog.messages
