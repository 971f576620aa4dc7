"""A pjsua2 phone that sends a steady tone and records what it hears, as its own process.

Two roles:
- ``agent``: registers an extension with the test PBX (Kamailio) and takes
  calls one after another: answers after ``answer_after`` seconds (or never,
  with ``answer: false``), sends its tone, records each call to
  ``<record_dir>/call-<n>.wav``, hangs up after ``talk_seconds`` (or waits for
  the far end when it is null).
- ``caller``: calls ``uri``, sends its tone, records, follows a REFER, and
  hangs up after ``talk_seconds`` or when the far end does.

Prints one JSON object per line: {"event": "registered"|"incoming"|"answered"|
"media"|"ended"|..., ...} ("media": the recording starts, ``at`` in Unix seconds).
Runs until ``calls`` calls ended or ``timeout`` passed, or until stdin closes; a
``hangup`` line on stdin hangs up every call. pjsua2 is driven from this one thread
(libHandleEvents).

Usage: pj_agent.py CONFIG_JSON
"""

from __future__ import annotations

import json
import os
import select
import sys
import time
from typing import Any

import pjsua2 as pj
from pj_endpoint import CLOCK_RATE, start_endpoint


def emit(**event: Any) -> None:
    print(json.dumps(event), flush=True)


class ToneCall(pj.Call):
    def __init__(self, phone: Phone, account: pj.Account, call_id: int = pj.PJSUA_INVALID_ID):
        super().__init__(account, call_id)
        self.phone = phone
        self.number = phone.next_number()
        self.state = "new"
        self.media_ready = False
        self.connected_at: float | None = None
        self.recorder: pj.AudioMediaRecorder | None = None
        self.reported_end = False

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        info = self.getInfo()
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED and self.connected_at is None:
            self.connected_at = time.monotonic()
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.state = "DISCONNECTED"
            self.reason = f"{info.lastStatusCode} {info.lastReason}"
        else:
            self.state = info.stateText

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        if self.media_ready:
            return
        self.media_ready = True
        media = self.getAudioMedia(-1)
        self.phone.tone.startTransmit(media)
        self.recorder = pj.AudioMediaRecorder()
        path = os.path.join(self.phone.config["record_dir"], f"call-{self.number}.wav")
        self.recorder.createRecorder(path)
        media.startTransmit(self.recorder)
        self.recording = path
        emit(event="media", call=self.number, at=time.time())

    def onCallTransferRequest(self, prm: pj.OnCallTransferRequestParam) -> None:
        emit(event="refer", to=prm.dstUri)
        self.phone.transferred = ToneCall(self.phone, self.phone.account)
        prm.newCall = self.phone.transferred


class Agent(pj.Account):
    def __init__(self, phone: Phone) -> None:
        super().__init__()
        self.phone = phone

    def onRegState(self, prm: pj.OnRegStateParam) -> None:
        emit(event="registered" if prm.code == 200 else "register_failed", code=prm.code)

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        call = ToneCall(self.phone, self, prm.callId)
        info = call.getInfo()
        emit(event="incoming", call=call.number, remote=info.remoteUri)
        self.phone.calls.append(call)
        ringing = pj.CallOpParam()
        ringing.statusCode = 180
        call.answer(ringing)
        call.answer_at = time.monotonic() + float(self.phone.config.get("answer_after", 0.2))


class Phone:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.calls: list[ToneCall] = []
        self.transferred: ToneCall | None = None
        self._numbers = 0
        self.ep = start_endpoint()
        self.tone = pj.ToneGenerator()
        self.tone.createToneGenerator(CLOCK_RATE, 1)
        tone = pj.ToneDesc()
        tone.freq1 = int(config["tone_hz"])
        tone.freq2 = 0
        tone.on_msec = 1000
        tone.off_msec = 0
        tone.volume = 0
        tones = pj.ToneDescVector()
        tones.append(tone)
        self.tone.play(tones, True)
        account_config = pj.AccountConfig()
        user = config["user"]
        registrar = config.get("registrar")
        account_config.idUri = f"sip:{user}@{registrar or '127.0.0.1'}"
        if registrar:
            account_config.regConfig.registrarUri = f"sip:{registrar}"
            credentials = pj.AuthCredInfo("digest", "*", user, 0, config["password"])
            account_config.sipConfig.authCreds.append(credentials)
        account_config.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
        account_config.mediaConfig.transportConfig.publicAddress = "127.0.0.1"
        self.account = Agent(self)
        self.account.create(account_config)

    def next_number(self) -> int:
        self._numbers += 1
        return self._numbers

    def handle(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.ep.libHandleEvents(10)

    def service(self, call: ToneCall) -> None:
        """Answer when due, hang up after the talk time, report the end."""
        now = time.monotonic()
        answer_at = getattr(call, "answer_at", None)
        if answer_at is not None and now >= answer_at and call.state != "DISCONNECTED":
            call.answer_at = None
            if self.config.get("answer", True):
                ok = pj.CallOpParam()
                ok.statusCode = 200
                call.answer(ok)
                emit(event="answered", call=call.number)
        dtmf = self.config.get("dtmf")  # {"digits": "1", "after": seconds from connect}
        if (
            dtmf
            and call.connected_at is not None
            and not getattr(call, "dtmf_sent", False)
            and now - call.connected_at >= float(dtmf["after"])
            and call.state != "DISCONNECTED"
        ):
            call.dtmf_sent = True
            call.dialDtmf(dtmf["digits"])
            emit(event="dtmf", call=call.number, digits=dtmf["digits"])
        talk = self.config.get("talk_seconds")
        if (
            talk is not None
            and call.connected_at is not None
            and now - call.connected_at >= float(talk)
            and call.state != "DISCONNECTED"
        ):
            call.hangup(pj.CallOpParam(True))
        if call.state == "DISCONNECTED" and not call.reported_end:
            call.reported_end = True
            call.recorder = None
            emit(
                event="ended",
                call=call.number,
                reason=getattr(call, "reason", ""),
                recording=getattr(call, "recording", None),
                connected=call.connected_at is not None,
            )


def stdin_line() -> str | None:
    """A line the test sent ("" when none waits); None once stdin is closed."""
    ready, _, _ = select.select([sys.stdin], [], [], 0)
    if not ready:
        return ""
    line = sys.stdin.readline()
    return line.strip() if line else None


def main() -> int:
    config = json.loads(sys.argv[1])
    os.makedirs(config["record_dir"], exist_ok=True)
    phone = Phone(config)
    deadline = time.monotonic() + float(config.get("timeout", 120))
    if config["role"] == "caller":
        call = ToneCall(phone, phone.account)
        call.makeCall(config["uri"], pj.CallOpParam(True))
        phone.calls.append(call)
        emit(event="dialled", uri=config["uri"])
    wanted = int(config.get("calls", 1))
    while time.monotonic() < deadline:
        command = stdin_line()
        if command is None:
            break
        if command == "hangup":
            for call in phone.calls:
                if call.state != "DISCONNECTED":
                    call.hangup(pj.CallOpParam(True))
        phone.handle(0.02)
        if phone.transferred is not None and phone.transferred not in phone.calls:
            phone.calls.append(phone.transferred)
        for call in list(phone.calls):
            phone.service(call)
        if sum(c.reported_end for c in phone.calls) >= wanted and config["role"] == "agent":
            break
        if config["role"] == "caller" and all(c.reported_end for c in phone.calls):
            break
    emit(event="done")
    phone.handle(0.2)
    os._exit(0)  # pjsua2's teardown can hang in Python's finalisers


if __name__ == "__main__":
    sys.exit(main())
