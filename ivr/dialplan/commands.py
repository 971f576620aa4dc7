"""The ``ivr dialplan`` commands: validate, simulate, test, promote, rollback, schema
(what they print is printed here; the CLI only wires them in)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import datetime
from pathlib import Path

from ivr.config import default_config_path, load_config
from ivr.config_table import API_TOKEN_ENV
from ivr.dialplan.loader import check_plan
from ivr.dialplan.model import Plan
from ivr.dialplan.problems import Severity
from ivr.directory import EmployeeDirectory
from ivr.exceptions import IvrError


def add_dialplan_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dialplan = commands.add_parser("dialplan", help="dial plan tools")
    dialplan_commands = dialplan.add_subparsers(dest="dialplan_command", required=True)
    validate = dialplan_commands.add_parser("validate", help="check plans, print file:line:col")
    validate.add_argument("paths", nargs="+", help="plan files or folders")
    validate.add_argument(
        "--config", help="check queues, agents, callbacks against it (default: as ivr serve)"
    )
    validate.set_defaults(func=_validate)
    simulate = dialplan_commands.add_parser("simulate", help="walk a plan by typing keys")
    simulate.add_argument("path", help="plan file")
    simulate.add_argument("keys", nargs="*", help="keys to press first (optional)")
    simulate.add_argument("--caller", default="", help="the caller's number")
    simulate.add_argument(
        "--queue-wait",
        action="append",
        default=[],
        metavar="QUEUE=SECONDS",
        help="a queue's estimated wait for queue-wait rules (repeatable; default 0)",
    )
    simulate.add_argument(
        "--agents",
        default="answer",
        choices=["answer", "none", "refer"],
        help="what transfers meet: an agent who talks and hangs up (answer), "
        "nobody (none: the fallback), a REFER (refer: the plan ends)",
    )
    simulate.add_argument(
        "--at", help="the moment office hours see (ISO 8601 with offset; default: now)"
    )
    simulate.set_defaults(func=_simulate)
    test = dialplan_commands.add_parser("test", help="run scripted cases against a plan")
    test.add_argument("path", help="plan file")
    test.add_argument("cases", help="cases file (YAML)")
    for command in (simulate, test):
        command.add_argument("--directory", help="employee directory CSV (default: from ivr.yaml)")
    test.set_defaults(func=_test_cases)
    for action, help_text in (
        ("rollback", "drop a plan's canary, or return to its previous version"),
        ("promote", "give a plan's canary version all calls"),
    ):
        command = dialplan_commands.add_parser(action, help=help_text)
        command.add_argument("name", help="plan name")
        command.add_argument("--url", help="service API (default: http.listen from ivr.yaml)")
        command.set_defaults(func=_plan_action, action=action)
    schema = dialplan_commands.add_parser("schema", help="write the plan format's JSON Schema")
    schema.add_argument("-o", "--output", help="file to write (default: standard output)")
    schema.set_defaults(func=_schema)
    for command in (validate, simulate, test):
        command.add_argument("--models-dir", help="speech models (default: speech.models_dir)")


def _validate(args: argparse.Namespace) -> int:
    from ivr.dialplan.targets import check_targets
    from ivr.plan_targets import service_targets

    # Checked against the configuration `ivr serve` would run with: its queues,
    # agents and callbacks (what a plan names and it lacks is a warning).
    config_path = Path(args.config) if args.config else default_config_path()
    try:
        settings = load_config(config_path).contact_center
    except IvrError as exc:
        print(f"ivr: {exc}", file=sys.stderr)
        return 2
    source = str(config_path) if config_path else "the defaults (no ivr.yaml)"
    targets = service_targets(settings, source)
    errors = 0
    for name in args.paths:
        path = Path(name)
        files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
        for file in files:
            plan, problems = check_plan(file)
            if plan is not None:
                problems = [*problems, *check_targets(plan, targets)]
            for problem in sorted(problems, key=lambda p: (p.location.line, p.location.column)):
                print(problem)
            errors += sum(p.severity is Severity.ERROR for p in problems)
    print(f"{errors} error(s)", file=sys.stderr)
    return 1 if errors else 0


def _simulate(args: argparse.Namespace) -> int:
    from ivr.dialplan.simulated_transfers import SimulatedTransfers, parse_agents
    from ivr.dialplan.simulator import TextPromptPlayer, TypingCaller, parse_inputs, simulate

    plan = _load_or_report(Path(args.path))
    if plan is None:
        return 1
    try:
        waits = dict(_queue_wait(item) for item in args.queue_wait)
        agents = parse_agents(args.agents)
        at = _moment(args.at) if args.at else None
    except ValueError as exc:
        print(f"ivr: {exc}", file=sys.stderr)
        return 2
    print(
        f"plan {plan.name} version {plan.version}: type keys (or say <words>) and Enter; "
        "an empty line lets the menu time out; Ctrl-D hangs up"
    )
    waiting = parse_inputs(args.keys) if args.keys else []
    player = TextPromptPlayer(show=lambda text: print(f"IVR: {text}", flush=True))
    transfers = SimulatedTransfers(waits, agents, note=player.note)
    result = asyncio.run(
        simulate(
            plan,
            TypingCaller(waiting),
            player,
            args.caller,
            at,
            directory=_directory(args),
            transfers=transfers,
        )
    )
    print(f"path: {' -> '.join(result.path)}")
    print(f"keys: {result.keys or '-'}; outcome: {result.outcome}")
    return 0


def _queue_wait(item: str) -> tuple[str, float]:
    """``helpdesk=300`` -> ("helpdesk", 300.0). Raises ValueError naming the item."""
    from ivr.dialplan.simulated_transfers import parse_queue_waits

    queue, _, seconds = item.partition("=")
    if not queue or not seconds:
        raise ValueError(f"--queue-wait {item!r}: expected QUEUE=SECONDS, e.g. helpdesk=300")
    return next(iter(parse_queue_waits({queue: seconds}).items()))


def _moment(text: str) -> datetime:
    """``--at``: an ISO 8601 moment with its UTC offset. Raises ValueError."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--at {text!r} is not ISO 8601, e.g. 2026-11-24T10:00+08:00") from None
    if moment.tzinfo is None:
        raise ValueError(f"--at {text!r} needs a UTC offset, e.g. 2026-11-24T10:00+08:00")
    return moment


