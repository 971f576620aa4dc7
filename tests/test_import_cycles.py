"""Each module of ``ivr`` and ``callback`` imports alone: no import cycle hides behind
an import order that happens to work."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# One interpreter for all modules (a few seconds, not one start per module); between
# modules it forgets every ivr and callback module, so each is imported as if first.
_IMPORT_EACH_ALONE = """
import importlib, pkgutil, sys, traceback
import callback, ivr

names = sorted(
    info.name
    for package in (ivr, callback)
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + ".")
    if not info.name.endswith(".__main__")  # runs the CLI
)
failed = []
for name in names:
    for loaded in [m for m in sys.modules if m.split(".")[0] in ("ivr", "callback")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except ImportError:
        failed.append(f"{name}:\\n{traceback.format_exc(limit=-3)}")
print(f"imported {len(names)} modules")
if failed:
    sys.exit("\\n".join(failed))
"""


def test_every_module_imports_alone_in_a_fresh_interpreter() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_EACH_ALONE],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "imported" in result.stdout


# The package map of README's Development section: what each package may import of
# ivr and callback besides the shared leaves (settings values and table, errors, tasks).
SHARED_LEAVES = {"ivr", "ivr.config_table", "ivr.config_values", "ivr.exceptions", "ivr.tasks"}
MAY_IMPORT = {
    "ivr.telephony": {"ivr.media", "ivr.edge"},
    "ivr.media": {"ivr.telephony", "ivr.dialplan"},
    "ivr.speech": {"ivr.media", "ivr.telephony", "ivr.dialplan", "ivr.tickets"},
    "ivr.dialplan": {
        "ivr.speech",
        "ivr.media",
        "ivr.telephony",
        "ivr.tickets",
        "ivr.directory",
        "ivr.config",
        "ivr.plan_targets",
    },
    "ivr.agents": {
        "callback",
        "ivr.dialplan",
        "ivr.media",
        "ivr.state",
        "ivr.telephony",
        "ivr.tickets",
    },
    "ivr.tickets": set(),
    "ivr.forecast": {"ivr.agents", "ivr.tickets"},
    "ivr.state": set(),
    "ivr.privacy": {"callback", "ivr.media", "ivr.state", "ivr.tickets"},
    "ivr.api": {
        "callback",
        "ivr.agents",
        "ivr.dialplan",
        "ivr.forecast",
        "ivr.privacy",
        "ivr.speech",
        "ivr.state",
        "ivr.telephony",
        "ivr.tickets",
    },
    "ivr.edge": {"ivr.config", "ivr.telephony"},
    "ivr.workers": {"ivr.config", "ivr.edge", "ivr.media", "ivr.state", "ivr.tickets"},
    "ivr.phone": {
        "ivr.config",
        "ivr.dialplan",
        "ivr.media",
        "ivr.state",
        "ivr.telephony",
        "ivr.tickets",
    },
    "callback": set(),
}


def _package_imports(package: str) -> dict[str, set[str]]:
    """{imported package: files importing it} over every module of ``package``."""
    found: dict[str, set[str]] = {}
    for path in (REPO / package.replace(".", "/")).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [node.module]
                if isinstance(node, ast.ImportFrom) and node.module
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            for name in names:
                parts = name.split(".")
                if parts[0] not in ("ivr", "callback"):
                    continue
                target = "callback" if parts[0] == "callback" else ".".join(parts[:2])
                if target != package:
                    found.setdefault(target, set()).add(str(path.relative_to(REPO)))
    return found


def test_each_package_imports_only_what_the_package_map_allows() -> None:
    breaches = [
        f"{package} imports {target} in {sorted(files)}"
        for package, allowed in MAY_IMPORT.items()
        for target, files in _package_imports(package).items()
        if target not in allowed | SHARED_LEAVES
    ]
    assert not breaches, "\n".join(breaches)
