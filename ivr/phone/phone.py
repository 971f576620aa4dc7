"""One call from the terminal: dial, listen, press keys, speak, hang up, show the ticket."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from ivr.config import Config, HostPort, SipConfig
from ivr.exceptions import IvrError, PromptError, TelephonyError
from ivr.phone.audio import Listener, MonoWav, Speaker, load_speech
from ivr.phone.endpoint import free_rtp_ports, free_sip_port, local_host_for, target_uri
from ivr.phone.keys import DTMF_MODES, Press, Step, Wait, parse_keys
from ivr.phone.plan_texts import PlanTexts
from ivr.phone.service_view import ServiceView, ServiceViewError
from ivr.tasks import OwnedTasks, cancel_and_wait
from ivr.telephony.interface import Call, CallEnded, DigitPressed, Telephony

DIAL_TIMEOUT_SECONDS = 30.0
HANGUP_WAIT_SECONDS = 5.0
NODE_POLL_SECONDS = 0.2
TICKET_WAIT_SECONDS = 10.0  # the service writes the ticket right after its BYE
REMOTE_HANGUP = "remote hung up"  # the telephony's end reason for a BYE from the far end


Say = Callable[[str], None]  # prints one line for the person at the phone


@dataclass(frozen=True)
class PhoneOptions:
    uri: str | None = None  # None: the configured service (sip.listen)
    keys: list[Step] | None = None  # None: keys come from what is typed on stdin
    say: Path | None = None
    wav: Path | None = None  # None: var/calls/<time>.wav
    dtmf: str = "rfc4733"  # or "info"
    max_seconds: float | None = None
    speaker: bool = True


@dataclass
class _Progress:
    """What the phone learnt about its call while it ran."""

    ticket_id: int = 0
    ended_by: str = ""
    notes: list[str] = field(default_factory=list)


def default_wav_path(now: datetime) -> Path:
    """``var/calls/<date>-<time>.wav``, with ``-2``, ``-3`` ... when a call of the same
    second has it."""
    first = Path("var") / "calls" / f"{now:%Y%m%d-%H%M%S}.wav"
    path, number = first, 1
    while path.exists():
        number += 1
        path = first.with_stem(f"{first.stem}-{number}")
    return path


async def run_phone(
    config: Config,
    options: PhoneOptions,
    view: ServiceView | None,
    out: TextIO = sys.stdout,
) -> int:
    """Place one call; 0 when it was answered, 1 when not, 2 on bad options.

    ``view`` reads the service's state (prompts, ticket); None for a URI that is
    not the configured service.
    """
    from ivr.telephony.baresip_engine import BaresipTelephony  # the native stack, loaded late

    def say(text: str) -> None:
        print(text, file=out, flush=True)

    def fail(text: str) -> None:
        print(f"ivr call: {text}", file=sys.stderr, flush=True)

    speech = b""
    if options.say is not None:
        try:
            speech = await load_speech(options.say)
        except PromptError as exc:
            fail(f"--say: {exc}")
            return 2
    uri = target_uri(options.uri, config.sip.listen)
    try:
        sip = _phone_sip(config.sip, local_host_for(uri))
    except TelephonyError as exc:
        fail(str(exc))
        return 1
    wav_path = options.wav or default_wav_path(datetime.now())
    try:
        wav = MonoWav(wav_path)
    except OSError as exc:
        fail(f"cannot write {wav_path}: {exc.strerror or exc}")
        return 2
    telephony = BaresipTelephony(sip, dtmf_mode=DTMF_MODES[options.dtmf])
    speaker = await Speaker.open() if options.speaker else None
    progress = _Progress()
    tasks = OwnedTasks()
    try:
        await telephony.start(_refuse_incoming)
        typing = "keys from --keys" if options.keys is not None else _typing_help()
        say(f"calling {uri} from sip:{sip.listen} ({typing})")
        started = time.time()
        stop = asyncio.Event()
        _stop_on_signals(stop)
        try:
            call = await _dial(telephony, uri, stop)
        except TelephonyError as exc:
            hint = " (is the service running? make run)" if view is not None else ""
            fail(f"{exc}{hint}")
            return 1
        if call is None:
            say("call ended: you hung up before an answer")
            return 1
        listener = Listener(wav, speaker)
        call.add_audio_sink(listener)
        say(f"answered; what you hear is written to {wav_path}")
        if view is not None:
            say(f"prompts and ticket from {view.where}")
            texts = PlanTexts(config.dialplans.directory)
            tasks.start(_show_prompts(view, texts, call, progress, say), "prompts")
        if options.keys is not None:
            tasks.start(_script(call, options.keys, speech, listener, say), "keys")
        else:
            tasks.start(_typed(call, speech, listener, stop, say), "typed keys")
        await _until_over(call, stop, options.max_seconds, progress, say)
        await tasks.cancel_all()
        say(f"call ended: {progress.ended_by} after {time.time() - started:.1f} s")
        if view is not None:
            await _show_ticket(view, call.info.call_id, progress.ticket_id, started, say)
        return 0
    except IvrError as exc:
        fail(str(exc))
        return 1
    finally:
        await tasks.cancel_all()
        wav.close()
        if speaker is not None:
            await speaker.close()
        if view is not None:
            await view.close()
        await telephony.close()


def _phone_sip(service: SipConfig, host: str) -> SipConfig:
    """The phone's own endpoint on ``host``: free ports, the service's media encryption.
    Raises TelephonyError."""
    return SipConfig(
        listen=HostPort(host, free_sip_port(host)),
        transports=("udp", "tcp"),
        max_calls=2,
        rtp_timeout_seconds=service.rtp_timeout_seconds,
        media_encryption=service.media_encryption,
        rtp_ports=free_rtp_ports(host, service.rtp_ports),
    )


async def _dial(telephony: Telephony, uri: str, stop: asyncio.Event) -> Call | None:
    """The answered call; None when ``stop`` came first (the engine's close cancels
    the INVITE). Raises TelephonyError."""
    dialling = asyncio.ensure_future(telephony.dial(uri, DIAL_TIMEOUT_SECONDS))
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({dialling, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    await asyncio.gather(stopping, return_exceptions=True)
    if not dialling.done():
        await cancel_and_wait([dialling])
        return None
    return dialling.result()


async def _refuse_incoming(call: Call) -> None:
    """The phone only places calls; the engine hangs up whatever this returns on."""


def _typing_help() -> str:
    return "type keys and Enter, w waits 1 s; Ctrl-D or Ctrl-C hangs up"


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop.set)


async def _until_over(
    call: Call,
    stop: asyncio.Event,
    max_seconds: float | None,
    progress: _Progress,
    say: Say,
) -> None:
    """Until the far end hangs up, ``stop`` is set or ``max_seconds`` pass; then the
    call is hung up and its end recorded in ``progress``."""
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    stopping = asyncio.ensure_future(stop.wait())
    try:
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            event_wait = asyncio.ensure_future(call.next_event(left))
            await asyncio.wait({event_wait, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not event_wait.done():
                event_wait.cancel()
                await asyncio.gather(event_wait, return_exceptions=True)
                progress.ended_by = "you hung up"
                break
            event = event_wait.result()
            if isinstance(event, CallEnded):
                progress.ended_by = (
                    "the far end hung up"
                    if event.reason == REMOTE_HANGUP
                    else f"the call ended: {event.reason}"
                )
                return
            if isinstance(event, DigitPressed):
                say(f"the far end pressed {event.digit}")
            elif event is None:
                progress.ended_by = f"--max-seconds {max_seconds:g} reached"
                break
    finally:
        stopping.cancel()
        await asyncio.gather(stopping, return_exceptions=True)
    await call.hangup()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(HANGUP_WAIT_SECONDS):
            while not isinstance(await call.next_event(), CallEnded):
                pass


async def _press(call: Call, steps: list[Step], say: Say) -> None:
    for step in steps:
        if isinstance(step, Wait):
            await asyncio.sleep(step.seconds)
        elif isinstance(step, Press):
            try:
                await call.send_digits(step.key)
            except TelephonyError as exc:
                say(f"key {step.key} not sent: {exc}")
                continue
            say(f"you press {step.key}")


async def _script(
    call: Call, steps: list[Step], speech: bytes, listener: Listener, say: Say
) -> None:
    """``--keys`` from the first sound heard (keys sent at the answer can be lost
    while the far end wires the call), then ``--say``."""
    await listener.heard.wait()
    await _press(call, steps, say)
    if speech:
        await _speak(call, speech, say)


async def _typed(
    call: Call, speech: bytes, listener: Listener, stop: asyncio.Event, say: Say
) -> None:
    """Keys typed on stdin, a line at a time; end of input hangs up."""
    if speech:
        await listener.heard.wait()
        await _speak(call, speech, say)
    async for line in _stdin_lines():
        try:
            steps = parse_keys(line.strip())
        except ValueError as exc:
            say(f"not sent: {exc}")
            continue
        await _press(call, steps, say)
    stop.set()


async def _speak(call: Call, speech: bytes, say: Say) -> None:
    say(f"you say the --say recording ({len(speech) / 16000:.1f} s)")
    await call.play(speech)


async def _stdin_lines() -> AsyncIterator[str]:
    """Lines of standard input as they are typed; a terminal, pipe or file."""
    loop = asyncio.get_running_loop()
    fd = os.dup(sys.stdin.fileno())
    reader = asyncio.StreamReader()
    try:
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0)
        )
    except ValueError:  # a regular file: read it whole, it does not block
        os.close(fd)
        text = await loop.run_in_executor(None, sys.stdin.read)
        for line in text.splitlines():
            yield line
        return
    try:
        while line_bytes := await reader.readline():
            yield line_bytes.decode(errors="replace")
    finally:
        # The terminal's file is shared with the shell: give it back blocking.
        with contextlib.suppress(OSError):
            os.set_blocking(sys.stdin.fileno(), True)
        transport.close()


async def _show_prompts(
    view: ServiceView, texts: PlanTexts, call: Call, progress: _Progress, say: Say
) -> None:
    """Print each node's prompt texts as the service enters it."""
    shown = ""
    while not call.ended:
        try:
            state = await view.live(call.info.call_id)
        except ServiceViewError as exc:
            say(f"(prompt texts not shown: {exc})")
            return
        if state is not None:
            progress.ticket_id = state.ticket_id or progress.ticket_id
            if state.node and state.node != shown:
                shown = state.node
                for text in texts.texts(state.plan, state.node) or ["(no prompt)"]:
                    say(f"IVR [{state.node}]: {text}")
        await asyncio.sleep(NODE_POLL_SECONDS)


async def _show_ticket(
    view: ServiceView, call_id: str, ticket_id: int, started: float, say: Say
) -> None:
    """The call's ticket once the service has closed it (or as it stands after a wait)."""
    ticket: dict[str, Any] | None = None
    deadline = time.monotonic() + TICKET_WAIT_SECONDS
    try:
        while time.monotonic() < deadline:
            ticket = await view.ticket(call_id, ticket_id, started)
            if ticket is not None and ticket.get("disposition") != "live":
                break
            await asyncio.sleep(NODE_POLL_SECONDS)
    except ServiceViewError as exc:
        say(f"(ticket not shown: {exc})")
        return
    if ticket is None:
        say(f"(no ticket found for call {call_id})")
        return
    say(f"ticket {ticket['id']}: {ticket['disposition']} ({ticket.get('end_reason') or '-'})")
    say(f"  path: {' -> '.join(ticket.get('nodes') or []) or '-'}")
    say(f"  keys: {ticket.get('keys') or '-'}")
    say(f"  intent: {ticket.get('intent') or '-'}")
    if ticket.get("recording_path"):
        say(f"  recording: {ticket['recording_path']}")
