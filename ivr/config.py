"""Typed service configuration: ``ivr.yaml`` first, then environment overrides.

Every error names the setting, the bad value and where it came from, e.g.
``ivr.yaml: sip.listen has value '127.0.0.1:x': port must be a number``.
Relative paths in the file are taken from the file's folder; relative paths
in the environment from the working directory.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from ivr import config_table as table
from ivr.agents.settings import ContactCenterSettings, parse_contact_center
from ivr.api.tokens import ApiSettings, parse_api_settings
from ivr.config_table import CONFIG_ENV, Setting
from ivr.config_values import (  # re-exported: other modules import them from here
    MEDIA_ENCRYPTIONS,
    SIP_TRANSPORTS,
    HostPort,
    parse_bool,
    parse_days,
    parse_host_port,
    parse_log_level,
    parse_media_encryption,
    parse_percent,
    parse_port_range,
    parse_positive_int,
    parse_seconds,
    parse_sip_listen,
    parse_text,
    parse_transports,
    parse_url,
)
from ivr.dialplan.settings import DialplanConfig
from ivr.edge.settings import parse_admission, parse_tls
from ivr.exceptions import ConfigError
from ivr.forecast.settings import ForecastConfig
from ivr.privacy.settings import PrivacyConfig
from ivr.speech.settings import SpeechConfig
from ivr.state.settings import RedisConfig
from ivr.telephony.limits import MAX_CALLS_PER_WORKER
from ivr.telephony.settings import SipAccount, SipConfig, parse_sip_accounts
from ivr.tickets.connectors.settings import HelpdeskConfig, parse_helpdesk
from ivr.tickets.settings import TicketsConfig
from ivr.workers.settings import WorkersConfig

__all__ = [
    "CONFIG_ENV",
    "MEDIA_ENCRYPTIONS",
    "SIP_TRANSPORTS",
    "Config",
    "HostPort",
    "SipAccount",
    "SipConfig",
    "load_config",
    "parse_bool",
    "parse_days",
    "parse_host_port",
    "parse_log_level",
    "parse_media_encryption",
    "parse_percent",
    "parse_port_range",
    "parse_positive_int",
    "parse_seconds",
    "parse_sip_listen",
    "parse_text",
    "parse_transports",
    "parse_url",
]

T = TypeVar("T")


@dataclass(frozen=True)
class HttpConfig:
    listen: HostPort = table.HTTP_LISTEN.default


@dataclass(frozen=True)
class StorageConfig:
    database_url: str = table.DATABASE_URL.default
    recordings_dir: Path = table.RECORDINGS_DIR.default
    cache_dir: Path = table.CACHE_DIR.default
    spool_dir: Path = table.SPOOL_DIR.default


@dataclass(frozen=True)
class Config:
    """The scalar settings' keys, variables, defaults and meaning are in ``ivr.config_table``."""

    sip: SipConfig = SipConfig()
    http: HttpConfig = HttpConfig()
    storage: StorageConfig = StorageConfig()
    redis: RedisConfig = RedisConfig()
    dialplans: DialplanConfig = DialplanConfig()
    tickets: TicketsConfig = TicketsConfig()
    speech: SpeechConfig = SpeechConfig()
    directory_csv: Path = table.DIRECTORY_CSV.default
    worker_id: str = table.WORKER_ID.default  # empty: <host>-<pid>, filled in by load_config
    shutdown_grace_seconds: float = table.SHUTDOWN_GRACE_SECONDS.default
    log_level: str = table.LOG_LEVEL.default
    contact_center: ContactCenterSettings = ContactCenterSettings()  # agents, queues, dialling
    workers: WorkersConfig = WorkersConfig()
    privacy: PrivacyConfig = PrivacyConfig()
    api: ApiSettings = ApiSettings()  # tokens the HTTP API accepts
    helpdesk: HelpdeskConfig | None = None  # the help desk's ticket system (RT), when used
    forecast: ForecastConfig = ForecastConfig()  # history weeks, today's scale, break length


_KNOWN_KEYS = table.known_keys()


class _Reader:
    """Reads one setting from the environment or the file, naming the source on error."""

    def __init__(self, raw: Mapping[str, Any], path: Path | None, env: Mapping[str, str]):
        self.raw = raw
        self.base_dir = path.resolve().parent if path else Path.cwd()
        self.env = env
        self.source = str(path) if path else "defaults"

    def value(self, setting: Setting[T]) -> T:
        """``setting`` from the environment, else the file, else its default.

        Raises:
            ConfigError: naming the setting (or variable), the value and the source.
        """
        if self._from_env(setting):
            value: Any = self.env[str(setting.env)]
            where = f"environment variable {setting.env}"
        else:
            value = self.raw
            for part in setting.key.split("."):
                if not isinstance(value, Mapping) or part not in value:
                    return setting.default
                value = value[part]
            if value is None:
                return setting.default
            where = f"{self.source}: {setting.key}"
        try:
            return setting.parse(value)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{where} has value {value!r}: {exc}") from None

    def path(self, setting: Setting[Path]) -> Path:
        """A path setting; a relative one from the environment is taken from the
        working directory, from the file (or the default) from the file's folder."""
        value = self.value(setting)
        if value.is_absolute():
            return value
        return (Path.cwd() if self._from_env(setting) else self.base_dir) / value

    def database_url(self) -> str:
        url = self.value(table.DATABASE_URL)
        prefix = "sqlite:///"
        if url.startswith(prefix) and not Path(url.removeprefix(prefix)).is_absolute():
            base = Path.cwd() if self._from_env(table.DATABASE_URL) else self.base_dir
            return prefix + str(base / url.removeprefix(prefix))
        return url

    def _from_env(self, setting: Setting[Any]) -> bool:
        return setting.env is not None and self.env.get(setting.env, "") != ""


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