def _test_cases(args: argparse.Namespace) -> int:
    from ivr.dialplan.cases import load_cases, run_case

    plan = _load_or_report(Path(args.path))
    if plan is None:
        return 1
    try:
        cases = load_cases(Path(args.cases))
    except IvrError as exc:
        print(exc, file=sys.stderr)
        return 1
    failed = 0
    for case in cases:
        result = asyncio.run(run_case(plan, case, _directory(args)))
        print(f"{'PASS' if result.passed else 'FAIL'} {result.name}")
        for failure in result.failures:
            print(f"     {failure}")
        failed += not result.passed
    print(f"{len(cases) - failed} passed, {failed} failed")
    return 1 if failed else 0


def _plan_action(args: argparse.Namespace) -> int:
    import json
    import urllib.error
    import urllib.request

    if args.url:
        base = args.url.rstrip("/")
    else:
        try:
            base = f"http://{load_config(default_config_path()).http.listen}"
        except IvrError as exc:
            print(f"ivr: {exc}", file=sys.stderr)
            return 2
    url = f"{base}/api/dialplans/{args.name}/{args.action}"
    token = os.environ.get(API_TOKEN_ENV, "")  # an operator's; never on the command line
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, data=b"", method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        reason = json.loads(exc.read() or b"{}").get("error", exc.reason)
        if exc.code == 401 and not token:
            reason = (
                f"a token is required: set {API_TOKEN_ENV} to an operator's token "
                "(make one with: ivr api-token new --name NAME --role operator)"
            )
        elif exc.code in (401, 403):
            reason = f"{reason} (the token in {API_TOKEN_ENV})"
        print(f"ivr: {reason}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"ivr: the service at {base} did not answer: {exc}", file=sys.stderr)
        return 2
    print(f"plan {body['name']}: version {body['version']} in service ({body['action']})")
    return 0


def _schema(args: argparse.Namespace) -> int:
    import json

    from ivr.dialplan.schema import plan_schema

    text = json.dumps(plan_schema(), indent=2) + "\n"
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def _directory(args: argparse.Namespace) -> EmployeeDirectory:
    from ivr.directory import EmployeeDirectory

    if args.directory:
        return EmployeeDirectory(Path(args.directory))
    try:
        return EmployeeDirectory(load_config(default_config_path()).directory_csv)
    except IvrError:
        return EmployeeDirectory(Path("dialplans/directory.csv"))


def _load_or_report(path: Path) -> Plan | None:
    plan, problems = check_plan(path)
    for problem in problems:
        print(problem, file=sys.stderr)
    return plan
