"""Playing a plan's prompts on a live call: render (file or speech), then play."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Protocol

from ivr.dialplan.model import Prompt
from ivr.dialplan.templates import render
from ivr.exceptions import PromptError
from ivr.media.prompts import PromptLibrary
from ivr.telephony.interface import Call
from ivr.tickets.model import CallJournal

log = logging.getLogger(__name__)


class PromptPlayer(Protocol):
    async def play(self, prompt: Prompt, values: Mapping[str, str]) -> bool:
        """True when the prompt played to its end (or was skipped as broken);
        False when :meth:`stop` or the end of the call cut it short."""

    def stop(self) -> None: ...


class AudioPromptPlayer:
    def __init__(self, call: Call, library: PromptLibrary, journal: CallJournal) -> None:
        self._call = call
        self._library = library
        self._journal = journal

    async def play(self, prompt: Prompt, values: Mapping[str, str]) -> bool:
        prompt = prompt.for_language(values.get("language", ""))
        try:
            if prompt.file is not None:
                self._journal.event("prompt", file=prompt.file.name)
                audio = await self._library.file(prompt.file)
            else:
                text = prompt.text or ""
                if prompt.has_values:
                    text = render(text, values, prompt.voice)
                self._journal.event("prompt", text=text, voice=prompt.voice)
                audio = await self._library.speech(
                    text, prompt.voice, keep_on_disk=not prompt.has_values
                )
        except PromptError as exc:
            # A broken prompt must not drop the caller: note it and go on.
            log.error("%s: %s", prompt.location, exc)
            self._journal.event("prompt_error", location=str(prompt.location), error=str(exc))
            return True
        return await self._call.play(audio)

    def stop(self) -> None:
        self._call.stop_playback()
