"""A scripted SIP phone on pjsua2, run as its own process by the tests.

pjsua2 is driven from this one thread with ``libHandleEvents`` and a null
sound device, as its Python bindings deadlock otherwise. What the phone
hears goes to a WAV file; the script's ``hear`` step reads that file as it
grows and waits for a stretch of sound followed by silence (a prompt).

Usage: pj_phone.py URI RECORDING.wav STEPS_JSON [CALLER_NUMBER]
(environment PJ_PHONE_SRTP=mandatory: the phone insists on SRTP media)
Steps: ["hear", timeout_s], ["dtmf", "123"], ["wait_end", timeout_s], ["hangup"],
       ["hear_start", timeout_s] (the start of a prompt), ["pause", seconds],
       ["say", "utterance.wav"] (8 kHz mono; plays it into the call, then reports when
       the service's audio stopped after it began: "prompt_stopped_after")
Prints one JSON object: {"ok": bool, "heard": [...], "events": [...], "error": str}
"""

from __future__ import annotations

import array
import json
import math
import os
import sys
import time

import pjsua2 as pj
from pj_endpoint import CLOCK_RATE, start_endpoint

FRAME_SAMPLES = 160  # 20 ms
SOUND_RMS = 300  # above this a 20 ms frame counts as sound
SILENCE_AFTER_PROMPT_S = 0.8
WAV_HEADER_BYTES = 44


class PhoneCall(pj.Call):
    def __init__(self, account: pj.Account) -> None:
        super().__init__(account)
        self.state = "new"
        self.media_ready = False
        self.disconnect_reason = ""

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        info = self.getInfo()
        self.state = info.stateText
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.state = "DISCONNECTED"
            self.disconnect_reason = f"{info.lastStatusCode} {info.lastReason}"

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        self.media_ready = True


