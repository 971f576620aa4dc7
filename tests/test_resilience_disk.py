"""A full disk for recordings: the call goes on unrecorded, the ticket says why, the
service stays up, and calls are recorded again once there is room."""

from __future__ import annotations

import errno
import os
import subprocess
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.service import start_service
from support.sipp import run_sipp

DISK_BYTES = 1024 * 1024
ROOM_LEFT_BYTES = 64 * 1024  # about two seconds of a stereo recording


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs of our own (the test runs as root)."""
    mount_point = tmp_path / "recordings"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=True)


def fill(disk: Path, leave: int) -> Path:
    """Write a ballast file until the disk is full, then give back ``leave`` bytes."""
    ballast = disk / "ballast"
    with ballast.open("wb") as out:
        try:
            while True:
                out.write(bytes(64 * 1024))
                out.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    size = ballast.stat().st_size
    os.truncate(ballast, max(0, size - leave))
    return ballast


def test_full_disk_loses_the_recording_not_the_call_and_recording_resumes_with_room(
    small_disk: Path, tmp_path: Path
) -> None:
    service = start_service(tmp_path / "service", env={"IVR_RECORDINGS_DIR": str(small_disk)})
    try:
        ballast = fill(small_disk, ROOM_LEFT_BYTES)
        first = run_sipp(
            "menu_key1_rfc2833.xml", service.sip_uri_host, "1601", workdir=tmp_path / "full"
        )
        assert first.returncode == 0, first.errors
        [ticket] = service.tickets_of("1601", 1)
        assert ticket["disposition"] == "completed"  # the plan ran to its end
        assert ticket["recording_path"] is None
        _, detail = service.api(f"/api/tickets/{ticket['id']}")
        [failed] = [e for e in detail["events"] if e["kind"] == "recording_failed"]
        assert "No space left on device" in failed["error"], failed
        status, body = service.api(f"/api/tickets/{ticket['id']}/recording")
        assert status == 404, body
        assert not list(small_disk.rglob("*.wav"))  # the partial file gave its room back
        assert service.api("/api/health")[0] == 200

        ballast.unlink()
        second = run_sipp(
            "menu_key1_rfc2833.xml", service.sip_uri_host, "1602", workdir=tmp_path / "room"
        )
        assert second.returncode == 0, second.errors
        [ticket] = service.tickets_of("1602", 1)
        assert ticket["disposition"] == "completed"
        assert ticket["recording_path"], ticket
        with wave.open(ticket["recording_path"]) as recording:
            assert recording.getnchannels() == 2
            assert recording.getnframes() > 2 * recording.getframerate()
        _, detail = service.api(f"/api/tickets/{ticket['id']}")
        assert not [e for e in detail["events"] if e["kind"] == "recording_failed"]
    finally:
        assert service.stop() == 0
