"""What the phone hears goes to a WAV file and, when there are any, the speakers;
what it says (``--say``) is a recording converted to call audio."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import wave
from pathlib import Path

from ivr.media.audio_format import SAMPLE_RATE, SAMPLE_WIDTH
from ivr.media.prompts import decode_file

log = logging.getLogger(__name__)

SOUND_DEVICES = Path("/dev/snd")
SPEAKER_CLOSE_SECONDS = 2.0


class MonoWav:
    """A 16-bit mono WAV at the call rate, written as audio arrives; the header's
    lengths are filled in by :meth:`close`."""

    def __init__(self, path: Path) -> None:
        """Raises OSError when the file cannot be created."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._wav = wave.open(str(path), "wb")  # closed by close()
        self._wav.setnchannels(1)
        self._wav.setsampwidth(SAMPLE_WIDTH)
        self._wav.setframerate(SAMPLE_RATE)
        self.seconds = 0.0

    def write(self, pcm: bytes) -> None:
        self._wav.writeframesraw(pcm)
        self.seconds += len(pcm) / (SAMPLE_RATE * SAMPLE_WIDTH)

    def close(self) -> None:
        self._wav.close()


def has_playback_device() -> bool:
    """Whether ALSA shows a playback device (``/dev/snd/pcmC<card>D<device>p``)."""
    return any(SOUND_DEVICES.glob("pcmC*D*p"))


class Speaker:
    """Call audio piped to ``aplay``; see :meth:`open`."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process

    @classmethod
    async def open(cls) -> Speaker | None:
        """A speaker when ``aplay`` and a playback device exist, else None (no sound)."""
        aplay = shutil.which("aplay")
        if aplay is None or not has_playback_device():
            return None
        try:
            process = await asyncio.create_subprocess_exec(
                aplay,
                "-q",
                "-t",
                "raw",
                "-f",
                "S16_LE",
                "-r",
                str(SAMPLE_RATE),
                "-c",
                "1",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
        except OSError as exc:
            log.debug("no speaker: %s", exc)
            return None
        return cls(process)

    def write(self, pcm: bytes) -> None:
        stdin = self._process.stdin
        # aplay exits when the device refuses it (busy, unplugged): then silently no sound.
        if stdin is None or stdin.is_closing() or self._process.returncode is not None:
            return
        with contextlib.suppress(OSError):
            stdin.write(pcm)

    async def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            await asyncio.wait_for(self._process.wait(), SPEAKER_CLOSE_SECONDS)
        except TimeoutError:
            self._process.kill()
            await self._process.wait()


class Listener:
    """The call's audio sink: what the far end sends goes to the WAV and the speaker."""

    def __init__(self, wav: MonoWav, speaker: Speaker | None) -> None:
        self._wav = wav
        self._speaker = speaker
        self.heard = asyncio.Event()  # set by the first sound (not silence) from the far end

    def on_caller_audio(self, pcm: bytes) -> None:
        # The telephony interface names sinks from the service's side: for a phone
        # the "caller" is the far end, the one it called.
        self._wav.write(pcm)
        if self._speaker is not None:
            self._speaker.write(pcm)
        if not self.heard.is_set() and any(pcm):
            self.heard.set()

    def on_played_audio(self, pcm: bytes) -> None:
        pass  # what we say is the --say file itself

    def on_playback_flushed(self, unplayed_bytes: int) -> None:
        pass


async def load_speech(path: Path) -> bytes:
    """``path`` (WAV, MP3, ... anything ffmpeg reads) as call audio: 8 kHz mono 16-bit.

    Raises:
        PromptError: the file is missing or not audio.
    """
    return await asyncio.get_running_loop().run_in_executor(None, decode_file, path)
