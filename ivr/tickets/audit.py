"""The audit log: who changed what through the API, when, and whether it was allowed.

One row per state-changing API call, refused ones included. Rows are only
ever added; both ticket stores run the statements below (``?`` placeholders).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

OK = "ok"  # the change was made
REFUSED = "refused"  # no token, a bad token, or a role too weak: nothing was done
FAILED = "failed"  # allowed, but the request was bad or the change could not be made
OUTCOMES = (OK, REFUSED, FAILED)

MAX_DETAIL_CHARS = 2000  # a huge body is summarised, never stored whole


@dataclass(frozen=True)
class AuditEntry:
    at: float  # Unix seconds
    actor: str  # the token's name; "-" when no valid token was sent
    role: str  # the token's role; "-" when no valid token was sent
    action: str  # e.g. "agent.state", "callback.cancel", "dialplan.reload"
    target: str  # what was acted on (an agent id, a ticket id); "" when nothing in particular
    outcome: str  # one of OUTCOMES
    detail: dict[str, Any] = field(default_factory=dict)
    id: int | None = None  # given by the store


@dataclass(frozen=True)
class AuditQuery:
    since: float | None = None
    until: float | None = None
    actor: str | None = None
    action: str | None = None
    outcome: str | None = None
    limit: int = 100
    offset: int = 0


INSERT_AUDIT = (
    "INSERT INTO audit_log (at, actor, role, action, target, outcome, detail) "
    "VALUES (?,?,?,?,?,?,?)"
)


def insert_params(entry: AuditEntry) -> tuple[Any, ...]:
    detail = json.dumps(entry.detail, sort_keys=True, default=str)
    if len(detail) > MAX_DETAIL_CHARS:
        detail = json.dumps({"summary": detail[:MAX_DETAIL_CHARS], "truncated": True})
    return (entry.at, entry.actor, entry.role, entry.action, entry.target, entry.outcome, detail)


def select_sql(query: AuditQuery) -> tuple[str, list[Any]]:
    """Newest first."""
    clauses: list[str] = []
    params: list[Any] = []
    if query.since is not None:
        clauses.append("at >= ?")
        params.append(query.since)
    if query.until is not None:
        clauses.append("at < ?")
        params.append(query.until)
    for column in ("actor", "action", "outcome"):
        value = getattr(query, column)
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    statement = (
        "SELECT id, at, actor, role, action, target, outcome, detail FROM audit_log"
        f"{where} ORDER BY at DESC, id DESC LIMIT ? OFFSET ?"
    )
    return statement, [*params, query.limit, query.offset]


def entries_from_rows(rows: list[tuple[Any, ...]]) -> list[AuditEntry]:
    return [
        AuditEntry(
            id=int(row[0]),
            at=float(row[1]),
            actor=row[2],
            role=row[3],
            action=row[4],
            target=row[5],
            outcome=row[6],
            detail=json.loads(row[7]),
        )
        for row in rows
    ]
