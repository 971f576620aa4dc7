"""Each module of ``ivr`` and ``callback`` imports alone: no import cycle hides behind
an import order that happens to work."""

from __future__ import annotations

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
