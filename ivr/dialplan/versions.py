"""Every version of every plan that went into service, kept for rollback.

``<directory>/<plan>/<version>.yaml`` holds each version's exact text and
``<directory>/<plan>/history.json`` the order they went into service (the
last entry is the version in service).
"""

from __future__ import annotations

import json
from pathlib import Path

from ivr.dialplan.model import Plan


class VersionArchive:
    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def _history_file(self, name: str) -> Path:
        return self._directory / name / "history.json"

    def history(self, name: str) -> list[str]:
        try:
            return [str(v) for v in json.loads(self._history_file(name).read_text())]
        except (OSError, ValueError):
            return []

    def record(self, plan: Plan) -> None:
        """Keep ``plan``'s text and append it to the history (unless it is the last entry)."""
        folder = self._directory / plan.name
        folder.mkdir(parents=True, exist_ok=True)
        copy = folder / f"{plan.version}.yaml"
        if not copy.exists():
            copy.write_bytes(plan.source)
        history = self.history(plan.name)
        if not history or history[-1] != plan.version:
            self._write_history(plan.name, [*history, plan.version])

    def drop_last(self, name: str) -> str | None:
        """Forget the version in service; return the one before it (None when there is none)."""
        history = self.history(name)
        if len(history) < 2:
            return None
        self._write_history(name, history[:-1])
        return history[-2]

    def text(self, name: str, version: str) -> bytes:
        return (self._directory / name / f"{version}.yaml").read_bytes()

    def _write_history(self, name: str, history: list[str]) -> None:
        temporary = self._history_file(name).with_suffix(".tmp")
        temporary.write_text(json.dumps(history))
        temporary.replace(self._history_file(name))
