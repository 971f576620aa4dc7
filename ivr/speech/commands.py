"""The ``ivr models`` and ``ivr speech`` commands (the CLI only parses arguments)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

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
