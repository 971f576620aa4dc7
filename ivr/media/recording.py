"""Call recordings: stereo WAV, caller on the left channel, the service on the right.

The caller's audio clocks the file: each received chunk is paired with as
much of what we played as has gone out meanwhile, silence where we played
nothing. Frames are written about once a second; the WAV header is rewritten
with each write, so the file is playable at any moment, even after a crash.

A write that fails (a full disk, a read-only mount) ends the recording, not the
call: the partial file is removed (it would hold the space other calls need),
``error`` says why, and the next call records again once the disk has room.
"""

from __future__ import annotations

import contextlib
import logging
from array import array
from datetime import UTC, datetime
from pathlib import Path

from ivr.media.audio_format import SAMPLE_RATE, SAMPLE_WIDTH
from ivr.media.wav import WavFile

log = logging.getLogger(__name__)

FLUSH_BYTES = SAMPLE_RATE * SAMPLE_WIDTH * 2  # one second of stereo


def recording_path(root: Path, ticket_id: int, at: float) -> Path:
    day = datetime.fromtimestamp(at, UTC)
    return root / f"{day:%Y}" / f"{day:%m}" / f"{day:%d}" / f"{ticket_id}.wav"


def callback_recording_path(
    root: Path, ticket_id: int, booked_at: float, request_id: str, attempt: int
) -> Path:
    """One callback attempt's customer leg, beside the recording of the call that booked
    it (``booked_at``: that call's start), so a ticket's files share one day folder."""
    name = f"{ticket_id or 'call'}-callback-{request_id}-{attempt}.wav"
    return recording_path(root, ticket_id, booked_at).with_name(name)


class CallRecorder:
    """An :class:`~ivr.telephony.interface.AudioSink` writing one call to ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.error: str | None = None
        self._pending_played = bytearray()
        self._frames = bytearray()
        self._wav: WavFile | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._wav = WavFile(path, channels=2)
        except OSError as exc:
            self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        self.error = f"recording to {self.path} failed: {exc.strerror or exc}"
        log.error("%s; the call goes on unrecorded", self.error)
        if self._wav is not None:
            with contextlib.suppress(OSError):
                self._wav.close()  # what is still buffered may fail to reach the disk too
            self._wav = None
        with contextlib.suppress(OSError):
            self.path.unlink(missing_ok=True)

    def on_caller_audio(self, pcm: bytes) -> None:
        if self._wav is None:
            return
        size = len(pcm) - len(pcm) % SAMPLE_WIDTH
        played = bytes(self._pending_played[:size])
        del self._pending_played[:size]
        played += bytes(size - len(played))
        stereo = array("h", bytes(size * 2))
        stereo[0::2] = array("h", pcm[:size])
        stereo[1::2] = array("h", played)
        self._frames += stereo.tobytes()
        if len(self._frames) >= FLUSH_BYTES:
            self._flush()

    def on_played_audio(self, pcm: bytes) -> None:
        self._pending_played += pcm

    def on_playback_flushed(self, unplayed_bytes: int) -> None:
        if unplayed_bytes > 0:
            del self._pending_played[-unplayed_bytes:]

    def _flush(self) -> None:
        if self._wav is None or not self._frames:
            return
        try:
            self._wav.append(bytes(self._frames))
        except OSError as exc:
            self._fail(exc)
        self._frames.clear()

    def close(self) -> None:
        self._flush()
        if self._wav is not None:
            try:
                self._wav.close()
            except OSError as exc:
                self._fail(exc)
            self._wav = None