class Phone:
    def __init__(self, caller: str) -> None:
        self.ep = start_endpoint()
        account_config = pj.AccountConfig()
        account_config.idUri = f"sip:{caller}@127.0.0.1"
        account_config.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
        account_config.mediaConfig.transportConfig.publicAddress = "127.0.0.1"
        if os.environ.get("PJ_PHONE_SRTP") == "mandatory":
            # SDES keys in the SDP of a plain-SIP test call (no TLS on loopback).
            account_config.mediaConfig.srtpUse = pj.PJMEDIA_SRTP_MANDATORY
            account_config.mediaConfig.srtpSecureSignaling = 0
        self.account = pj.Account()
        self.account.create(account_config)
        self.recorder: pj.AudioMediaRecorder | None = None
        self.players: list[pj.AudioMediaPlayer] = []
        self.events: list[dict[str, object]] = []
        self.started = time.monotonic()

    def pump(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.ep.libHandleEvents(10)

    def now(self) -> float:
        return round(time.monotonic() - self.started, 3)

    def call(self, uri: str, recording: str) -> PhoneCall:
        call = PhoneCall(self.account)
        param = pj.CallOpParam(True)
        call.makeCall(uri, param)
        deadline = time.monotonic() + 10
        while not call.media_ready and call.state != "DISCONNECTED":
            if time.monotonic() > deadline:
                raise RuntimeError(f"call not answered (state {call.state})")
            self.ep.libHandleEvents(10)
        if call.state == "DISCONNECTED":
            raise RuntimeError(f"call failed: {call.disconnect_reason}")
        self.recorder = pj.AudioMediaRecorder()
        self.recorder.createRecorder(recording)
        call.getAudioMedia(-1).startTransmit(self.recorder)
        self.events.append({"at": self.now(), "event": "connected"})
        return call

    def close(self) -> None:
        self.recorder = None
        self.ep.libDestroy()


def frame_levels(path: str, start_sample: int) -> list[float]:
    """RMS of each whole 20 ms frame recorded from ``start_sample`` on."""
    try:
        with open(path, "rb") as handle:
            handle.seek(WAV_HEADER_BYTES + start_sample * 2)
            data = handle.read()
    except OSError:
        return []
    whole = len(data) - len(data) % (FRAME_SAMPLES * 2)
    samples = array.array("h", data[:whole])
    levels = []
    for offset in range(0, len(samples), FRAME_SAMPLES):
        frame = samples[offset : offset + FRAME_SAMPLES]
        levels.append(math.sqrt(sum(s * s for s in frame) / FRAME_SAMPLES))
    return levels


def hear(
    phone: Phone, call: PhoneCall, path: str, position: list[int], timeout: float
) -> dict[str, object]:
    """Wait for sound then SILENCE_AFTER_PROMPT_S of silence; report that stretch."""
    deadline = time.monotonic() + timeout
    sound_frames: list[float] = []
    first = last = None
    frame_index = position[0] // FRAME_SAMPLES
    silent_needed = int(SILENCE_AFTER_PROMPT_S * 1000 / 20)
    while time.monotonic() < deadline and call.state != "DISCONNECTED":
        phone.pump(0.05)
        levels = frame_levels(path, frame_index * FRAME_SAMPLES)
        for level in levels:
            if level >= SOUND_RMS:
                if first is None:
                    first = frame_index
                last = frame_index
                sound_frames.append(level)
            frame_index += 1
            if first is not None and last is not None and frame_index - last > silent_needed:
                position[0] = frame_index * FRAME_SAMPLES
                rms = math.sqrt(sum(x * x for x in sound_frames) / len(sound_frames))
                return {
                    "start": first * 0.02,
                    "duration": round((last - first + 1) * 0.02, 2),
                    "rms": round(rms),
                }
    position[0] = frame_index * FRAME_SAMPLES
    if first is not None and last is not None:  # the far end hung up right after it
        rms = math.sqrt(sum(x * x for x in sound_frames) / len(sound_frames))
        return {
            "start": first * 0.02,
            "duration": round((last - first + 1) * 0.02, 2),
            "rms": round(rms),
        }
    raise RuntimeError(f"no complete prompt heard within {timeout} s (call {call.state})")


def hear_start(
    phone: Phone, call: PhoneCall, path: str, position: list[int], timeout: float
) -> dict[str, object]:
    """Wait for the first frame of sound from ``position`` on (a prompt beginning)."""
    deadline = time.monotonic() + timeout
    frame_index = position[0] // FRAME_SAMPLES
    while time.monotonic() < deadline and call.state != "DISCONNECTED":
        phone.pump(0.02)
        for level in frame_levels(path, frame_index * FRAME_SAMPLES):
            frame_index += 1
            if level >= SOUND_RMS:
                position[0] = frame_index * FRAME_SAMPLES
                return {"start": round((frame_index - 1) * 0.02, 2)}
    raise RuntimeError(f"no prompt began within {timeout} s (call {call.state})")


def wav_seconds(path: str) -> float:
    import wave

    with wave.open(path) as wav:
        return wav.getnframes() / wav.getframerate()


def speech_onset(wav: str) -> float:
    """Seconds into ``wav`` (8 kHz mono 16-bit) of its first sound frame."""
    import wave

    with wave.open(wav) as handle:
        samples = array.array("h", handle.readframes(handle.getnframes()))
    for offset in range(0, len(samples) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        frame = samples[offset : offset + FRAME_SAMPLES]
        if math.sqrt(sum(x * x for x in frame) / FRAME_SAMPLES) >= SOUND_RMS:
            return offset / CLOCK_RATE
    return 0.0


BARGE_IN_WINDOW_S = 1.0  # the service is quiet this long after a caller starts talking


def say(
    phone: Phone, call: PhoneCall, wav: str, recording: str, position: list[int]
) -> dict[str, object]:
    """Play ``wav`` into the call. Reports ``prompt_stopped_after``: seconds from the
    onset of our speech to the last sound heard from the service within
    BARGE_IN_WINDOW_S of it (0.0: nothing was playing then)."""
    connected_at = float(next(e["at"] for e in phone.events if e["event"] == "connected"))
    onset = speech_onset(wav)
    player = pj.AudioMediaPlayer()
    player.createPlayer(wav, pj.PJMEDIA_FILE_NO_LOOP)
    media = call.getAudioMedia(-1)
    started = phone.now()
    player.startTransmit(media)
    duration = wav_seconds(wav)
    phone.pump(duration)
    player.stopTransmit(media)
    # Kept alive until the process ends: its EOF callback runs later on pjmedia's event
    # thread, and a player destroyed just after its EOF crashed the phone there
    # (SIGSEGV in AudioMediaPlayer::eof_cb, pjproject PR #5045).
    phone.players.append(player)
    phone.pump(max(0.0, onset + BARGE_IN_WINDOW_S + 0.1 - duration))
    first = int((started + onset - connected_at) / 0.02)
    levels = frame_levels(recording, first * FRAME_SAMPLES)
    window = levels[: int(BARGE_IN_WINDOW_S / 0.02)]
    loud = [index for index, level in enumerate(window) if level >= SOUND_RMS]
    stopped_after = round((loud[-1] + 1) * 0.02, 3) if loud else 0.0
    position[0] = max(position[0], (first + len(levels)) * FRAME_SAMPLES)
    return {
        "at": started,
        "event": "say",
        "wav": os.path.basename(wav),
        "prompt_stopped_after": stopped_after,
    }


def main() -> int:
    uri, recording, steps = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    caller = sys.argv[4] if len(sys.argv) > 4 else "2001"
    result: dict[str, object] = {"ok": False, "heard": [], "events": []}
    phone = Phone(caller)
    try:
        call = phone.call(uri, recording)
        position = [0]
        for step in steps:
            kind = step[0]
            if kind == "hear":
                result["heard"].append(hear(phone, call, recording, position, float(step[1])))  # type: ignore[union-attr]
            elif kind == "hear_start":
                result["heard"].append(hear_start(phone, call, recording, position, float(step[1])))  # type: ignore[union-attr]
            elif kind == "pause":
                phone.pump(float(step[1]))
            elif kind == "say":
                phone.events.append(say(phone, call, step[1], recording, position))
            elif kind == "dtmf":
                call.dialDtmf(step[1])
                phone.events.append({"at": phone.now(), "event": "dtmf", "digits": step[1]})
                phone.pump(0.3)
            elif kind == "wait_end":
                deadline = time.monotonic() + float(step[1])
                while call.state != "DISCONNECTED" and time.monotonic() < deadline:
                    phone.pump(0.05)
                if call.state != "DISCONNECTED":
                    raise RuntimeError("the service did not hang up")
                phone.events.append(
                    {"at": phone.now(), "event": "remote_hangup", "reason": call.disconnect_reason}
                )
            elif kind == "hangup":
                call.hangup(pj.CallOpParam(True))
                phone.pump(0.5)
                phone.events.append({"at": phone.now(), "event": "hangup"})
        result["ok"] = True
    except Exception as exc:  # reported to the test, which fails with it
        result["error"] = f"{type(exc).__name__}: {exc}"
    result["events"] = phone.events
    phone.pump(0.2)
    phone.close()
    print(json.dumps(result))
    sys.stdout.flush()
    os._exit(0)  # pjsua2's teardown can hang in Python's finalisers


if __name__ == "__main__":
    sys.exit(main())
