"""Speech at service start-up: load the models the plans need, once, or run keys-only."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from ivr.exceptions import SpeechError
from ivr.speech.meaning import shared_encoder
from ivr.speech.models import ModelStore
from ivr.speech.recognizer import SpeechEngine
from ivr.speech.settings import SpeechConfig

log = logging.getLogger(__name__)


class _SpeechSettings(Protocol):
    @property
    def model(self) -> str: ...


class PlanWithSpeech(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def speech(self) -> _SpeechSettings | None: ...


async def start_speech(
    config: SpeechConfig, plans: Sequence[PlanWithSpeech]
) -> SpeechEngine | None:
    """The process's speech engine with the plans' models loaded (off the event loop);
    None, logged, when no model is installed: the service then runs keys-only.
    A model that fails to load is logged; its plans' menus then take keys only."""
    store = ModelStore(config.models_dir)
    installed = store.names()
    if not installed:
        log.warning(
            "no speech model installed in %s: the service runs keys-only "
            "(install one with `ivr models install`)",
            config.models_dir,
        )
        return None
    engine = SpeechEngine(store, config.pool_size)
    needed = sorted({p.speech.model for p in plans if p.speech is not None})
    loop = asyncio.get_running_loop()
    for model in needed:
        try:
            await loop.run_in_executor(None, engine.load, model)
        except SpeechError as exc:
            log.error("%s; menus of plans using it take keys only", exc)
    if needed:
        try:
            await loop.run_in_executor(None, shared_encoder().warm)
        except SpeechError as exc:
            log.error("%s; intents are scored by spelling alone", exc)
    log.info(
        "speech: models installed: %s; loaded: %s; %d recognition threads",
        ", ".join(installed),
        ", ".join(engine.loaded) or "none (no plan uses speech)",
        config.pool_size,
    )
    return engine
