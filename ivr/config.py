"""Typed service configuration: ``ivr.yaml`` first, then environment overrides.

Every error names the setting, the bad value and where it came from, e.g.
``ivr.yaml: sip.listen has value '127.0.0.1:x': port must be a number``.
Relative paths in the file are taken from the file's folder; relative paths
in the environment from the working directory.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from ivr.agents.settings import ContactCenterSettings, parse_contact_center
from ivr.api.tokens import ApiSettings, parse_api_settings
from ivr.exceptions import ConfigError
from ivr.sip_edge.settings import SipAdmission, SipTls, parse_admission, parse_tls

T = TypeVar("T")

SIP_TRANSPORTS = ("udp", "tcp")
CONFIG_ENV = "IVR_CONFIG"  # the config file; the --config flag wins over it


@dataclass(frozen=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class SipAccount:
    """A PBX extension the service registers as (digest auth)."""

    user: str
    domain: str
    password: str = field(repr=False, default="")
    registrar: str | None = None
    transport: str = "udp"
    reg_interval: int = 600
    auth_user: str | None = None


@dataclass(frozen=True)
class SipConfig:
    listen: HostPort = HostPort("127.0.0.1", 5060)
    transports: tuple[str, ...] = SIP_TRANSPORTS
    accounts: tuple[SipAccount, ...] = ()
    max_calls: int = 250
    rtp_timeout_seconds: int = 30
    admission: SipAdmission = SipAdmission()  # at the Kamailio edge (ivr/sip_edge)
    tls: SipTls = SipTls()  # at the Kamailio edge
    media_encryption: str = "none"  # none, srtp (when offered), srtp_mandatory, dtls_srtp
    rtp_ports: tuple[int, int] = (10000, 19999)  # media ports (open them in the firewall)


@dataclass(frozen=True)
class HttpConfig:
    listen: HostPort = HostPort("127.0.0.1", 8080)


@dataclass(frozen=True)
class StorageConfig:
    database_url: str = "sqlite:///var/tickets.db"
    recordings_dir: Path = Path("recordings")
    cache_dir: Path = Path("var/cache")
    spool_dir: Path = Path("var/ticket-spool")  # ticket writes kept while the database is away


@dataclass(frozen=True)
class RedisConfig:
    url: str | None = None  # None: start an embedded server
    key_prefix: str = "ivr:"
    embedded_data_dir: Path = Path("var/redis")


@dataclass(frozen=True)
class DialplanConfig:
    directory: Path = Path("dialplans")
    default_plan: str = "default"
    watch: bool = True  # reload plans when their files change
    canary_percent: int = 0  # share of calls a new plan version takes before promotion
    versions_dir: Path = Path("var/dialplan-versions")


@dataclass(frozen=True)
class TicketsConfig:
    webhook_url: str | None = None  # JSON POST on ticket created, closed, resolved
    webhook_timeout_seconds: float = 5.0
    webhook_max_backoff_seconds: float = 60.0  # retry interval cap while the receiver is down


@dataclass(frozen=True)
class SpeechConfig:
    models_dir: Path = Path("asr_models")  # one Vosk model per folder
    pool_size: int = 2  # recognition threads shared by all calls (one per core is plenty)


@dataclass(frozen=True)
class WorkersConfig:
    """Several call workers on one node behind Kamailio (``ivr serve --workers N``)."""

    count: int = 1  # 1: one worker on sip.listen, no Kamailio
    kamailio: str | None = None  # the binary; default: on PATH, else /usr/sbin/kamailio
    probe_interval_seconds: int = 1  # OPTIONS to every worker; a silent one is taken out
    run_dir: Path = Path("var/workers")  # the generated Kamailio config and its pid file


@dataclass(frozen=True)
class PrivacyConfig:
    """What personal data is kept, for how long; 0 days keeps it for good."""

    mask_logs: bool = True  # caller numbers in log lines show only their last two digits
    recordings_retention_days: float = 90.0  # recordings and messages
    transcripts_retention_days: float = 90.0  # what callers said; closed callback records
    sweep_interval_seconds: float = 3600.0


@dataclass(frozen=True)
class Config:
    sip: SipConfig = SipConfig()
    http: HttpConfig = HttpConfig()
    storage: StorageConfig = StorageConfig()
    redis: RedisConfig = RedisConfig()
    dialplans: DialplanConfig = DialplanConfig()
    tickets: TicketsConfig = TicketsConfig()
    speech: SpeechConfig = SpeechConfig()
    directory_csv: Path = Path("dialplans/directory.csv")  # the employee directory
    worker_id: str = ""
    shutdown_grace_seconds: float = 30.0
    log_level: str = "INFO"
    contact_center: ContactCenterSettings = ContactCenterSettings()  # agents, queues, dialling
    workers: WorkersConfig = WorkersConfig()
    privacy: PrivacyConfig = PrivacyConfig()
    api: ApiSettings = ApiSettings()  # tokens the HTTP API accepts


def parse_host_port(text: str) -> HostPort:
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise ValueError("expected HOST:PORT")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("port must be a number from 1 to 65535")
    return HostPort(host.strip("[]"), int(port))


def parse_sip_listen(text: str) -> HostPort:
    listen = parse_host_port(text)
    if listen.host in ("0.0.0.0", "::"):
        raise ValueError(
            "give the address the PBX reaches (e.g. 10.0.0.5:5060); the SIP stack puts it "
            "in every SDP, so a wildcard address cannot work"
        )
    return listen


def parse_transports(value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        raise ValueError("expected a list of transports")
    names = tuple(str(i).strip().lower() for i in items)
    for name in names:
        if name not in SIP_TRANSPORTS:
            raise ValueError(f"unknown transport {name!r} (known: {', '.join(SIP_TRANSPORTS)})")
    return names


def parse_positive_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected a whole number")
    number = int(value)
    if number < 1:
        raise ValueError("must be 1 or more")
    return number


def parse_seconds(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number of seconds")
    number = float(value)
    if number < 0:
        raise ValueError("must not be negative")
    return number


def parse_text(value: Any) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool) or str(value) == "":
        raise ValueError("expected non-empty text")
    return str(value)


def parse_url(value: Any) -> str:
    text = parse_text(value)
    if not text.startswith(("http://", "https://")) or len(text.split("://", 1)[1]) == 0:
        raise ValueError("expected an http:// or https:// URL")
    return text


def parse_percent(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected a whole number from 0 to 100")
    number = int(value)
    if not 0 <= number <= 100:
        raise ValueError("expected a whole number from 0 to 100")
    return number


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def parse_port_range(value: Any) -> tuple[int, int]:
    low, sep, high = str(value).replace(" ", "").partition("-")
    if not sep or not low.isdigit() or not high.isdigit():
        raise ValueError("expected a range like 10000-19999")
    first, last = int(low), int(high)
    if not 1024 <= first < last <= 65535 or last - first < 3:
        raise ValueError("expected FIRST-LAST within 1024-65535, at least 4 ports")
    return first, last


MEDIA_ENCRYPTIONS = ("none", "srtp", "srtp_mandatory", "dtls_srtp")


def parse_media_encryption(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in MEDIA_ENCRYPTIONS:
        raise ValueError(f"expected one of {', '.join(MEDIA_ENCRYPTIONS)}")
    return text


def parse_days(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number of days")
    days = float(value)
    if not 0 <= days <= 36500:
        raise ValueError("expected days from 0 (keep for good) to 36500")
    return days


def parse_log_level(value: Any) -> str:
    level = str(value).upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError("expected DEBUG, INFO, WARNING or ERROR")
    return level


_KNOWN_KEYS = {
    "sip": {
        "listen",
        "transports",
        "accounts",
        "max_calls",
        "rtp_timeout_seconds",
        "admission",
        "tls",
        "media_encryption",
        "rtp_ports",
    },
    "http": {"listen"},
    "storage": {"database_url", "recordings_dir", "cache_dir", "spool_dir"},
    "redis": {"url", "key_prefix", "embedded_data_dir"},
    "dialplans": {"directory", "default_plan", "watch", "canary_percent", "versions_dir"},
    "tickets": {"webhook_url", "webhook_timeout_seconds", "webhook_max_backoff_seconds"},
    "speech": {"models_dir", "pool_size"},
    "workers": {"count", "kamailio", "probe_interval_seconds", "run_dir"},
    "privacy": {
        "mask_logs",
        "recordings_retention_days",
        "transcripts_retention_days",
        "sweep_interval_seconds",
    },
    "api": {"tokens"},
    "worker_id": None,
    "directory_csv": None,
    "shutdown_grace_seconds": None,
    "log_level": None,
    "agents": None,
    "queues": None,
    "dialling": None,
    "screen_pop_url": None,
    "callbacks": None,
}
_ACCOUNT_KEYS = {
    "user",
    "domain",
    "password",
    "registrar",
    "transport",
    "reg_interval",
    "auth_user",
}


class _Reader:
    """Reads one setting from the environment or the file, naming the source on error."""

    def __init__(self, raw: Mapping[str, Any], path: Path | None, env: Mapping[str, str]):
        self.raw = raw
        self.path = path
        self.base_dir = path.resolve().parent if path else Path.cwd()
        self.env = env
        self.source = str(path) if path else "defaults"

    def get(self, dotted: str, env_name: str | None, parse: Callable[[Any], T], default: T) -> T:
        if env_name and self.env.get(env_name, "") != "":
            value: Any = self.env[env_name]
            where = f"environment variable {env_name}"
        else:
            value = self.raw
            for part in dotted.split("."):
                if not isinstance(value, Mapping) or part not in value:
                    return default
                value = value[part]
            if value is None:
                return default
            where = f"{self.source}: {dotted}"
        try:
            return parse(value)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{where} has value {value!r}: {exc}") from None

    def path_setting(self, dotted: str, env_name: str, default: Path) -> Path:
        from_env = self.env.get(env_name, "") != ""
        value = self.get(dotted, env_name, lambda v: Path(parse_text(v)), default)
        if value.is_absolute():
            return value
        return (Path.cwd() if from_env else self.base_dir) / value

    def database_url(self) -> str:
        url = self.get(
            "storage.database_url", "DATABASE_URL", parse_text, StorageConfig.database_url
        )
        prefix = "sqlite:///"
        if url.startswith(prefix) and not Path(url.removeprefix(prefix)).is_absolute():
            from_env = self.env.get("DATABASE_URL", "") != ""
            base = Path.cwd() if from_env else self.base_dir
            return prefix + str(base / url.removeprefix(prefix))
        return url


def _check_known_keys(raw: Mapping[str, Any], source: str) -> None:
    for key, value in raw.items():
        if key not in _KNOWN_KEYS:
            raise ConfigError(f"{source}: unknown setting {key!r}")
        sub = _KNOWN_KEYS[key]
        if sub is None:
            continue
        if not isinstance(value, Mapping):
            raise ConfigError(f"{source}: {key} has value {value!r}: expected a mapping")
        for subkey in value:
            if subkey not in sub:
                raise ConfigError(f"{source}: unknown setting '{key}.{subkey}'")


def _parse_accounts(value: Any, source: str) -> tuple[SipAccount, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigError(f"{source}: sip.accounts has value {value!r}: expected a list")
    accounts = []
    for index, item in enumerate(value):
        where = f"{source}: sip.accounts[{index}]"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{where} has value {item!r}: expected a mapping")
        unknown = set(item) - _ACCOUNT_KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown setting {sorted(unknown)[0]!r}")
        for required in ("user", "domain"):
            if not item.get(required):
                raise ConfigError(f"{where}: '{required}' is required")
        transport = str(item.get("transport", "udp")).lower()
        if transport not in SIP_TRANSPORTS:
            raise ConfigError(f"{where}.transport has value {transport!r}: expected udp or tcp")
        accounts.append(
            SipAccount(
                user=str(item["user"]),
                domain=str(item["domain"]),
                password=str(item.get("password") or ""),
                registrar=str(item["registrar"]) if item.get("registrar") else None,
                transport=transport,
                reg_interval=int(item.get("reg_interval", 600)),
                auth_user=str(item["auth_user"]) if item.get("auth_user") else None,
            )
        )
    return tuple(accounts)


def load_config(path: Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Build the config from ``path`` (or ``$IVR_CONFIG``) and the environment.

    Raises:
        ConfigError: the file is unreadable or not YAML, or a setting is malformed.
    """
    env = os.environ if env is None else env
    if path is None and env.get(CONFIG_ENV):
        path = Path(env[CONFIG_ENV])
    raw: Any = {}
    if path is not None:
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read config: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from None
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{path}: expected a mapping of settings at the top level")
        _check_known_keys(raw, str(path))
    read = _Reader(raw, path, env)
    sip_raw = raw.get("sip") or {}
    sip = SipConfig(
        listen=read.get("sip.listen", "IVR_SIP_LISTEN", parse_sip_listen, SipConfig.listen),
        transports=read.get(
            "sip.transports", "IVR_SIP_TRANSPORTS", parse_transports, SipConfig.transports
        ),
        accounts=_parse_accounts(sip_raw.get("accounts"), read.source),
        max_calls=read.get("sip.max_calls", "IVR_MAX_CALLS", parse_positive_int, 250),
        rtp_timeout_seconds=read.get("sip.rtp_timeout_seconds", None, parse_positive_int, 30),
        media_encryption=read.get(
            "sip.media_encryption", "IVR_MEDIA_ENCRYPTION", parse_media_encryption, "none"
        ),
        rtp_ports=read.get("sip.rtp_ports", "IVR_RTP_PORTS", parse_port_range, (10000, 19999)),
        admission=parse_admission(sip_raw.get("admission"), read.source),
        tls=parse_tls(sip_raw.get("tls"), read.source, read.base_dir),
    )
    if sip.max_calls > 255:
        raise ConfigError(
            f"{read.source}: sip.max_calls has value {sip.max_calls}: one worker carries at "
            "most 255 calls (baresip's native limit); run more workers instead"
        )
    return Config(
        sip=sip,
        http=HttpConfig(
            listen=read.get("http.listen", "IVR_HTTP_LISTEN", parse_host_port, HttpConfig.listen)
        ),
        storage=StorageConfig(
            database_url=read.database_url(),
            recordings_dir=read.path_setting(
                "storage.recordings_dir", "IVR_RECORDINGS_DIR", StorageConfig.recordings_dir
            ),
            cache_dir=read.path_setting(
                "storage.cache_dir", "IVR_CACHE_DIR", StorageConfig.cache_dir
            ),
            spool_dir=read.path_setting(
                "storage.spool_dir", "IVR_TICKET_SPOOL_DIR", StorageConfig.spool_dir
            ),
        ),
        redis=RedisConfig(
            url=read.get("redis.url", "REDIS_URL", parse_text, None),
            key_prefix=read.get(
                "redis.key_prefix", "IVR_REDIS_KEY_PREFIX", parse_text, RedisConfig.key_prefix
            ),
            embedded_data_dir=read.path_setting(
                "redis.embedded_data_dir", "IVR_REDIS_DATA_DIR", RedisConfig.embedded_data_dir
            ),
        ),
        dialplans=DialplanConfig(
            directory=read.path_setting(
                "dialplans.directory", "IVR_DIALPLAN_DIR", DialplanConfig.directory
            ),
            default_plan=read.get(
                "dialplans.default_plan",
                "IVR_DEFAULT_PLAN",
                parse_text,
                DialplanConfig.default_plan,
            ),
            watch=read.get("dialplans.watch", "IVR_DIALPLAN_WATCH", parse_bool, True),
            canary_percent=read.get(
                "dialplans.canary_percent", "IVR_DIALPLAN_CANARY_PERCENT", parse_percent, 0
            ),
            versions_dir=read.path_setting(
                "dialplans.versions_dir", "IVR_DIALPLAN_VERSIONS_DIR", DialplanConfig.versions_dir
            ),
        ),
        tickets=TicketsConfig(
            webhook_url=read.get("tickets.webhook_url", "IVR_TICKETS_WEBHOOK_URL", parse_url, None),
            webhook_timeout_seconds=read.get(
                "tickets.webhook_timeout_seconds", "IVR_TICKETS_WEBHOOK_TIMEOUT", parse_seconds, 5.0
            ),
            webhook_max_backoff_seconds=read.get(
                "tickets.webhook_max_backoff_seconds",
                "IVR_TICKETS_WEBHOOK_MAX_BACKOFF",
                parse_seconds,
                60.0,
            ),
        ),
        speech=SpeechConfig(
            models_dir=read.path_setting(
                "speech.models_dir", "IVR_ASR_MODELS_DIR", SpeechConfig.models_dir
            ),
            pool_size=read.get("speech.pool_size", "IVR_ASR_POOL_SIZE", parse_positive_int, 2),
        ),
        directory_csv=read.path_setting("directory_csv", "IVR_DIRECTORY_CSV", Config.directory_csv),
        worker_id=read.get(
            "worker_id", "IVR_WORKER_ID", parse_text, f"{socket.gethostname()}-{os.getpid()}"
        ),
        shutdown_grace_seconds=read.get(
            "shutdown_grace_seconds", "IVR_SHUTDOWN_GRACE", parse_seconds, 30.0
        ),
        log_level=read.get("log_level", "IVR_LOG_LEVEL", parse_log_level, "INFO"),
        workers=WorkersConfig(
            count=read.get("workers.count", "IVR_WORKERS", parse_positive_int, 1),
            kamailio=read.get("workers.kamailio", "IVR_KAMAILIO", parse_text, None),
            probe_interval_seconds=read.get(
                "workers.probe_interval_seconds", None, parse_positive_int, 1
            ),
            run_dir=read.path_setting(
                "workers.run_dir", "IVR_WORKERS_RUN_DIR", WorkersConfig.run_dir
            ),
        ),
        contact_center=parse_contact_center(raw, read.source),
        api=parse_api_settings(raw.get("api"), read.source, env),
        privacy=PrivacyConfig(
            mask_logs=read.get("privacy.mask_logs", "IVR_MASK_LOGS", parse_bool, True),
            recordings_retention_days=read.get(
                "privacy.recordings_retention_days", None, parse_days, 90.0
            ),
            transcripts_retention_days=read.get(
                "privacy.transcripts_retention_days", None, parse_days, 90.0
            ),
            sweep_interval_seconds=read.get(
                "privacy.sweep_interval_seconds", "IVR_PRIVACY_SWEEP_SECONDS", parse_seconds, 3600.0
            ),
        ),
    )
