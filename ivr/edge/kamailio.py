"""The Kamailio program: where it is, where its modules are, how it is checked and run."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ivr.exceptions import KamailioError

# Where distributions put the modules when the binary does not say (multiarch
# Debian/Ubuntu first, then the RPM and source-build layouts).
_MODULE_DIR_PATTERNS = (
    "/usr/lib/*/kamailio/modules",
    "/usr/lib64/kamailio/modules",
    "/usr/lib/kamailio/modules",
    "/usr/local/lib*/kamailio/modules",
)
_MODULES_LINE = "Default paths to modules:"


def find_kamailio(configured: str | None = None) -> Path:
    """The kamailio binary: ``configured``, else on PATH, else /usr/sbin/kamailio.

    Raises:
        KamailioError: none of these exists.
    """
    candidate = configured or shutil.which("kamailio") or "/usr/sbin/kamailio"
    path = Path(candidate)
    if not path.is_file():
        raise KamailioError(
            f"workers.kamailio has value {candidate!r}: no such program; several workers "
            "need Kamailio in front (Debian package 'kamailio')"
        )
    return path


def _has_modules(directory: Path) -> bool:
    return (directory / "tm.so").is_file()


def modules_dir(binary: Path) -> Path:
    """The directory of ``binary``'s modules (``tm.so`` and the rest).

    Asked of the binary itself (``kamailio -I`` prints the path it was built
    with); when that names no such directory, the usual install locations on
    any architecture are searched.

    Raises:
        KamailioError: no module directory was found.
    """
    try:
        info = subprocess.run(
            [str(binary), "-I"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        info = ""
    for line in info.splitlines():
        _, found, paths = line.partition(_MODULES_LINE)
        if found:
            for text in paths.strip().split(":"):
                if text and _has_modules(Path(text)):
                    return Path(text)
    for pattern in _MODULE_DIR_PATTERNS:
        for directory in sorted(Path("/").glob(pattern.lstrip("/"))):
            if _has_modules(directory):
                return directory
    raise KamailioError(
        f"{binary}: cannot find Kamailio's modules (no tm.so in the path `{binary} -I` "
        f"names nor in {', '.join(_MODULE_DIR_PATTERNS)})"
    )


def check_config(binary: Path, config: Path) -> None:
    """``kamailio -c`` on ``config``.

    Raises:
        KamailioError: Kamailio refused the config (the end of its message included).
    """
    check = subprocess.run(
        [str(binary), "-c", "-f", str(config)], capture_output=True, text=True, check=False
    )
    if check.returncode != 0:
        raise KamailioError(f"{config}: kamailio refused the config: {check.stderr[-2000:]}")


def kamailio_command(binary: Path, config: Path, run_dir: Path) -> list[str]:
    """Kamailio in the foreground, logging to standard error, its files in ``run_dir``."""
    return [
        str(binary),
        "-DD",
        "-E",
        "-f",
        str(config),
        "-Y",
        str(run_dir),
        "-P",
        str(run_dir / "kamailio.pid"),
    ]