def default_config_path() -> Path | None:
    """Without ``--config``: ``$IVR_CONFIG``, else ``./ivr.yaml`` when there is one."""
    from_env = os.environ.get(CONFIG_ENV, "")
    if from_env:
        return Path(from_env)
    candidate = Path("ivr.yaml")
    return candidate if candidate.is_file() else None


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
        listen=read.value(table.SIP_LISTEN),
        transports=read.value(table.SIP_TRANSPORT_LIST),
        accounts=parse_sip_accounts(sip_raw.get("accounts"), read.source),
        max_calls=read.value(table.MAX_CALLS),
        max_loop_lag_ms=read.value(table.MAX_LOOP_LAG_MS),
        max_new_calls_per_second=read.value(table.MAX_NEW_CALLS_PER_SECOND),
        rtp_timeout_seconds=read.value(table.RTP_TIMEOUT_SECONDS),
        media_encryption=read.value(table.MEDIA_ENCRYPTION),
        rtp_ports=read.value(table.RTP_PORTS),
        admission=parse_admission(sip_raw.get("admission"), read.source),
        tls=parse_tls(sip_raw.get("tls"), read.source, read.base_dir),
    )
    if sip.max_calls > MAX_CALLS_PER_WORKER:
        raise ConfigError(
            f"{read.source}: sip.max_calls has value {sip.max_calls}: one worker carries at "
            f"most {MAX_CALLS_PER_WORKER} calls (baresip's native limit); run more workers instead"
        )
    return Config(
        sip=sip,
        http=HttpConfig(listen=read.value(table.HTTP_LISTEN)),
        storage=StorageConfig(
            database_url=read.database_url(),
            recordings_dir=read.path(table.RECORDINGS_DIR),
            cache_dir=read.path(table.CACHE_DIR),
            spool_dir=read.path(table.SPOOL_DIR),
        ),
        redis=RedisConfig(
            url=read.value(table.REDIS_URL),
            key_prefix=read.value(table.REDIS_KEY_PREFIX),
            embedded_data_dir=read.path(table.REDIS_DATA_DIR),
        ),
        dialplans=DialplanConfig(
            directory=read.path(table.DIALPLAN_DIR),
            default_plan=read.value(table.DEFAULT_PLAN),
            watch=read.value(table.DIALPLAN_WATCH),
            canary_percent=read.value(table.CANARY_PERCENT),
            versions_dir=read.path(table.VERSIONS_DIR),
        ),
        tickets=TicketsConfig(
            webhook_url=read.value(table.WEBHOOK_URL),
            webhook_timeout_seconds=read.value(table.WEBHOOK_TIMEOUT_SECONDS),
            webhook_max_backoff_seconds=read.value(table.WEBHOOK_MAX_BACKOFF_SECONDS),
        ),
        speech=SpeechConfig(
            models_dir=read.path(table.ASR_MODELS_DIR),
            pool_size=read.value(table.ASR_POOL_SIZE),
        ),
        directory_csv=read.path(table.DIRECTORY_CSV),
        worker_id=read.value(table.WORKER_ID) or f"{socket.gethostname()}-{os.getpid()}",
        shutdown_grace_seconds=read.value(table.SHUTDOWN_GRACE_SECONDS),
        log_level=read.value(table.LOG_LEVEL),
        workers=WorkersConfig(
            count=read.value(table.WORKERS_COUNT),
            kamailio=read.value(table.KAMAILIO),
            cores=read.value(table.WORKERS_CORES),
            probe_interval_seconds=read.value(table.PROBE_INTERVAL_SECONDS),
            run_dir=read.path(table.WORKERS_RUN_DIR),
        ),
        contact_center=parse_contact_center(raw, read.source),
        api=parse_api_settings(raw.get("api"), read.source, env),
        helpdesk=parse_helpdesk(raw.get("helpdesk"), read.source),
        privacy=PrivacyConfig(
            mask_logs=read.value(table.MASK_LOGS),
            mask_desk_numbers=read.value(table.MASK_DESK_NUMBERS),
            recordings_retention_days=read.value(table.RECORDINGS_RETENTION_DAYS),
            transcripts_retention_days=read.value(table.TRANSCRIPTS_RETENTION_DAYS),
            sweep_interval_seconds=read.value(table.PRIVACY_SWEEP_SECONDS),
        ),
        forecast=ForecastConfig(
            timezone=read.value(table.FORECAST_TIMEZONE),
            weeks=read.value(table.FORECAST_WEEKS),
            adjust_prior_calls=read.value(table.FORECAST_ADJUST_PRIOR_CALLS),
            max_adjust=read.value(table.FORECAST_MAX_ADJUST),
            backtest_days=read.value(table.FORECAST_BACKTEST_DAYS),
            break_minutes=read.value(table.FORECAST_BREAK_MINUTES),
        ),
    )
