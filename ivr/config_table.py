"""Every scalar setting in one table: its key in ``ivr.yaml``, the environment
variable that overrides it, how its text is read, its default and one line of
documentation.

The loader (``ivr.config``) reads each setting through its row, the config
dataclasses take their defaults from it, and the README's configuration table
is generated from it (``ivr config reference``), so the three cannot drift.
Structured settings (``sip.accounts``, ``sip.admission``, ``sip.tls``, agents,
queues, dialling, callbacks with their value rule) are parsed by their packages' settings modules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ivr.config_setting import Setting as Setting
from ivr.config_setting import Variable as Variable
from ivr.config_values import (
    SIP_TRANSPORTS,
    HostPort,
    number_between,
    parse_bool,
    parse_days,
    parse_host_port,
    parse_log_level,
    parse_media_encryption,
    parse_path,
    parse_percent,
    parse_port_range,
    parse_positive_int,
    parse_seconds,
    parse_sip_listen,
    parse_text,
    parse_timezone,
    parse_transports,
    parse_url,
    whole_number_between,
)
from ivr.telephony.limits import MAX_CALLS_PER_WORKER

CONFIG_ENV = "IVR_CONFIG"  # the config file; the --config flag wins over it
API_TOKEN_ENV = "IVR_API_TOKEN"  # the token the CLI and `ivr call` send to the service's API

SIP_LISTEN = Setting(
    "sip.listen",
    "IVR_SIP_LISTEN",
    parse_sip_listen,
    HostPort("127.0.0.1", 5060),
    "the address the PBX reaches, UDP and TCP (no wildcard: it goes into every SDP)",
)
SIP_TRANSPORT_LIST: Setting[tuple[str, ...]] = Setting(
    "sip.transports", "IVR_SIP_TRANSPORTS", parse_transports, SIP_TRANSPORTS
)
MAX_CALLS = Setting(
    "sip.max_calls",
    "IVR_MAX_CALLS",
    parse_positive_int,
    250,
    f"at most {MAX_CALLS_PER_WORKER} per worker",
)
MAX_LOOP_LAG_MS = Setting(
    "sip.max_loop_lag_ms",
    "IVR_MAX_LOOP_LAG_MS",
    parse_positive_int,
    250,
    "a worker whose event loop runs later than this refuses new calls (full)",
)
MAX_NEW_CALLS_PER_SECOND = Setting(
    "sip.max_new_calls_per_second",
    "IVR_MAX_NEW_CALLS_PER_SECOND",
    parse_positive_int,
    40,
    "new calls one worker takes a second; past it, refused (the edge tries another worker)",
)
RTP_TIMEOUT_SECONDS = Setting(
    "sip.rtp_timeout_seconds",
    None,
    parse_positive_int,
    30,
    "a call whose far end sends no media this long is ended",
)
MEDIA_ENCRYPTION = Setting(
    "sip.media_encryption",
    "IVR_MEDIA_ENCRYPTION",
    parse_media_encryption,
    "none",
    "`none`, `srtp` (when the caller offers it), `srtp_mandatory` or `dtls_srtp`",
)
RTP_PORTS = Setting(
    "sip.rtp_ports",
    "IVR_RTP_PORTS",
    parse_port_range,
    (10000, 19999),
    "media ports of every worker on the host: open them to the PBX",
)
HTTP_LISTEN = Setting(
    "http.listen", "IVR_HTTP_LISTEN", parse_host_port, HostPort("127.0.0.1", 8080)
)
DATABASE_URL = Setting(
    "storage.database_url",
    "DATABASE_URL",
    parse_text,
    "sqlite:///var/tickets.db",
    "`sqlite:///PATH` or `postgresql://USER@HOST:PORT/DB` (migrated on start)",
)
RECORDINGS_DIR = Setting(
    "storage.recordings_dir", "IVR_RECORDINGS_DIR", parse_path, Path("recordings")
)
CACHE_DIR = Setting(
    "storage.cache_dir", "IVR_CACHE_DIR", parse_path, Path("var/cache"), "converted prompts"
)
SPOOL_DIR = Setting(
    "storage.spool_dir",
    "IVR_TICKET_SPOOL_DIR",
    parse_path,
    Path("var/ticket-spool"),
    "ticket writes kept while the database is away",
)
WEBHOOK_URL: Setting[str | None] = Setting(
    "tickets.webhook_url",
    "IVR_TICKETS_WEBHOOK_URL",
    parse_url,
    None,
    "JSON POST on ticket created, closed (call ended), resolved",
)
WEBHOOK_TIMEOUT_SECONDS = Setting(
    "tickets.webhook_timeout_seconds", "IVR_TICKETS_WEBHOOK_TIMEOUT", parse_seconds, 5.0
)
WEBHOOK_MAX_BACKOFF_SECONDS = Setting(
    "tickets.webhook_max_backoff_seconds",
    "IVR_TICKETS_WEBHOOK_MAX_BACKOFF",
    parse_seconds,
    60.0,
    "retry interval cap while the receiver is down",
)
REDIS_URL: Setting[str | None] = Setting(
    "redis.url",
    "REDIS_URL",
    parse_text,
    None,
    "`redis://HOST:6379/0` or `redis+sentinel://H1:26379,H2:26379/SERVICE/0`; "
    "unset: an embedded Valkey in `redis.embedded_data_dir`",
)
REDIS_KEY_PREFIX = Setting("redis.key_prefix", "IVR_REDIS_KEY_PREFIX", parse_text, "ivr:")
REDIS_DATA_DIR = Setting(
    "redis.embedded_data_dir",
    "IVR_REDIS_DATA_DIR",
    parse_path,
    Path("var/redis"),
    "the embedded server's data (append-only file)",
)
DIALPLAN_DIR = Setting("dialplans.directory", "IVR_DIALPLAN_DIR", parse_path, Path("dialplans"))
DEFAULT_PLAN = Setting("dialplans.default_plan", "IVR_DEFAULT_PLAN", parse_text, "default")
DIALPLAN_WATCH = Setting(
    "dialplans.watch", "IVR_DIALPLAN_WATCH", parse_bool, True, "reload a plan when its file changes"
)
CANARY_PERCENT = Setting(
    "dialplans.canary_percent",
    "IVR_DIALPLAN_CANARY_PERCENT",
    parse_percent,
    0,
    "share of calls a new plan version takes before promotion",
)
VERSIONS_DIR = Setting(
    "dialplans.versions_dir",
    "IVR_DIALPLAN_VERSIONS_DIR",
    parse_path,
    Path("var/dialplan-versions"),
    "every version that went into service, for rollback",
)
DIRECTORY_CSV = Setting(
    "directory_csv",
    "IVR_DIRECTORY_CSV",
    parse_path,
    Path("dialplans/directory.csv"),
    "the employee directory",
)
ASR_MODELS_DIR = Setting(
    "speech.models_dir",
    "IVR_ASR_MODELS_DIR",
    parse_path,
    Path("asr_models"),
    "Vosk models, one per folder",
)
ASR_POOL_SIZE = Setting(
    "speech.pool_size",
    "IVR_ASR_POOL_SIZE",
    parse_positive_int,
    2,
    "recognition threads shared by all calls",
)
WORKER_ID = Setting("worker_id", "IVR_WORKER_ID", parse_text, "", shown_default="`<host>-<pid>`")
SHUTDOWN_GRACE_SECONDS = Setting(
    "shutdown_grace_seconds",
    "IVR_SHUTDOWN_GRACE",
    parse_seconds,
    30.0,
    "live calls run on this long after SIGTERM",
)
LOG_LEVEL = Setting("log_level", "IVR_LOG_LEVEL", parse_log_level, "INFO")
WORKERS_COUNT = Setting(
    "workers.count",
    "IVR_WORKERS",
    parse_positive_int,
    1,
    "call workers on this node (`ivr serve --workers N` wins); more than 1 puts Kamailio in front",
)
KAMAILIO: Setting[str | None] = Setting(
    "workers.kamailio",
    "IVR_KAMAILIO",
    parse_text,
    None,
    "the Kamailio binary",
    shown_default="on `PATH`, else `/usr/sbin/kamailio`",
)
WORKERS_CORES: Setting[int | None] = Setting(
    "workers.cores",
    "IVR_WORKERS_CORES",
    parse_positive_int,
    None,
    "CPU cores the node's workers share; workers beyond it share `sip.max_new_calls_per_second`",
    shown_default="the CPUs this process may run on",
)
PROBE_INTERVAL_SECONDS = Setting(
    "workers.probe_interval_seconds",
    None,
    parse_positive_int,
    1,
    "Kamailio's OPTIONS to every worker; a silent one gets no new calls",
)
WORKERS_RUN_DIR = Setting(
    "workers.run_dir",
    "IVR_WORKERS_RUN_DIR",
    parse_path,
    Path("var/workers"),
    "the generated Kamailio config",
)
MASK_LOGS = Setting(
    "privacy.mask_logs",
    "IVR_MASK_LOGS",
    parse_bool,
    True,
    "caller numbers in log lines show only their last two digits",
)
MASK_DESK_NUMBERS = Setting(
    "privacy.mask_desk_numbers",
    "IVR_MASK_DESK_NUMBERS",
    parse_bool,
    True,
    "the agent desk shows caller numbers with only their last two digits",
)
RECORDINGS_RETENTION_DAYS = Setting(
    "privacy.recordings_retention_days",
    None,
    parse_days,
    90.0,
    "recordings and messages are deleted after this; 0 keeps them",
)
TRANSCRIPTS_RETENTION_DAYS = Setting(
    "privacy.transcripts_retention_days",
    None,
    parse_days,
    90.0,
    "what callers said, closed callback records; 0 keeps them",
)
PRIVACY_SWEEP_SECONDS = Setting(
    "privacy.sweep_interval_seconds",
    "IVR_PRIVACY_SWEEP_SECONDS",
    parse_seconds,
    3600.0,
    "how often each worker deletes what is past its retention",
)
FORECAST_TIMEZONE = Setting(
    "forecast.timezone",
    None,
    parse_timezone,
    "",
    'days and intervals are read in this zone ("the same weekday and interval")',
    "`callbacks.calling_hours.timezone`",
)
FORECAST_WEEKS = Setting(
    "forecast.weeks",
    None,
    whole_number_between(1, 52),
    4,
    "calls expected: the mean of the same weekday and interval over this many weeks",
)
FORECAST_ADJUST_PRIOR_CALLS = Setting(
    "forecast.adjust_prior_calls",
    None,
    number_between(0, 100_000),
    20.0,
    "today's scale is (calls + this) / (expected + this): a few early calls move it little",
)
FORECAST_MAX_ADJUST = Setting(
    "forecast.max_adjust",
    None,
    number_between(1, 100),
    2.0,
    "today's scale stays within 1/this and this",
)
FORECAST_BACKTEST_DAYS = Setting(
    "forecast.backtest_days",
    None,
    whole_number_between(0, 90),
    7,
    "past days forecast from their own past for the back-test error; 0: none",
)
FORECAST_BREAK_MINUTES = Setting(
    "forecast.break_minutes",
    None,
    number_between(1, 240),
    15.0,
    "how long a break the forecast must cover for it to be granted",
)

# In the order the reference lists them.
SETTINGS: tuple[Setting[Any], ...] = (
    SIP_LISTEN,
    SIP_TRANSPORT_LIST,
    MAX_CALLS,
    MAX_LOOP_LAG_MS,
    MAX_NEW_CALLS_PER_SECOND,
    RTP_TIMEOUT_SECONDS,
    MEDIA_ENCRYPTION,
    RTP_PORTS,
    HTTP_LISTEN,
    DATABASE_URL,
    WEBHOOK_URL,
    WEBHOOK_TIMEOUT_SECONDS,
    WEBHOOK_MAX_BACKOFF_SECONDS,
    RECORDINGS_DIR,
    CACHE_DIR,
    SPOOL_DIR,
    REDIS_URL,
    REDIS_KEY_PREFIX,
    REDIS_DATA_DIR,
    DIALPLAN_DIR,
    DEFAULT_PLAN,
    DIALPLAN_WATCH,
    CANARY_PERCENT,
    VERSIONS_DIR,
    DIRECTORY_CSV,
    ASR_MODELS_DIR,
    ASR_POOL_SIZE,
    WORKER_ID,
    SHUTDOWN_GRACE_SECONDS,
    LOG_LEVEL,
    WORKERS_COUNT,
    KAMAILIO,
    WORKERS_CORES,
    PROBE_INTERVAL_SECONDS,
    WORKERS_RUN_DIR,
    MASK_LOGS,
    MASK_DESK_NUMBERS,
    RECORDINGS_RETENTION_DAYS,
    TRANSCRIPTS_RETENTION_DAYS,
    PRIVACY_SWEEP_SECONDS,
    FORECAST_TIMEZONE,
    FORECAST_WEEKS,
    FORECAST_ADJUST_PRIOR_CALLS,
    FORECAST_MAX_ADJUST,
    FORECAST_BACKTEST_DAYS,
    FORECAST_BREAK_MINUTES,
)

# Read where they are used; listed here so the reference names them too.
VARIABLES = (
    Variable(CONFIG_ENV, "the config file (the `--config` flag wins)", "`./ivr.yaml`"),
    Variable(
        "IVR_API_TOKENS",
        "`api.tokens`: `name:role:sha256[:agent_id],...`, replacing the file's (see HTTP API)",
        "none: only `/api/health`, `/metrics` and the dashboard page answer",
    ),
)

# Keys of ivr.yaml that are not scalar settings: parsed by their packages.
STRUCTURED_KEYS: dict[str, set[str] | None] = {
    "sip": {"accounts", "admission", "tls"},
    "api": {"tokens"},
    "agents": None,
    "queues": None,
    "dialling": None,
    "screen_pop_url": None,
    "callbacks": None,
    "agent_phone": None,
    "helpdesk": None,
}


def known_keys() -> dict[str, set[str] | None]:
    """Top-level keys of ivr.yaml; for a section, the keys it may hold (None: a value
    or a structure its package checks)."""
    known: dict[str, set[str] | None] = {}
    for name, sub in STRUCTURED_KEYS.items():
        known[name] = None if sub is None else set(sub)
    for setting in SETTINGS:
        section, _, leaf = setting.key.rpartition(".")
        if not section:
            known.setdefault(leaf, None)
            continue
        keys = known.setdefault(section, set())
        if keys is None:
            raise TypeError(f"{section} is declared both a value and a section")
        keys.add(leaf)
    return known
