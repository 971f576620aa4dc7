"""``ivr call``: the README's first call, run as it is written there.

A folder like a checkout (the committed config and plans, the Makefile, the
installed ``ivr``) runs ``make run`` on free ports; ``.venv/bin/ivr call`` calls it
from the same folder and environment, as a second terminal would.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import urllib.request
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
import pytest
from support.audio import read_stereo, sound_span
from support.harness import REPO, free_port, wait_until
from support.service import api_token_item, new_admin_token

from ivr.config import HostPort
from ivr.phone.endpoint import target_uri
from ivr.phone.keys import Press, Wait, parse_keys

MENU = "For a password reset, press 1. For software installation, press 2."
PASSWORD_RESET = "To reset your password, open the self service portal"
GOODBYE = "Thank you for calling. Goodbye."


def first_call_commands() -> tuple[str, list[str]]:
    """(the service's command, the ``ivr call`` lines) of the README's "Your first call"."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("**Your first call.**", 1)[1].split("\n\n", 1)
    service = re.findall(r"`([^`]+)` in one terminal", section[0])
    block = re.search(r"```sh\n(.*?)```", section[1], re.DOTALL)
    assert service and block, "README.md lacks its 'Your first call' commands"
    calls = [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]
    return service[0], [line for line in calls if line]


@dataclass
class Checkout:
    path: Path
    env: dict[str, str]


@pytest.fixture
def checkout(tmp_path: Path) -> Checkout:
    """A folder laid out like a fresh checkout whose ``make`` set-up is done: the
    repository's venv is used through ``.venv/bin/ivr`` (a ``make`` here must never
    reinstall it from this folder, so the stamp is fresh)."""
    path = tmp_path / "checkout"
    path.mkdir()
    for name in ("Makefile", "pyproject.toml", "ivr.yaml"):
        shutil.copy2(REPO / name, path / name)
    shutil.copytree(REPO / "dialplans", path / "dialplans")
    (path / "asr_models").mkdir()
    (path / ".venv" / "bin").mkdir(parents=True)
    (path / ".venv" / "bin" / "ivr").symlink_to(REPO / ".venv" / "bin" / "ivr")
    (path / ".venv" / ".installed-stamp").touch()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("IVR_", "VIRTUAL_ENV")) and key not in ("REDIS_URL", "DATABASE_URL")
    }
    # Both terminals see the same environment: the phone calls the service it configures.
    env.update(
        IVR_SIP_LISTEN=f"127.0.0.1:{free_port()}", IVR_HTTP_LISTEN=f"127.0.0.1:{free_port()}"
    )
    return Checkout(path, env)


@contextlib.contextmanager
def make_run(checkout: Checkout, log_path: Path) -> Iterator[None]:
    """The README's service command (``make run``) running in the checkout."""
    command, _ = first_call_commands()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            shlex.split(command),
            cwd=checkout.path,
            env=checkout.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    health = f"http://{checkout.env['IVR_HTTP_LISTEN']}/api/health"

    def healthy() -> bool:
        assert process.poll() is None, log_path.read_text(errors="replace")[-3000:]
        try:
            with urllib.request.urlopen(health, timeout=2):
                return True
        except OSError:
            return False

    try:
        wait_until(healthy, 120, f"{command} to start the service")
        yield
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(60)


@pytest.fixture
def running(checkout: Checkout, tmp_path: Path) -> Iterator[Checkout]:
    with make_run(checkout, tmp_path / "make-run.log"):
        yield checkout


