"""The service's one WAV writer: 16-bit PCM at the call rate, playable at any moment.

The header is rewritten after every append, so a file cut short by a crash or a
full disk still says how much audio it holds.
"""

from __future__ import annotations

import struct
from pathlib import Path

from ivr.media.audio_format import SAMPLE_RATE, SAMPLE_WIDTH


class WavFile:
    """A WAV file of ``channels`` interleaved channels, appended to as audio arrives."""

    def __init__(self, path: Path, channels: int) -> None:
        self.channels = channels
        self.data_bytes = 0
        self._file = path.open("wb")
        try:
            self._file.write(self._header())
            self._file.flush()
        except OSError:
            self.close()
            raise

    def _header(self) -> bytes:
        block_align = self.channels * SAMPLE_WIDTH
        return struct.pack(
            "<4sI4s4sIHHIIHH4sI",
            b"RIFF",
            36 + self.data_bytes,
            b"WAVE",
            b"fmt ",
            16,
            1,  # PCM
            self.channels,
            SAMPLE_RATE,
            SAMPLE_RATE * block_align,
            block_align,
            SAMPLE_WIDTH * 8,
            b"data",
            self.data_bytes,
        )

    def append(self, frames: bytes) -> None:
        """Raises OSError (e.g. ENOSPC); the header then still describes what was written before."""
        self._file.write(frames)
        self._file.flush()
        self.data_bytes += len(frames)
        self._file.seek(0)
        self._file.write(self._header())
        self._file.seek(0, 2)
        self._file.flush()

    def close(self) -> None:
        self._file.close()
