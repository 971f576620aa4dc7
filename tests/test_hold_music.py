"""Hold music stops when told, whenever it is told: also between one loop of the music
and the next, when nothing is playing (a caller once waited on hold for ever there:
``test_agents``' fifty callers, one stuck 155 s after its place was announced)."""

from __future__ import annotations

import asyncio
from typing import cast

from ivr.media.hold_music import HoldMusic
from ivr.telephony.interface import Call


class MusicToTheEnd:
    """A leg on which each loop of the music plays to its end: a stop always comes
    between two loops, when there is no playback to cut short."""

    def __init__(self) -> None:
        self.loops = 0

    async def play(self, pcm: bytes) -> bool:
        self.loops += 1
        await asyncio.sleep(0)
        return True

    def stop_playback(self) -> None:
        pass  # nothing is playing between two loops


async def test_a_stop_between_two_loops_of_the_music_ends_it() -> None:
    leg = MusicToTheEnd()
    music = HoldMusic(cast(Call, leg))
    music.start()
    while leg.loops < 3:
        await asyncio.sleep(0)
    await asyncio.wait_for(music.stop(), 2)
    played = leg.loops
    await asyncio.sleep(0.01)
    assert leg.loops == played, "the music went on after it was stopped"


async def test_music_started_again_after_a_stop_plays() -> None:
    leg = MusicToTheEnd()
    music = HoldMusic(cast(Call, leg))
    music.start()
    await asyncio.wait_for(music.stop(), 2)
    music.start()
    before = leg.loops
    while leg.loops < before + 2:
        await asyncio.sleep(0)
    await asyncio.wait_for(music.stop(), 2)
