"""The minimal IVR written with pjsua2 (2.15.1 wheel), as a Python user would write it:
answer, play a prompt in a loop, read DTMF, on "1" play a short confirmation and hang up.

The wheel is compiled for at most 4 calls per process (``UaConfig.maxCalls`` cannot go
higher; a 5th INVITE is answered 486 Busy Here by pjsua itself). So an IVR that carries
N calls is N/4 processes behind something that spreads INVITEs: ``--processes N`` starts
N of these on consecutive SIP ports (``--sip-port`` the first) and supervises them, and
the bench puts a Kamailio dispatcher in front (``bench/peers/dispatcher.py``: round
robin, the next process when one answers busy, 503 when all are).

Each process drives pjsua2 from its one thread with ``libHandleEvents`` and a null
sound device (its Python callbacks deadlock with the GIL otherwise). pjsua2 reports
RFC 2833/4733 telephone-events through ``Call.onDtmfDigit`` (the only DTMF the bench sends).

Counts (answered, keys, ended, ended_without_key) go to ``--counts`` (JSON; with
``--processes``, one file per process: ``<counts>.<i>``) every second and on SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

import pjsua2 as pj
from call_counts import CallCounts
from tones import CONFIRMATION_SECONDS, write_wavs

MAX_CALLS = 4  # what this wheel was compiled for
MEDIA_PORTS_PER_PROCESS = 20


class IvrCall(pj.Call):  # type: ignore[misc]
    def __init__(self, ivr: PjsuaIvr, account: pj.Account, call_id: int) -> None:
        super().__init__(account, call_id)
        self.ivr = ivr
        self.media: pj.AudioMedia | None = None
        self.keyed = False
        self.hang_up_at: float | None = None
        self.ended = False

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        if self.media is None and not self.keyed:
            self.media = self.getAudioMedia(-1)
            self.ivr.prompt.startTransmit(self.media)

    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:
        if prm.digit != "1" or self.keyed:
            return
        self.keyed = True
        self.ivr.counts.add("keys")
        if self.media is not None:
            self.ivr.prompt.stopTransmit(self.media)
            self.ivr.confirmation.startTransmit(self.media)
        self.hang_up_at = time.monotonic() + CONFIRMATION_SECONDS

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        if self.getInfo().state == pj.PJSIP_INV_STATE_DISCONNECTED and not self.ended:
            self.ended = True
            self.ivr.counts.add("ended")
            if not self.keyed:
                self.ivr.counts.add("ended_without_key")


class IvrAccount(pj.Account):  # type: ignore[misc]
    def __init__(self, ivr: PjsuaIvr) -> None:
        super().__init__()
        self.ivr = ivr

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        call = IvrCall(self.ivr, self, prm.callId)
        answer = pj.CallOpParam()
        answer.statusCode = 200
        call.answer(answer)
        self.ivr.calls.append(call)
        self.ivr.counts.add("answered")


class PjsuaIvr:
    def __init__(self, sip_port: int, media_port: int, counts: CallCounts) -> None:
        self.counts = counts
        self.calls: list[IvrCall] = []
        self.endpoint = pj.Endpoint()
        self.endpoint.libCreate()
        config = pj.EpConfig()
        config.uaConfig.threadCnt = 0
        config.uaConfig.mainThreadOnly = True
        config.uaConfig.maxCalls = MAX_CALLS
        config.logConfig.level = 0
        config.logConfig.consoleLevel = 0
        config.medConfig.clockRate = 8000
        config.medConfig.sndClockRate = 8000
        config.medConfig.noVad = True
        self.endpoint.libInit(config)
        transport = pj.TransportConfig()
        transport.port = sip_port
        transport.boundAddress = "127.0.0.1"
        self.endpoint.transportCreate(pj.PJSIP_TRANSPORT_UDP, transport)
        self.endpoint.libStart()
        self.endpoint.audDevManager().setNullDev()
        account_config = pj.AccountConfig()
        account_config.idUri = f"sip:ivr@127.0.0.1:{sip_port}"
        media = account_config.mediaConfig.transportConfig
        media.boundAddress = "127.0.0.1"
        media.port = media_port
        media.portRange = MEDIA_PORTS_PER_PROCESS
        self.account = IvrAccount(self)
        self.account.create(account_config)
        prompt_wav, confirmation_wav = write_wavs(Path(tempfile.mkdtemp(prefix="pj-ivr-")))
        self.prompt = pj.AudioMediaPlayer()
        self.prompt.createPlayer(str(prompt_wav))  # loops
        self.confirmation = pj.AudioMediaPlayer()
        self.confirmation.createPlayer(str(confirmation_wav))  # loops; cut by the hang-up

    def run(self) -> None:
        while True:
            self.endpoint.libHandleEvents(10)
            now = time.monotonic()
            for call in self.calls:
                if call.hang_up_at is not None and now >= call.hang_up_at and not call.ended:
                    call.hang_up_at = None
                    call.hangup(pj.CallOpParam())
            # a call is let go here, never inside its own callback
            self.calls = [call for call in self.calls if not call.ended]


def supervise(args: argparse.Namespace) -> None:
    """``--processes`` copies of this IVR, on consecutive SIP ports, until SIGTERM."""
    children = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--sip-port",
                str(args.sip_port + index),
                "--media-port",
                str(args.media_port + index * MEDIA_PORTS_PER_PROCESS),
                "--counts",
                f"{args.counts}.{index}",
            ]
        )
        for index in range(args.processes)
    ]

    def stop(signum: int, frame: FrameType | None) -> None:
        # only signal here: the main thread is inside Popen.wait, which holds its lock
        for child in children:
            child.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for child in children:
        child.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sip-port", type=int, required=True, help="(the first) SIP port")
    parser.add_argument("--media-port", type=int, default=12000, help="(the first) RTP port")
    parser.add_argument("--counts", type=Path, required=True)
    parser.add_argument("--processes", type=int, default=0, help="supervise this many")
    args = parser.parse_args()
    if args.processes:
        supervise(args)
        return
    counts = CallCounts(args.counts)
    counts.exit_on_sigterm()
    counts.write_every_second()
    ivr = PjsuaIvr(args.sip_port, args.media_port, counts)
    print(f"listening on 127.0.0.1:{args.sip_port}", flush=True)
    ivr.run()


if __name__ == "__main__":
    main()
