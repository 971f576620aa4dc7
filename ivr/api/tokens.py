"""API tokens and their roles: configured as SHA-256 hashes, never kept in clear.

``ivr.yaml``::

    api:
      tokens:
        - {name: wallboard, role: viewer, sha256: 9f86d0...}
        - {name: agent-1001, role: agent, sha256: 60303a..., agent_id: "1001"}

or, for containers, ``IVR_API_TOKENS=name:role:sha256[:agent_id],...`` (it
replaces the file's list). ``ivr api-token new --name N --role R`` makes a
token and prints the line to configure. Each role includes the ones before it:
viewer < agent < operator < supervisor < admin.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ivr.exceptions import ConfigError


class Role(enum.IntEnum):
    VIEWER = 1  # reads: the dashboard, tickets, stats
    AGENT = 2  # + their own agent state
    OPERATOR = 3  # + callbacks, dial plans, ticket updates
    SUPERVISOR = 4  # + listening in on live calls (listen, whisper, barge)
    ADMIN = 5  # + the audit log, erasure, anything not given a lower role

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: Any) -> Role:
        """Raises ValueError naming the roles."""
        try:
            return cls[str(text).upper()]
        except KeyError:
            names = ", ".join(r.label for r in cls)
            raise ValueError(f"role must be one of {names}") from None


_NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")
_HASH = re.compile(r"[0-9a-f]{64}")
_KNOWN = {"name", "role", "sha256", "agent_id"}


@dataclass(frozen=True)
class ApiToken:
    name: str  # who: shown in the audit log
    role: Role
    sha256: str  # hex digest of the token
    agent_id: str | None = None  # an agent token bound to one agent changes only that agent


@dataclass(frozen=True)
class ApiSettings:
    tokens: tuple[ApiToken, ...] = ()


@dataclass(frozen=True)
class Principal:
    """Who is calling, once a token is verified."""

    name: str
    role: Role
    agent_id: str | None = None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh random token (256 bits)."""
    return "ivr_" + secrets.token_urlsafe(32)


def config_line(token: ApiToken) -> str:
    """The YAML list item that configures ``token``."""
    bound = f", agent_id: {token.agent_id!r}" if token.agent_id else ""
    # Quoted: YAML would read an all-digit hash as a number.
    return f'- {{name: {token.name}, role: {token.role.label}, sha256: "{token.sha256}"{bound}}}'


def env_item(token: ApiToken) -> str:
    """The ``IVR_API_TOKENS`` item that configures ``token``."""
    bound = f":{token.agent_id}" if token.agent_id else ""
    return f"{token.name}:{token.role.label}:{token.sha256}{bound}"


