"""Summing several legs' audio for one listener (a supervisor, an agent being whispered to).

Each source's PCM (the format of :mod:`ivr.media.audio_format`) arrives in chunks of
whatever size the SIP stack had read since the last media tick; the listener's leg
pulls what its transmit buffer has room for. A source joins the sum once it has
``prefill_bytes`` waiting (a small jitter buffer). A pull takes as much as every
source in the sum has, so a source whose chunk comes a tick late is waited for rather
than cut with silence (a late media tick delays the mix, as it delays a plain bridge,
without gaps); a source half the backlog behind the others (it stopped sending, or
its clock runs slow) is padded with silence and left out until it fills again; one
more than ``max_backlog_bytes`` ahead loses its oldest audio (the delay stays
bounded). Samples are summed in 32 bits and clipped to 16.
"""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np

from ivr.media.audio_format import BYTES_PER_SECOND, SAMPLE_WIDTH

DEFAULT_PREFILL_BYTES = BYTES_PER_SECOND * 60 // 1000
DEFAULT_MAX_BACKLOG_BYTES = BYTES_PER_SECOND * 240 // 1000
_INT16_MIN, _INT16_MAX = -32768, 32767


class _Source:
    __slots__ = ("buffer", "flowing")

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.flowing = False  # prefilled and being read


class Mixer:
    """One listener's mix of any number of sources, keyed by any hashable."""

    def __init__(
        self,
        prefill_bytes: int = DEFAULT_PREFILL_BYTES,
        max_backlog_bytes: int = DEFAULT_MAX_BACKLOG_BYTES,
    ) -> None:
        self._prefill = _whole(prefill_bytes)
        self._max_backlog = max(_whole(max_backlog_bytes), self._prefill)
        self._behind = max(self._prefill, _whole(self._max_backlog // 2))
        self._sources: dict[Hashable, _Source] = {}

    @property
    def sources(self) -> int:
        return len(self._sources)

    def push(self, source: Hashable, pcm: bytes) -> None:
        """``source``'s next audio (a new source joins the mix)."""
        state = self._sources.get(source)
        if state is None:
            state = self._sources[source] = _Source()
        state.buffer += pcm
        excess = len(state.buffer) - self._max_backlog
        if excess > 0:
            # Back to the prefill level, not just under the cap: one trim, not one a tick.
            del state.buffer[: _whole(len(state.buffer) - self._prefill)]

    def remove(self, source: Hashable) -> None:
        self._sources.pop(source, None)

    def pull(self, size: int) -> bytes:
        """Up to ``size`` bytes (whole samples) of the sum: as much as every source in it
        has; ``b""`` while no source has filled its jitter buffer."""
        flowing: list[_Source] = []
        for state in self._sources.values():
            if not state.flowing and len(state.buffer) >= self._prefill:
                state.flowing = True
            if state.flowing:
                flowing.append(state)
        if not flowing:
            return b""
        most = max(len(state.buffer) for state in flowing)
        waited_for = [len(s.buffer) for s in flowing if most - len(s.buffer) < self._behind]
        size = _whole(min(size, *waited_for))
        total = np.zeros(size // SAMPLE_WIDTH, dtype=np.int32)
        for state in flowing:
            taken = _whole(min(size, len(state.buffer)))
            if taken:
                total[: taken // SAMPLE_WIDTH] += np.frombuffer(
                    bytes(state.buffer[:taken]), dtype="<i2"
                )
                del state.buffer[:taken]
            if taken < size:
                state.flowing = False  # far behind: silence, until it fills again
        return np.clip(total, _INT16_MIN, _INT16_MAX).astype("<i2").tobytes()


def _whole(size: int) -> int:
    return max(0, size - size % SAMPLE_WIDTH)
