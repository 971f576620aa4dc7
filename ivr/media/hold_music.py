"""Music on hold, made here so no audio file has to ship: a soft, slow chime."""

from __future__ import annotations

import array
import asyncio
import math
from functools import cache

from ivr.media.audio_format import SAMPLE_RATE
from ivr.telephony.interface import Call

NOTES_HZ = (523.25, 659.25, 783.99, 659.25)  # C5 E5 G5 E5
NOTE_SECONDS = 0.45
REST_SECONDS = 0.35
PEAK = 2500  # well under full scale: music under an announcement must not shout


@cache
def hold_music() -> bytes:
    """About 3 s of 8 kHz 16-bit mono PCM, meant to be played in a loop."""
    samples = array.array("h")
    note_length = int(NOTE_SECONDS * SAMPLE_RATE)
    for frequency in NOTES_HZ:
        for n in range(note_length):
            envelope = math.sin(math.pi * n / note_length)  # no clicks at either end
            value = PEAK * envelope * math.sin(2 * math.pi * frequency * n / SAMPLE_RATE)
            samples.append(int(value))
        samples.extend([0] * int(REST_SECONDS * SAMPLE_RATE))
    return samples.tobytes()


class HoldMusic:
    """Loops the hold music on one leg until stopped (a caller in line or on hold)."""

    def __init__(self, call: Call) -> None:
        self._call = call
        self._task: asyncio.Task[None] | None = None
        self._stopped = asyncio.Event()

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._stopped = asyncio.Event()
            self._task = asyncio.create_task(self._loop(self._stopped), name="hold-music")

    async def _loop(self, stopped: asyncio.Event) -> None:
        while not stopped.is_set() and await self._call.play(hold_music()):
            pass

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            # The flag, not only the playback: a stop that falls between one loop of
            # the music and the next (nothing playing) must end the loop too, or the
            # caller waits on hold music for ever.
            self._stopped.set()
            self._call.stop_playback()
            await asyncio.gather(task, return_exceptions=True)
