"""The employee directory: who is calling, from a CSV the organisation exports.

Columns (header row required): ``number, employee_id, name, department, vip``,
and optionally ``email`` (the help desk's requestor).
A number may list several phones separated by ``;``. The file is read again
when it changes, so a nightly export needs no restart.
"""

from __future__ import annotations

import csv
import logging
import re
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

COLUMNS = ("number", "employee_id", "name", "department", "vip")
_NOT_DIGITS = re.compile(r"[^\d+]")


def normalise_number(number: str) -> str:
    """Digits only, keeping a leading +: ``+86 10-1234 5678`` -> ``+861012345678``."""
    cleaned = _NOT_DIGITS.sub("", number)
    return cleaned[0] + cleaned[1:].replace("+", "") if cleaned else ""


@dataclass(frozen=True)
class Employee:
    employee_id: str
    name: str
    department: str
    vip: bool
    email: str = ""

    def as_variables(self) -> dict[str, str]:
        variables = {
            "employee_id": self.employee_id,
            "employee_name": self.name,
            "department": self.department,
            "vip": "yes" if self.vip else "no",
        }
        if self.email:
            variables["employee_email"] = self.email
        return variables


class EmployeeDirectory:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._stamp: tuple[int, int] | None = None
        self._by_number: dict[str, Employee] = {}
        self._by_id: dict[str, Employee] = {}

    def _refresh(self) -> None:
        try:
            stat = self._path.stat()
        except OSError:
            if self._stamp is not None:
                log.warning("employee directory %s is gone; callers stay unidentified", self._path)
            self._stamp, self._by_number, self._by_id = None, {}, {}
            return
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            self._by_number, self._by_id = self._read()
        except (OSError, UnicodeDecodeError, csv.Error, ValueError) as exc:
            # Keep what was loaded before: a half-written export must not blank it.
            log.error("employee directory %s not reloaded: %s", self._path, exc)
            return
        log.info("employee directory %s: %d employees", self._path, len(self._by_id))

    def _read(self) -> tuple[dict[str, Employee], dict[str, Employee]]:
        by_number: dict[str, Employee] = {}
        by_id: dict[str, Employee] = {}
        with self._path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = set(COLUMNS) - set(reader.fieldnames or ())
            if missing:
                raise ValueError(f"missing columns: {', '.join(sorted(missing))}")
            for line, row in enumerate(reader, start=2):
                employee_id = (row["employee_id"] or "").strip()
                if not employee_id:
                    log.warning("%s:%d: no employee_id; row skipped", self._path, line)
                    continue
                employee = Employee(
                    employee_id=employee_id,
                    name=(row["name"] or "").strip(),
                    department=(row["department"] or "").strip(),
                    vip=(row["vip"] or "").strip().lower() in ("1", "yes", "true", "y"),
                    email=(row.get("email") or "").strip(),
                )
                by_id[employee_id] = employee
                for number in (row["number"] or "").split(";"):
                    if normalise_number(number):
                        by_number[normalise_number(number)] = employee
        return by_number, by_id

    def by_number(self, number: str) -> Employee | None:
        self._refresh()
        return self._by_number.get(normalise_number(number))

    def by_employee_id(self, employee_id: str) -> Employee | None:
        self._refresh()
        return self._by_id.get(employee_id.strip())
