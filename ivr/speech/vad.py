"""Energy-based voice activity detection on 8 kHz 16-bit PCM, 20 ms frames.

A frame is speech when its RMS is well above the noise floor (tracked from
the quiet frames) and above an absolute minimum. Speech starts after
``ONSET_FRAMES`` speech frames in a row, so a click does not count; it ends
after ``end_silence_seconds`` without speech. Barge-in listens to the onset,
not to the recognizer's partial results, so it reacts within a few frames.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field
from enum import Enum

from ivr.media.audio_format import SAMPLE_RATE

FRAME_SAMPLES = SAMPLE_RATE // 50  # 20 ms
FRAME_BYTES = FRAME_SAMPLES * 2
FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE
ONSET_FRAMES = 3
# The first frames set the noise floor and never count as speech: the line's own
# noise is measured before the caller is expected to talk. Capped, in case the
# caller is talking already.
CALIBRATION_FRAMES = 5
MAX_CALIBRATED_FLOOR = 1000.0
MIN_SPEECH_RMS = 250.0  # G.711 line noise and comfort noise stay below this
SPEECH_OVER_FLOOR = 2.2  # about 7 dB above the noise floor
INITIAL_FLOOR = 100.0


class VoiceEvent(Enum):
    ONSET = "onset"  # speech began (at the first of the onset frames)
    END = "end"  # trailing silence after speech


@dataclass
class VadState:
    floor: float = INITIAL_FLOOR
    speaking: bool = False
    run: int = 0  # speech frames in a row before onset
    quiet_frames: int = 0  # non-speech frames since the last speech frame
    last_was_speech: bool = False  # the latest frame was loud enough to be speech
    calibration: list[float] = field(default_factory=list)


def frame_rms(frame: bytes) -> float:
    samples = array("h", frame)
    return math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0


class VoiceActivityDetector:
    """Feed whole 20 ms frames; each call returns the event it caused, if any."""

    def __init__(self, end_silence_seconds: float) -> None:
        self._end_frames = max(1, round(end_silence_seconds / FRAME_SECONDS))
        self.state = VadState()

    @property
    def speaking(self) -> bool:
        return self.state.speaking

    def frame(self, frame: bytes) -> VoiceEvent | None:
        state = self.state
        level = frame_rms(frame)
        if len(state.calibration) < CALIBRATION_FRAMES:
            state.calibration.append(level)
            mean = sum(state.calibration) / len(state.calibration)
            state.floor = min(MAX_CALIBRATED_FLOOR, max(INITIAL_FLOOR, mean))
            state.last_was_speech = False
            return None
        is_speech = level >= max(MIN_SPEECH_RMS, state.floor * SPEECH_OVER_FLOOR)
        state.last_was_speech = is_speech
        # The floor falls fast and rises slowly, so speech does not drag it up; it
        # creeps up even during "speech" so a rise in steady noise is not speech forever.
        if not is_speech:
            rate = 0.2 if level < state.floor else 0.02
        else:
            rate = 0.002
        state.floor += rate * (level - state.floor)
        if not state.speaking:
            state.run = state.run + 1 if is_speech else 0
            if state.run >= ONSET_FRAMES:
                state.speaking, state.quiet_frames = True, 0
                return VoiceEvent.ONSET
            return None
        state.quiet_frames = 0 if is_speech else state.quiet_frames + 1
        if state.quiet_frames >= self._end_frames:
            state.speaking, state.run = False, 0
            return VoiceEvent.END
        return None
