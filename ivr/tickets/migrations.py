"""Schema migrations for both ticket databases, one version at a time.

Entry N moves the schema from version N-1 to N on SQLite and on PostgreSQL
alike, so both databases always have the same tables and columns. Never edit
a released entry; add a new one. Statements are separated by ``;``.
The dialects differ in types only: SQLite's REAL is a double, PostgreSQL's is
not (Unix seconds need a double), and the key columns are generated differently.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    sqlite: str
    postgres: str


def _same(script: str) -> Migration:
    return Migration(script, script)


_TICKETS = """
    CREATE TABLE tickets (
        id {key},
        call_id TEXT NOT NULL,
        worker_id TEXT NOT NULL,
        caller_number TEXT NOT NULL,
        called_number TEXT NOT NULL,
        plan_name TEXT NOT NULL,
        plan_version TEXT NOT NULL,
        started_at {real} NOT NULL,
        answered_at {real},
        ended_at {real},
        disposition TEXT NOT NULL,
        end_reason TEXT,
        nodes TEXT NOT NULL DEFAULT '[]',
        keys TEXT NOT NULL DEFAULT '',
        recording_path TEXT
    );
    CREATE INDEX tickets_by_caller ON tickets (caller_number, started_at);
    CREATE INDEX tickets_by_start ON tickets (started_at);
    CREATE INDEX tickets_by_call_id ON tickets (call_id);
    CREATE TABLE ticket_events (
        ticket_id {ref} NOT NULL REFERENCES tickets (id),
        seq INTEGER NOT NULL,
        at {real} NOT NULL,
        kind TEXT NOT NULL,
        detail TEXT NOT NULL,
        PRIMARY KEY (ticket_id, seq)
    )
"""

_HANDLING = """
    ALTER TABLE tickets ADD COLUMN intent TEXT;
    ALTER TABLE tickets ADD COLUMN queue TEXT;
    ALTER TABLE tickets ADD COLUMN wait_seconds {real};
    ALTER TABLE tickets ADD COLUMN agent_id TEXT;
    ALTER TABLE tickets ADD COLUMN ring_attempts INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tickets ADD COLUMN talk_seconds {real};
    ALTER TABLE tickets ADD COLUMN transfer_method TEXT
"""

# Work on the ticket after the call, search columns kept beside their JSON
# (employee_id, transcript: filtering inside JSON text differs per dialect and
# cannot use an index), and the webhook outbox. Events have no index by kind on
# purpose: counting them over a time range must start from tickets_by_start.
_WORK = """
    ALTER TABLE tickets ADD COLUMN work_status TEXT NOT NULL DEFAULT 'open';
    ALTER TABLE tickets ADD COLUMN assignee TEXT;
    ALTER TABLE tickets ADD COLUMN employee_id TEXT;
    ALTER TABLE tickets ADD COLUMN transcript TEXT NOT NULL DEFAULT '';
    {backfill}
    CREATE INDEX tickets_by_employee ON tickets (employee_id, started_at);
    CREATE INDEX tickets_by_agent ON tickets (agent_id, started_at);
    CREATE INDEX tickets_by_queue ON tickets (queue, started_at);
    CREATE INDEX tickets_by_intent ON tickets (intent, started_at);
    CREATE INDEX tickets_by_work ON tickets (work_status, started_at);
    CREATE TABLE ticket_notes (
        id {key},
        ticket_id {ref} NOT NULL REFERENCES tickets (id),
        at {real} NOT NULL,
        author TEXT,
        text TEXT NOT NULL
    );
    CREATE INDEX notes_by_ticket ON ticket_notes (ticket_id, id);
    CREATE TABLE webhook_outbox (
        id {key},
        ticket_id {ref} NOT NULL,
        event TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at {real} NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        dead_at {real}
    )
"""

_SQLITE_BACKFILL = """
    UPDATE tickets SET employee_id = json_extract(variables, '$.employee_id'),
        transcript = COALESCE((SELECT group_concat(json_extract(detail, '$.text'), char(10))
                               FROM ticket_events e
                               WHERE e.ticket_id = tickets.id AND e.kind = 'utterance'), '');
"""

_POSTGRES_BACKFILL = """
    UPDATE tickets SET employee_id = variables::jsonb ->> 'employee_id',
        transcript = COALESCE((SELECT string_agg(detail::jsonb ->> 'text', chr(10) ORDER BY seq)
                               FROM ticket_events e
                               WHERE e.ticket_id = tickets.id AND e.kind = 'utterance'), '');
