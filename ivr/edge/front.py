"""What the edge fronts: the call workers behind it and the settings it runs with."""

from __future__ import annotations

from dataclasses import dataclass

from ivr.config_values import HostPort, parse_host_port
from ivr.edge.policy import EdgePolicy
from ivr.edge.settings import SipAdmission, SipTls
from ivr.exceptions import KamailioError
from ivr.telephony.limits import MAX_CALLS_PER_WORKER


@dataclass(frozen=True)
class Worker:
    """One call worker behind Kamailio.

    ``max_calls`` is the dispatcher's ``maxload`` for it, 1 to
    ``MAX_CALLS_PER_WORKER`` (ValueError otherwise).
    """

    name: str  # unique; Kamailio keys the call load by it
    sip: HostPort
    max_calls: int

    def __post_init__(self) -> None:
        if not 1 <= self.max_calls <= MAX_CALLS_PER_WORKER:
            raise ValueError(
                f"call worker {self.name}: max_calls {self.max_calls} is not between 1 and "
                f"{MAX_CALLS_PER_WORKER} (what one worker can carry)"
            )


@dataclass(frozen=True)
class FrontConfig:
    listen: HostPort  # the one SIP address the PBX sends calls to
    transports: tuple[str, ...]
    workers: tuple[Worker, ...]
    probe_interval_seconds: int = 1
    children: int = 4  # Kamailio's UDP receiver processes
    admission: SipAdmission = SipAdmission()
    tls: SipTls = SipTls()

    def policy(self) -> EdgePolicy:
        # Unset, the cap is what the workers can carry together (each at most
        # MAX_CALLS_PER_WORKER, see Worker).
        cap = self.admission.max_calls or sum(w.max_calls for w in self.workers)
        hosts = tuple(dict.fromkeys(w.sip.host for w in self.workers))
        return EdgePolicy(self.admission, self.tls, hosts, cap)


def check_edge_ports(front: FrontConfig) -> None:
    """The TLS listener must not take a worker's port (worker i is on sip.listen + i).

    Raises:
        KamailioError: it does (the setting and the clash named).
    """
    tls = front.tls.listen if front.tls.enabled else None
    if tls is None:
        return
    for worker in front.workers:
        if worker.sip == tls or tls == front.listen:
            raise KamailioError(
                f"sip.tls.listen has value '{tls}': that address is taken by "
                f"{'sip.listen' if tls == front.listen else 'call worker ' + worker.name}; "
                "choose another port"
            )


def parse_worker(text: str, max_calls: int) -> Worker:
    """``NAME=HOST:PORT`` (as ``ivr kamailio run --worker`` takes it).

    Raises:
        ValueError: the text is not of that form.
    """
    name, sep, address = text.partition("=")
    if not sep or not name.strip():
        raise ValueError(f"--worker {text!r}: expected NAME=HOST:PORT, e.g. w1=10.0.0.11:5060")
    try:
        return Worker(name.strip(), parse_host_port(address), max_calls)
    except ValueError as exc:
        raise ValueError(f"--worker {text!r}: {exc}") from None
