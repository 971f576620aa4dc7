"""The SIP endpoint over baresip-python: listens, registers, answers, dials.

One baresip ``Runtime`` per process (the library allows no more), so one
engine per call worker. The engine owns the media clock: a single task that
pumps the audio of every live call each tick, instead of a task per call.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import replace
from urllib.parse import unquote

import baresip
from baresip import Account, Config, Event, Runtime, StackEvent, UserAgent

from ivr.edge.render import EDGE_TIME_HEADER
from ivr.exceptions import TelephonyError
from ivr.tasks import OwnedTasks, cancel_and_wait
from ivr.telephony.baresip_call import BaresipCall
from ivr.telephony.headroom import Headroom, HeadroomView
from ivr.telephony.interface import Call, CallInfo, IncomingCallHandler, RegistrationStatus
from ivr.telephony.invite_checks import refusal_reason
from ivr.telephony.settings import SipAccount, SipConfig
from ivr.telephony.timer_slack import timer_slack

log = logging.getLogger(__name__)

MEDIA_TICK_SECONDS = 0.04
# How late the kernel may wake the stack's media threads (ivr/telephony/timer_slack.py):
# a transmit thread polling every 4 ms then wakes every 4 to 8 ms and still sends each
# 20 ms packet on time on average (it keeps its own clock and catches up).
STACK_TIMER_SLACK_NS = 4_000_000
# No jitter buffer on received audio. With one, the stack decodes each call's packets
# from a timer it re-arms on the SIP thread every packet, and it keeps its timers in one
# sorted list: each re-arm walks the timers of the other calls (a cost growing with the
# square of a worker's calls). Nothing here plays received audio out in real time: it
# goes to recordings, speech recognition and bridged legs as it arrives.
# One worker, 200 steady calls: 0.76 cores before, 0.59 with the buffer off, 0.58 with
# the slack, 0.41 with both (bench/RESULTS.md, "Call capacity per worker count").
STACK_MEDIA_CONFIG = "audio_jitter_buffer_type off\n"
REGISTRATION_RETRY_SECONDS = 30.0
CODECS = ("pcmu", "pcma")
# No video codec matches, so a video offer gets its stream refused (port 0).
# Calls are answered with a video stream object all the same (BaresipCall.answer):
# without one the stack sees the answer's video direction differ from the one it
# expects and sends a re-INVITE right after the ACK, which callers such as SIPp's
# uac_pcap abort on.
NO_VIDEO = "video_codecs=none"
# Headers the INVITE handler needs beyond the caller URI the stack reports.
EXPOSED_HEADERS = (
    "To",
    "From",
    "Require",
    "P-Asserted-Identity",
    "Diversion",
    EDGE_TIME_HEADER,
)

_URI_USER = re.compile(r"(?:sips?|tel):([^@;>?]+)", re.IGNORECASE)


def number_from_uri(uri: str | None) -> str:
    """The user part of a SIP/tel URI or name-addr ("" when there is none)."""
    if not uri:
        return ""
    match = _URI_USER.search(uri)
    return unquote(match.group(1)) if match else ""


def call_info_from(call: baresip.Call) -> CallInfo:
    headers = dict(call.headers)
    asserted = headers.get("P-Asserted-Identity")
    caller_uri = call.peer or ""
    return CallInfo(
        call_id=call.call_id or f"local-{call.handle:x}",
        caller_uri=caller_uri,
        caller_number=number_from_uri(asserted) or number_from_uri(caller_uri),
        called_number=number_from_uri(headers.get("To")),
        headers=headers,
    )


FULL_LOG_EVERY = 100  # under overload, one warning per this many refusals


class BaresipTelephony:
    def __init__(self, config: SipConfig, *, dtmf_mode: str = "rtpevent") -> None:
        """``dtmf_mode``: how :meth:`Call.send_digits` sends on dialled calls, RTP
        telephone events ("rtpevent", RFC 4733) or SIP INFO ("info")."""
        self._config = config
        self._dtmf_mode = dtmf_mode
        self._runtime = Runtime(native_log_level="warning")
        self._trunk_agent: UserAgent | None = None
        self._registered_agents: list[tuple[SipAccount, UserAgent]] = []
        self._registration: dict[str, RegistrationStatus] = {}
        self._calls: dict[int, BaresipCall] = {}
        self._tasks = OwnedTasks()
        self._pump_task: asyncio.Task[None] | None = None
        self._on_incoming: IncomingCallHandler | None = None
        self._accepting = True
        self._headroom = Headroom(
            config.max_calls, config.max_loop_lag_ms, config.max_new_calls_per_second
        )
        # Events of calls being dialled that arrived before their Call object existed.
        self._dials_in_progress = 0
        self._early_events: dict[int, list[StackEvent]] = {}

    @property
    def live_calls(self) -> int:
        return len(self._calls)

    async def start(self, on_incoming: IncomingCallHandler) -> None:
        self._on_incoming = on_incoming
        self._tasks.start(self._headroom.run(), "headroom")
        listen = self._config.listen
        transports = ",".join(self._config.transports)
        rtp_first, rtp_last = self._config.rtp_ports
        try:
            # The SIP thread starts here; every media thread it starts inherits the slack.
            with timer_slack(STACK_TIMER_SLACK_NS):
                await self._runtime.start(
                    Config(
                        net_interface=listen.host,
                        max_concurrent_calls=self._config.max_calls,
                        rtp_timeout=self._config.rtp_timeout_seconds,
                        expose_headers=EXPOSED_HEADERS,
                        extra_config_text=(
                            f"sip_listen {listen}\nsip_transports {transports}\n"
                            f"rtp_ports {rtp_first}-{rtp_last}\n" + STACK_MEDIA_CONFIG
                        ),
                    )
                )
            # Calls from a trunk or PBX to any number land on a catch-all agent. The
            # stack matches a request to an agent by transport too (a TCP INVITE met
            # the UDP agent with 404), so there is one per transport; the first dials.
            for transport in self._config.transports:
                agent = await UserAgent.create(
                    self._runtime,
                    Account(
                        user="ivr",
                        domain=str(listen),
                        password="",
                        reg_interval=0,
                        transport=transport,  # type: ignore[arg-type]
                        audio_codecs=CODECS,
                        dtmf_mode=self._dtmf_mode,  # type: ignore[arg-type]
                        extra_params=("catchall=yes", NO_VIDEO, *_media_encryption(self._config)),
                    ),
                )
                agent.on_incoming(self._incoming)
                self._trunk_agent = self._trunk_agent or agent
            for account in self._config.accounts:
                await self._add_registered_account(account)
        except baresip.BaresipError as exc:
            raise TelephonyError(f"SIP stack failed to start on {listen}: {exc}") from exc
        self._runtime.subscribe(self._on_registration_event)
        self._runtime.subscribe(self._keep_early_call_events)
        self._pump_task = asyncio.create_task(self._media_clock(), name="media-clock")
        log.info("SIP listening on %s (%s)", listen, transports)

    async def _add_registered_account(self, account: SipAccount) -> None:
        agent = await UserAgent.create(
            self._runtime,
            Account(
                user=account.user,
                domain=account.domain,
                password=account.password,
                registrar=account.registrar,
                transport=account.transport,  # type: ignore[arg-type]
                reg_interval=account.reg_interval,
                auth_user=account.auth_user,
                audio_codecs=CODECS,
                extra_params=(NO_VIDEO,),
            ),
        )
        agent.on_incoming(self._incoming)
        self._registered_agents.append((account, agent))
        name = f"{account.user}@{account.domain}"
        self._registration[name] = RegistrationStatus(name, False, "registering")
        self._tasks.start(self._keep_registered(name, agent), f"register-{name}")

    async def _keep_registered(self, name: str, agent: UserAgent) -> None:
        # The stack refreshes a registration that succeeded; one that failed is
        # retried here, so a PBX that was down when we started is picked up later.
        while True:
            try:
                await agent.register()
                return
            except baresip.BaresipError as exc:
                self._registration[name] = RegistrationStatus(name, False, str(exc))
                log.warning("registration of %s failed: %s", name, exc)
            await asyncio.sleep(REGISTRATION_RETRY_SECONDS)

    def _on_registration_event(self, event: StackEvent) -> None:
        if event.event not in (Event.REGISTER_OK, Event.REGISTER_FAIL):
            return
        for account, agent in self._registered_agents:
            if agent.handle != event.ua:
                continue
            name = f"{account.user}@{account.domain}"
            ok = event.event is Event.REGISTER_OK
            self._registration[name] = RegistrationStatus(name, ok, event.text or "")
            if not ok:
                log.warning("registration of %s failed: %s", name, event.text)

    def _keep_early_call_events(self, event: StackEvent) -> None:
        """baresip-python 0.5.2a3 builds an outbound Call only after its dial command
        returns, and events the stack queued meanwhile (a fast 200 OK: established,
        or closed) reach no one; they are kept here and replayed by :meth:`dial`."""
        if self._dials_in_progress and event.call and event.call not in self._calls:
            self._early_events.setdefault(event.call, []).append(event)

    def registrations(self) -> list[RegistrationStatus]:
        return list(self._registration.values())

    def _incoming(self, stack_call: baresip.Call) -> None:
        if not self._accepting or self._on_incoming is None:
            self._tasks.start(self._reject(stack_call), "reject")
            return
        refusal = refusal_reason(dict(stack_call.headers))
        if refusal is not None:
            # 486 is the one refusal the binding can send (RFC 3261 would have 400/420).
            log.warning("refused INVITE %s: %s", stack_call.call_id, refusal)
            self._tasks.start(self._reject(stack_call), "reject")
            return
        full = self._headroom.refuse(stack_call.headers)
        if full is not None:
            # Refused before any answer: the edge tries another worker, else says 503.
            if self._headroom.refused % FULL_LOG_EVERY == 1:
                log.warning(
                    "full: refused INVITE %s (%s; %d refused so far)",
                    stack_call.call_id,
                    full,
                    self._headroom.refused,
                )
            self._tasks.start(self._reject(stack_call), "reject")
            return
        call = BaresipCall(stack_call, call_info_from(stack_call))
        self._calls[stack_call.handle] = call
        self._headroom.calls += 1
        self._tasks.start(self._run_call(stack_call.handle, call, self._on_incoming), "call")

    def headroom(self) -> HeadroomView:
        return self._headroom.view()

    async def _reject(self, stack_call: baresip.Call) -> None:
        try:
            await stack_call.reject()
        except baresip.BaresipError as exc:
            log.debug("reject of a vanished call: %s", exc)

    async def _run_call(self, handle: int, call: BaresipCall, handler: IncomingCallHandler) -> None:
        try:
            await handler(call)
        except Exception:
            log.exception("call handler failed for %s", call.info.call_id)
        finally:
            await call.hangup()
            if not call.ended:
                try:
                    await asyncio.wait_for(asyncio.shield(call.closed), 5.0)
                except TimeoutError:
                    log.warning("call %s did not close after hangup", call.info.call_id)
            self._calls.pop(handle, None)
            self._headroom.calls -= 1

    async def dial(self, uri: str, timeout: float = 30.0) -> Call:
        if self._trunk_agent is None:
            raise TelephonyError("SIP stack is not running")
        self._dials_in_progress += 1
        try:
            stack_call = await self._trunk_agent.dial(uri)
        except (baresip.BaresipError, ValueError) as exc:
            raise TelephonyError(f"dialling {uri} failed: {exc}") from exc
        finally:
            self._dials_in_progress -= 1
            if not self._dials_in_progress:
                early, self._early_events = self._early_events, {}
            else:
                early = {}
        call = BaresipCall(
            stack_call,
            CallInfo(
                call_id=stack_call.call_id or f"local-{stack_call.handle:x}",
                caller_uri="",
                caller_number="",
                called_number=number_from_uri(uri),
            ),
            outbound=True,
        )
        self._calls[stack_call.handle] = call
        for event in early.get(stack_call.handle) or self._early_events.pop(stack_call.handle, []):
            stack_call._on_stack_event(event)  # the library's own state keeper
        try:
            await stack_call.wait_established(timeout=timeout)
        except baresip.BaresipError as exc:
            self._calls.pop(stack_call.handle, None)
            await call.hangup()  # still ringing at the timeout: cancel it
            failed = TelephonyError(f"call to {uri} not answered: {exc}")
            failed.call_id = stack_call.call_id or ""
            raise failed from exc
        call._media_up = True
        # The stack reads the Call-ID from its own INVITE's events: known by now (the
        # far end keys its tickets and live calls by it).
        call._info = replace(call.info, call_id=stack_call.call_id or call.info.call_id)
        self._tasks.start(self._forget_when_closed(stack_call.handle, call), "outbound")
        return call

    async def _forget_when_closed(self, handle: int, call: BaresipCall) -> None:
        await call.closed
        self._calls.pop(handle, None)

    async def stop_accepting(self) -> None:
        # New INVITEs get "486 Busy Here" from the stack itself: the binding
        # offers no other refusal code.
        self._accepting = False
        self._tasks.start(self._drain(), "drain")

    async def _drain(self) -> None:
        try:
            await self._runtime.drain()  # returns once no call is left
        except baresip.BaresipError as exc:
            log.warning("could not put the SIP stack in drain mode: %s", exc)

    async def close(self) -> None:
        """End every call and unregister; the native stack itself is left to process exit.

        baresip-python 0.5.2a3 corrupts its heap during teardown after it has
        refused an INVITE without a Contact header (glibc then aborts the
        process), so its teardown is not run: the process exits right after.
        """
        for call in list(self._calls.values()):
            await call.hangup()
        await self._tasks.cancel_all()
        if self._pump_task is not None:
            await cancel_and_wait([self._pump_task])
        for account, agent in self._registered_agents:
            try:
                await agent.unregister(timeout=2.0)
            except baresip.BaresipError as exc:
                log.warning("unregister of %s@%s failed: %s", account.user, account.domain, exc)

    async def _media_clock(self) -> None:
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while True:
            for call in list(self._calls.values()):
                try:
                    call.pump()
                except Exception:
                    log.exception("media pump failed for %s", call.info.call_id)
            next_tick += MEDIA_TICK_SECONDS
            delay = next_tick - loop.time()
            if delay < 0:  # fell behind: do not try to catch up with a burst
                next_tick = loop.time()
                delay = 0
            await asyncio.sleep(delay)


# baresip's account parameter for each sip.media_encryption setting.
_MEDIAENC = {"srtp": "srtp", "srtp_mandatory": "srtp-mand", "dtls_srtp": "dtls_srtp"}


def _media_encryption(config: SipConfig) -> tuple[str, ...]:
    mediaenc = _MEDIAENC.get(config.media_encryption)
    return () if mediaenc is None else (f"mediaenc={mediaenc}",)
