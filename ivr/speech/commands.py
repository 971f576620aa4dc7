"""The ``ivr models`` and ``ivr speech`` commands (the CLI only parses arguments)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from ivr.dialplan.loader import check_plan
from ivr.exceptions import SpeechError
from ivr.speech.models import ModelStore


def list_models(store: ModelStore) -> int:
    models = store.models()
    if not models:
        print(f"no speech models in {store.directory}: the service runs keys-only")
        return 0
    for model in models:
        where = f"-> {model.path}" if model.linked else str(model.path)
        print(f"{model.name:<24} {model.size_bytes / 1e6:8.1f} MB  {where}")
    return 0


def install_model(store: ModelStore, source: str, name: str | None) -> int:
    try:
        model = store.install(source, name)
    except SpeechError as exc:
        print(f"ivr: {exc}", file=sys.stderr)
        return 1
    how = "linked to" if model.linked else "installed in"
    print(f"model {model.name} {how} {model.path}")
    return 0


def speech_eval(
    plan_path: Path,
    audio_dir: Path,
    menu: str | None,
    store: ModelStore,
    as_json: bool,
    pool_size: int = 2,
) -> int:
    from ivr.speech.eval import evaluate, to_json
    from ivr.speech.recognizer import SpeechEngine

    plan, problems = check_plan(plan_path)
    for problem in problems:
        print(problem, file=sys.stderr)
    if plan is None:
        return 1
    engine = SpeechEngine(store, pool_size)
    try:
        report = asyncio.run(evaluate(plan, audio_dir, engine, menu))
    except SpeechError as exc:
        print(f"ivr: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.close()
    print(to_json(report) if as_json else report.render())
    return 0


def sentence_eval(set_files: list[Path], as_json: bool) -> int:
    from ivr.speech.sentence_eval import (
        evaluate_sentences,
        plan_path_of,
        read_set,
        to_json,
    )

    for set_file in set_files:
        try:
            data = read_set(set_file)
            plan_path = plan_path_of(set_file, data)
            plan, problems = check_plan(plan_path)
            for problem in problems:
                print(problem, file=sys.stderr)
            if plan is None:
                return 1
            report = evaluate_sentences(plan, data, str(set_file))
        except SpeechError as exc:
            print(f"ivr: {exc}", file=sys.stderr)
            return 1
        print(to_json(report) if as_json else report.render())
    return 0


def parse_since(text: str, now: float) -> float:
    """``--since``: a span back from now (``90m``, ``24h``, ``7d``), ISO 8601 or Unix
    seconds. Raises SpeechError naming the value."""
    import re
    from datetime import datetime

    span = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", text.strip())
    if span:
        unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}[span.group(2)]
        return now - float(span.group(1)) * unit
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError as exc:
        raise SpeechError(
            f"--since {text!r} is not a span (90m, 24h, 7d), ISO 8601 or Unix seconds"
        ) from exc


def _plans_for(plans_dir: Path, plan: str | None) -> dict[str, Any]:
    """{name: Plan}: the plan file ``plan`` names (a path or a plan name in the
    configured folder), else every plan in the folder that loads."""
    if plan is not None and Path(plan).is_file():
        paths = [Path(plan)]
    else:
        paths = sorted(plans_dir.glob("*.yaml"))
    plans = {}
    for path in paths:
        loaded, _ = check_plan(path)
        if loaded is not None:
            plans[loaded.name] = loaded
    if plan is not None and not Path(plan).is_file():
        if plan not in plans:
            raise SpeechError(f"no plan {plan!r} in {plans_dir} (a plan name or file)")
        plans = {plan: plans[plan]}
    return plans


async def _heard(
    database_url: str, since: float, plans: list[str], low_confidence: float
) -> list[Any]:
    from ivr.speech.suggest import read_utterances
    from ivr.tickets.store import open_store

    store = open_store(database_url)
    await store.open()
    try:
        return await read_utterances(store, since, None, plans, low_confidence)
    finally:
        await store.close()


def find_suggestions(
    database_url: str,
    plans_dir: Path,
    plan: str | None,
    menu: str | None,
    since: str,
    min_count: int,
    low_confidence: float,
) -> list[Any]:
    """The suggestions (:class:`ivr.speech.suggest.Suggestion`) from the ticket store
    at ``database_url`` for ``plan`` (a file, or a plan name in ``plans_dir``; None:
    every plan there). Raises IvrError."""
    import time

    from ivr.speech.suggest import suggest

    plans = _plans_for(plans_dir, plan)
    started = parse_since(since, time.time())
    heard = asyncio.run(_heard(database_url, started, list(plans), low_confidence))
    if menu is not None:
        heard = [u for u in heard if u.menu == menu]
    return suggest(heard, plans, min_count)


def speech_suggest(
    database_url: str,
    plans_dir: Path,
    plan: str | None,
    menu: str | None,
    since: str,
    min_count: int,
    low_confidence: float,
    as_json: bool,
) -> int:
    import json

    from ivr.exceptions import IvrError

    try:
        found = find_suggestions(
            database_url, plans_dir, plan, menu, since, min_count, low_confidence
        )
    except IvrError as exc:
        print(f"ivr: {exc}", file=sys.stderr)
        return 1
    if as_json:
        body = {"suggestions": [s.as_json() for s in found]}
        print(json.dumps(body, ensure_ascii=False, indent=2))
        return 0
    if not found:
        print(f"no groups of {min_count} or more unrecognised utterances since {since}")
    for s in found:
        what = (
            f"add as examples of intent {s.intent!r}"
            if s.kind == "examples"
            else f"new intent (nearest {s.intent!r})"
        )
        print(
            f"{s.id}  {s.plan}/{s.menu}  {s.count} utterances ({s.refused} refused)  "
            f"{what}, score {s.score:.2f}"
        )
        print("    said:    " + " | ".join(s.texts))
        print("    tickets: " + " ".join(str(t) for t in s.ticket_ids))
    return 0


def speech_accept(
    plan_path: Path,
    intent: str | None,
    additions: dict[str, list[str]],
    suggestion: str | None,
    not_served: bool,
    database_url: str,
    since: str,
    language: str | None,
    eval_paths: list[Path],
    dry_run: bool,
    store: ModelStore,
) -> int:
    """``ivr speech accept``: texts into an intent of the plan file (or its
    ``speech.out_of_scope``), with the frozen sets before and after."""
    from ivr.exceptions import IvrError
    from ivr.speech.accept import accept
    from ivr.speech.suggest import LOW_CONFIDENCE, find

    if not_served and suggestion is None:
        print("ivr: --not-served takes a suggestion's wordings: give --suggestion", file=sys.stderr)
        return 2
    try:
        if suggestion is not None:
            found = find_suggestions(
                database_url, plan_path.parent, str(plan_path), None, since, 1, LOW_CONFIDENCE
            )
            chosen = find(found, suggestion)
            into = "out_of_scope" if not_served else "examples"
            if not not_served:
                intent = intent or chosen.intent
            additions = {**additions, into: [*additions[into], *chosen.texts]}
        for_intent = any(texts for key, texts in additions.items() if key != "out_of_scope")
        if intent is None and (for_intent or not additions["out_of_scope"]):
            print("ivr: name the intent (--intent) or a suggestion (--suggestion)", file=sys.stderr)
            return 2
        done = accept(plan_path, intent, additions, language, dry_run)
    except IvrError as exc:
        print(f"ivr: {exc}", file=sys.stderr)
        return 1
    if not done.added:
        print(f"{plan_path}: the plan already holds all of that; nothing written")
    for key, texts in done.added.items():
        verb = "would add" if dry_run else "added"
        owner = "speech" if key == "out_of_scope" else repr(intent)
        print(f"{plan_path}: {verb} {key} of {owner}: {' | '.join(texts)}")
    if done.written:
        print(
            f"version {done.after.version} (was {done.before.version}); the service "
            "reloads it (a canary first with dialplans.canary_percent)"
        )
    for path in eval_paths:
        code = _before_after(done.before, done.after, path, store)
        if code:
            return code
    return 0


def _before_after(before: Any, after: Any, path: Path, store: ModelStore) -> int:
    """The frozen set (a sentence set file, or a folder of labelled audio) through the
    plan before and after the change."""
    from ivr.speech.sentence_eval import evaluate_sentences, read_set

    reports: list[Any]
    try:
        if path.is_dir():
            from ivr.speech.eval import evaluate
            from ivr.speech.recognizer import SpeechEngine

            engine = SpeechEngine(store, 2)
            try:
                reports = [asyncio.run(evaluate(plan, path, engine)) for plan in (before, after)]
            finally:
                engine.close()
        else:
            data = read_set(path)
            reports = [evaluate_sentences(plan, data, str(path)) for plan in (before, after)]
    except SpeechError as exc:
        print(f"ivr: {exc}", file=sys.stderr)
        return 1
    for label, report in zip(("before", "after"), reports, strict=True):
        print(f"{label}: {report.render()}")
    return 0
