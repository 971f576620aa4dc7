"""The minimal IVR written with pyVoIP 1.6.8, as a Python user would write it: answer,
play a prompt in a loop, read DTMF, on "1" play a short confirmation and hang up.

pyVoIP is a phone, not a server: it registers with a PBX (``--server``, here the test
Kamailio registrar) and sends every SIP message to that PBX, whatever the Via says.
So the bench dials the PBX, which routes the INVITE to this process.

What pyVoIP 1.6.8 supports, read in its source (``pyVoIP/RTP.py``, ``VoIP/VoIP.py``):

- DTMF is received only as RFC 2833/4733 telephone-events inside its own RTP client
  (``RTPClient.parse_telephone_event``): a digit is reported once, on the packet with
  the RTP marker bit (the event's first packet); end and repeated packets are ignored,
  so a lost first packet loses the key. No SIP INFO, no in-band (tone) detection, and
  it cannot send DTMF. Digits wait in a per-call buffer read by ``call.get_dtmf()``.
- Every call costs three Python threads: the call's handler (started by a
  ``threading.Timer`` one second after the INVITE, so every answer is at least 1 s
  late), an RTP receiver polling a non-blocking socket every 10 ms and an RTP sender
  that sleeps 20 ms between packets. All share one GIL.
- Audio is unsigned 8-bit linear PCM at 8 kHz (``write_audio``); G.711 only. When the
  caller offers PCMA first, ``RTPClient.encode_packet`` encodes with mu-law but sends it
  as PCMA (payload type 8): callers hear distorted audio. The bench does not listen.
- No re-INVITE is sent; a retransmitted INVITE is ignored while the call rings.
- The 200 OK carries no Record-Route and the BYE reuses the INVITE's Via headers, so
  the PBX routes the dialog by its registration rather than by the dialog's route set.
- It re-REGISTERs every 115 s and takes the next datagram on its one SIP socket for the
  registrar's answer: under call load that is an INVITE or a BYE, it concludes the
  password is wrong (``InvalidAccountInfoError``) and the phone stops (measured:
  bench/RESULTS.md, "Python peers beside the product").
- A retransmitted INVITE that arrives after its call is over is taken as a new call.

Counts (answered, keys, ended, ended_without_key) go to ``--counts`` (JSON) every second
and on SIGTERM. Run: ``python bench/peers/pyvoip_ivr.py --server 127.0.0.1:5060
--sip-port 5070 --counts counts.json`` (user 100, the test registrar's password).
"""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path

from call_counts import CallCounts
from pyVoIP.VoIP import CallState, InvalidStateError, VoIPCall, VoIPPhone
from tones import PROMPT_SECONDS, unsigned8

CHUNK_SECONDS = 0.1  # audio is handed to pyVoIP's sender this much at a time
PROMPT = unsigned8(440, 1.5, PROMPT_SECONDS)
CONFIRMATION = unsigned8(660, 0.8, 0.8)


class PyVoipIvr:
    def __init__(self, counts: CallCounts) -> None:
        self._counts = counts

    def on_call(self, call: VoIPCall) -> None:
        """pyVoIP runs this in a thread of its own per call, 1 s after the INVITE."""
        try:
            call.answer()
        except InvalidStateError:
            return  # the caller gave up while it rang
        self._counts.add("answered")
        keyed = False
        chunk = int(8000 * CHUNK_SECONDS)
        position = 0
        while call.state == CallState.ANSWERED:
            if call.get_dtmf() == "1":
                keyed = True
                self._counts.add("keys")
                call.write_audio(CONFIRMATION)
                time.sleep(len(CONFIRMATION) / 8000)
                try:
                    call.hangup()
                except InvalidStateError:
                    pass  # the caller's BYE came first
                break
            call.write_audio(PROMPT[position : position + chunk])
            position = (position + chunk) % len(PROMPT)
            time.sleep(CHUNK_SECONDS)
        self._counts.add("ended")
        if not keyed:
            self._counts.add("ended_without_key")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--server", required=True, help="the PBX, host:port")
    parser.add_argument("--sip-port", type=int, required=True)
    parser.add_argument("--user", default="100")
    parser.add_argument("--password", default="test-secret")
    parser.add_argument("--counts", type=Path, required=True)
    args = parser.parse_args()
    counts = CallCounts(args.counts)
    counts.exit_on_sigterm()
    counts.write_every_second()
    host, port = args.server.rsplit(":", 1)
    ivr = PyVoipIvr(counts)
    phone = VoIPPhone(
        host,
        int(port),
        args.user,
        args.password,
        myIP="127.0.0.1",
        callCallback=ivr.on_call,
        sipPort=args.sip_port,
    )
    phone.start()
    print("registered", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