"""

# What stats count from events, kept on the ticket when the call's events are
# written: counting over a time range then reads tickets_by_start only (joining
# events by kind made PostgreSQL scan every event). One unrecognised utterance
# per line.
_EVENT_FIGURES = """
    ALTER TABLE tickets ADD COLUMN unrecognised TEXT NOT NULL DEFAULT '';
    ALTER TABLE tickets ADD COLUMN unrecognised_count INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tickets ADD COLUMN callbacks_requested INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tickets ADD COLUMN callbacks_connected INTEGER NOT NULL DEFAULT 0;
    UPDATE tickets SET
        unrecognised = COALESCE((SELECT {concat}(replace({text}, {newline}, ' '), {newline}
                                 {order}) FROM ticket_events e WHERE e.ticket_id = tickets.id
                                 AND e.kind = 'utterance' AND {intent} IS NULL), ''),
        unrecognised_count = (SELECT COUNT(*) FROM ticket_events e WHERE e.ticket_id = tickets.id
                              AND e.kind = 'utterance' AND {intent} IS NULL),
        callbacks_requested = (SELECT COUNT(*) FROM ticket_events e
                               WHERE e.ticket_id = tickets.id AND e.kind = 'callback_requested'),
        callbacks_connected = (SELECT COUNT(*) FROM ticket_events e
                               WHERE e.ticket_id = tickets.id AND e.kind = 'callback_connected')
"""

# Who changed what through the API (see ivr.tickets.audit); rows are only added.
_AUDIT = """
    CREATE TABLE audit_log (
        id {key},
        at {real} NOT NULL,
        actor TEXT NOT NULL,
        role TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        outcome TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '{{}}'
    );
    CREATE INDEX audit_by_at ON audit_log (at);
    CREATE INDEX audit_by_actor ON audit_log (actor, at)
"""

# Callback attempts connected after the call got their own counter: closing the
# booking ticket used to overwrite the one they shared with the call's own events
# (issue 16). Both are counted again from the events, which repairs those rows;
# 1000000 is ``sql.APPENDED_SEQ``, where appended events start.
_APPENDED_FIGURES = """
    ALTER TABLE tickets ADD COLUMN appended_callbacks_connected INTEGER NOT NULL DEFAULT 0;
    UPDATE tickets SET
        callbacks_connected = (SELECT COUNT(*) FROM ticket_events e
                               WHERE e.ticket_id = tickets.id AND e.kind = 'callback_connected'
                               AND e.seq < 1000000),
        appended_callbacks_connected = (SELECT COUNT(*) FROM ticket_events e
                                        WHERE e.ticket_id = tickets.id
                                        AND e.kind = 'callback_connected'
                                        AND e.seq >= 1000000)
"""

# A help desk's own ticket system (ivr.tickets.connectors): its id and link on our
# ticket, and the outbox shared by consumers (the webhook, the help desk), each
# draining its own messages.
_HELPDESK = """
    ALTER TABLE tickets ADD COLUMN external_id TEXT;
    ALTER TABLE tickets ADD COLUMN external_url TEXT;
    ALTER TABLE webhook_outbox ADD COLUMN consumer TEXT NOT NULL DEFAULT 'webhook';
    CREATE INDEX outbox_by_consumer ON webhook_outbox (consumer, id)
"""

_SQLITE = {"key": "INTEGER PRIMARY KEY AUTOINCREMENT", "ref": "INTEGER", "real": "REAL"}
_POSTGRES = {
    "key": "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    "ref": "BIGINT",
    "real": "DOUBLE PRECISION",
}


def _typed(script: str, **extra: tuple[str, str]) -> Migration:
    return Migration(
        script.format(**_SQLITE, **{k: v[0] for k, v in extra.items()}),
        script.format(**_POSTGRES, **{k: v[1] for k, v in extra.items()}),
    )


MIGRATIONS: list[Migration] = [
    _typed(_TICKETS),
    _same(
        """
        ALTER TABLE tickets ADD COLUMN variables TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE tickets ADD COLUMN satisfaction INTEGER
        """
    ),
    _typed(_HANDLING),
    _typed(_WORK, backfill=(_SQLITE_BACKFILL, _POSTGRES_BACKFILL)),
    _typed(
        _EVENT_FIGURES,
        concat=("group_concat", "string_agg"),
        text=("json_extract(e.detail, '$.text')", "(e.detail::jsonb ->> 'text')"),
        intent=("json_extract(e.detail, '$.intent')", "(e.detail::jsonb ->> 'intent')"),
        newline=("char(10)", "chr(10)"),
        order=("", "ORDER BY e.seq DESC"),
    ),
    _typed(_AUDIT),
    _same(_APPENDED_FIGURES),
    _same(_HELPDESK),
]


def statements(script: str) -> list[str]:
    """The statements of one migration script (no statement contains ``;`` itself)."""
    return [s.strip() for s in script.split(";") if s.strip()]
