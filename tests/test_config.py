"""Config: file, environment overrides, and errors that name key, value and source."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.config import HostPort, load_config
from ivr.exceptions import ConfigError

REPO = Path(__file__).resolve().parents[1]


def test_committed_file_gives_the_documented_defaults() -> None:
    config = load_config(REPO / "ivr.yaml", env={})
    assert config.sip.listen == HostPort("127.0.0.1", 5060)
    assert config.sip.transports == ("udp", "tcp")
    assert config.http.listen == HostPort("127.0.0.1", 8080)
    assert config.storage.database_url == f"sqlite:///{REPO / 'var' / 'tickets.db'}"
    assert config.redis.url is None
    assert config.dialplans.directory == REPO / "dialplans"


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    config = load_config(
        REPO / "ivr.yaml",
        env={
            "IVR_SIP_LISTEN": "10.0.0.5:5070",
            "IVR_HTTP_LISTEN": "127.0.0.1:9000",
            "REDIS_URL": "redis://cache:6379/1",
            "DATABASE_URL": "sqlite:////srv/tickets.db",
            "IVR_SIP_TRANSPORTS": "udp",
        },
    )
    assert config.sip.listen == HostPort("10.0.0.5", 5070)
    assert config.http.listen.port == 9000
    assert config.redis.url == "redis://cache:6379/1"
    assert config.storage.database_url == "sqlite:////srv/tickets.db"
    assert config.sip.transports == ("udp",)


def test_accounts_are_read_and_the_password_stays_out_of_repr(tmp_path: Path) -> None:
    path = tmp_path / "ivr.yaml"
    path.write_text(
        "sip:\n  accounts:\n    - {user: '7000', domain: pbx.example.com, password: s3cret}\n"
    )
    [account] = load_config(path, env={}).sip.accounts
    assert (account.user, account.domain, account.password) == ("7000", "pbx.example.com", "s3cret")
    assert "s3cret" not in repr(account)


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("sip:\n  listen: 127.0.0.1:x\n", {}, "sip.listen has value '127.0.0.1:x': port must be"),
        ("sip:\n  lisen: 127.0.0.1:5060\n", {}, "unknown setting 'sip.lisen'"),
        ("sip:\n  transports: [udp, sctp]\n", {}, "unknown transport 'sctp'"),
        ("sip:\n  max_calls: 400\n", {}, "at most 255 calls"),
        ("sip:\n  listen: 0.0.0.0:5060\n", {}, "a wildcard address cannot work"),
        ("http: 8080\n", {}, "http has value 8080: expected a mapping"),
        ("", {"IVR_HTTP_LISTEN": "8080"}, "environment variable IVR_HTTP_LISTEN has value '8080'"),
        ("sip:\n  accounts:\n    - {user: '7000'}\n", {}, "sip.accounts[0]: 'domain' is required"),
        ("sip: [\n", {}, "not valid YAML"),
    ],
)
def test_bad_settings_name_the_key_the_value_and_the_source(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    path = tmp_path / "ivr.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=env)
    assert message in str(caught.value)
    if not env:
        assert str(path) in str(caught.value)