def make_token(name: str, role: Role, sha256: str, agent_id: str | None = None) -> ApiToken:
    """Raises ValueError naming the bad part."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"name {name!r} must be 1-64 letters, digits or ._@-")
    digest = sha256.strip().lower()
    if not _HASH.fullmatch(digest):
        raise ValueError(f"sha256 of {name!r} must be 64 hex digits (ivr api-token new)")
    if agent_id is not None and (not agent_id or len(agent_id) > 128):
        raise ValueError(f"agent_id of {name!r} must be 1-128 characters")
    if agent_id is not None and role is not Role.AGENT:
        raise ValueError(f"agent_id of {name!r} only goes with role agent")
    return ApiToken(name, role, digest, agent_id)


def _from_mapping(item: Any) -> ApiToken:
    if not isinstance(item, Mapping):
        raise ValueError("expected a mapping {name, role, sha256[, agent_id]}")
    unknown = sorted(set(item) - _KNOWN)
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} (known: {', '.join(sorted(_KNOWN))})")
    for key in ("name", "role", "sha256"):
        if item.get(key) in (None, ""):
            raise ValueError(f"{key!r} is required")
    if not isinstance(item["sha256"], str):
        raise ValueError("sha256 must be quoted text (64 hex digits), or YAML reads it as a number")
    agent_id = item.get("agent_id")
    return make_token(
        str(item["name"]),
        Role.parse(item["role"]),
        str(item["sha256"]),
        None if agent_id is None else str(agent_id),
    )


def _from_env_item(text: str) -> ApiToken:
    parts = text.strip().split(":")
    if len(parts) not in (3, 4):
        raise ValueError(f"item {text.strip()!r} must be name:role:sha256[:agent_id]")
    return make_token(
        parts[0], Role.parse(parts[1]), parts[2], parts[3] if len(parts) == 4 else None
    )


def parse_api_settings(raw: Any, source: str, env: Mapping[str, str]) -> ApiSettings:
    """The ``api`` section of ``ivr.yaml``, with ``IVR_API_TOKENS`` replacing its tokens.

    Raises:
        ConfigError: names the setting, the bad value and where it came from.
    """
    from_env = env.get("IVR_API_TOKENS", "").strip()
    if from_env:
        try:
            tokens = [_from_env_item(item) for item in from_env.split(",") if item.strip()]
        except ValueError as exc:
            # The hashes are not secret, but the variable may hold a token pasted by mistake.
            raise ConfigError(f"environment variable IVR_API_TOKENS: {exc}") from None
        return ApiSettings(_unique(tokens, "environment variable IVR_API_TOKENS"))
    if raw is None:
        return ApiSettings()
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: api has value {raw!r}: expected a mapping")
    unknown = sorted(set(raw) - {"tokens"})
    if unknown:
        raise ConfigError(f"{source}: unknown setting 'api.{unknown[0]}'")
    items = raw.get("tokens") or []
    if not isinstance(items, list):
        raise ConfigError(f"{source}: api.tokens has value {items!r}: expected a list")
    tokens = []
    for index, item in enumerate(items):
        try:
            tokens.append(_from_mapping(item))
        except ValueError as exc:
            raise ConfigError(f"{source}: api.tokens[{index}] has value {item!r}: {exc}") from None
    return ApiSettings(_unique(tokens, f"{source}: api.tokens"))


def _unique(tokens: list[ApiToken], where: str) -> tuple[ApiToken, ...]:
    seen: set[str] = set()
    for token in tokens:
        if token.name in seen:
            raise ConfigError(f"{where}: token name {token.name!r} is given twice")
        seen.add(token.name)
    return tuple(tokens)


class TokenBook:
    """The configured tokens; :meth:`verify` turns a presented token into a :class:`Principal`."""

    def __init__(self, tokens: Iterable[ApiToken]) -> None:
        self._tokens = list(tokens)

    def add(self, token: ApiToken) -> None:
        self._tokens.append(token)

    def __len__(self) -> int:
        return len(self._tokens)

    def verify(self, presented: str) -> Principal | None:
        """The token's principal, or None. Every configured hash is compared, in
        constant time, so the answer's timing says nothing about which one is near."""
        digest = hash_token(presented).encode()
        found: ApiToken | None = None
        for token in self._tokens:
            if hmac.compare_digest(digest, token.sha256.encode()):
                found = token
        if found is None:
            return None
        return Principal(found.name, found.role, found.agent_id)

    def named(self, name: str) -> Principal | None:
        """The principal of the token called ``name`` while it is configured (a signed
        link names its signer's token, see :mod:`ivr.api.signed_links`)."""
        found = next((t for t in self._tokens if t.name == name), None)
        return None if found is None else Principal(found.name, found.role, found.agent_id)


LOOKUP_TOKEN_NAME = "dial-plan-lookups"


def service_token_book(settings: ApiSettings) -> tuple[TokenBook, str]:
    """The configured tokens plus a viewer token made for this process alone, which
    its dial plans' HTTP lookups send to its own API (``{service_api}/api/...``)."""
    lookup = new_token()
    book = TokenBook(settings.tokens)
    book.add(ApiToken(LOOKUP_TOKEN_NAME, Role.VIEWER, hash_token(lookup)))
    return book, lookup