def call(checkout: Checkout, line: str, *extra: str, env: dict[str, str] | None = None) -> str:
    """Run an ``ivr call`` line in the checkout; its output (it must succeed)."""
    result = subprocess.run(
        [*shlex.split(line), *extra],
        cwd=checkout.path,
        env={**checkout.env, **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def heard_wav(checkout: Checkout, output: str) -> Path:
    written = re.search(r"what you hear is written to (\S+)", output)
    assert written, output
    return checkout.path / written.group(1)


def test_the_readme_first_call_hears_the_menu_presses_1_and_prints_the_ticket(
    running: Checkout,
) -> None:
    _, lines = first_call_commands()
    scripted = next(line for line in lines if "--keys" in line)

    output = call(running, scripted)

    assert (
        "prompts and ticket from the service's Redis (embedded" in output
    )  # make run configures no API token
    assert f"IVR [main_menu]: {MENU}" in output
    assert "you press 1" in output
    assert f"IVR [password_reset]: {PASSWORD_RESET}" in output
    assert f"IVR [goodbye]: {GOODBYE}" in output
    assert output.index("IVR [welcome]") < output.index("you press 1") < output.index(GOODBYE)
    assert "call ended: the far end hung up" in output
    assert re.search(r"^ticket \d+: completed \(plan finished\)$", output, re.MULTILINE), output
    assert "  path: welcome -> main_menu -> password_reset -> goodbye\n" in output
    assert "  keys: 1\n" in output
    assert "  intent: -\n" in output
    wav_path = heard_wav(running, output)
    assert wav_path.parent == running.path / "var" / "calls"
    with wave.open(str(wav_path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 8000)
        heard = wav.readframes(wav.getnframes())
    span, rms = sound_span(heard)
    assert span > 6.0 and rms > 1000, (span, rms)  # welcome, menu, answer and goodbye


def test_call_through_the_api_with_sip_info_keys_speaks_a_recording(
    checkout: Checkout, tmp_path: Path
) -> None:
    token = new_admin_token()
    checkout.env["IVR_API_TOKENS"] = api_token_item("phone", "viewer", token)
    tone = tmp_path / "tone.wav"  # 44.1 kHz stereo: the phone converts it to call audio
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
         "sine=frequency=440:duration=1.5", "-ac", "2", "-ar", "44100", str(tone)],
        check=True,
    )  # fmt: skip
    own_wav = tmp_path / "heard.wav"
    with make_run(checkout, tmp_path / "make-run.log"):
        output = call(
            checkout,
            ".venv/bin/ivr call --keys wwwww1 --dtmf info",
            "--say", str(tone), "--wav", str(own_wav), "--max-seconds", "60",
            env={"IVR_API_TOKEN": token},
        )  # fmt: skip

    assert "prompts and ticket from the API at http://" in output
    assert f"IVR [main_menu]: {MENU}" in output
    assert "you say the --say recording (1.5 s)" in output
    assert "  keys: 1\n" in output  # the key went by SIP INFO and the menu took it
    assert "  path: welcome -> main_menu -> password_reset -> goodbye\n" in output
    assert f"what you hear is written to {own_wav}" in output and own_wav.stat().st_size > 8000
    recording = re.search(r"^  recording: (.+)$", output, re.MULTILINE)
    assert recording, output
    said, _, _ = read_stereo(Path(recording.group(1)))  # the caller's side: the phone's
    span, _ = sound_span(said)
    assert 1.2 < span < 2.0, span


@pytest.mark.parametrize(
    ("script", "steps"),
    [
        ("1,w2,3", [Press("1"), Wait(1.0), Press("2"), Press("3")]),
        ("ww 9#", [Wait(1.0), Wait(1.0), Press("9"), Press("#")]),
        ("*a", [Press("*"), Press("A")]),
    ],
)
def test_key_scripts(script: str, steps: list[object]) -> None:
    assert parse_keys(script) == steps


def test_a_key_script_with_a_stranger_names_it() -> None:
    with pytest.raises(ValueError, match=r"'x' \(character 2 of '1x'\) is not a key"):
        parse_keys("1x")


@pytest.mark.parametrize(
    ("given", "dialled"),
    [
        (None, "sip:4357@127.0.0.1:5060"),
        ("1234", "sip:1234@127.0.0.1:5060"),
        ("7000@pbx.example.com", "sip:7000@pbx.example.com"),
        ("sip:7000@10.0.0.5:5080;transport=tcp", "sip:7000@10.0.0.5:5080;transport=tcp"),
    ],
)
def test_whom_the_phone_dials(given: str | None, dialled: str) -> None:
    assert target_uri(given, HostPort("127.0.0.1", 5060)) == dialled
