"""Prompt audio: files in any format ffmpeg reads, and text, become 8 kHz call audio."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import imageio_ffmpeg
import pytest
from support.audio import sound_span

from ivr.exceptions import PromptError
from ivr.media.prompts import PromptLibrary


def make_tone(path: Path, seconds: float = 1.5) -> None:
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=440:duration={seconds}:sample_rate=44100",
            str(path),
        ],
        check=True,
    )


@pytest.mark.parametrize("suffix", [".wav", ".mp3", ".ogg", ".flac"])
def test_audio_files_convert_to_call_audio_of_the_same_length(tmp_path: Path, suffix: str) -> None:
    source = tmp_path / f"tone{suffix}"
    make_tone(source)
    library = PromptLibrary(tmp_path / "cache")
    try:
        pcm = asyncio.run(library.file(source))
    finally:
        library.close()
    assert len(pcm) / 16000 == pytest.approx(1.5, abs=0.1)  # 8 kHz, 16-bit
    seconds, rms = sound_span(pcm)
    assert seconds == pytest.approx(1.5, abs=0.1) and rms > 1000
    assert list((tmp_path / "cache" / "prompts").glob("*.pcm")), "converted once, then cached"


def test_a_file_that_is_not_audio_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "notes.mp3"
    broken.write_text("this is not audio")
    library = PromptLibrary(tmp_path / "cache")
    try:
        with pytest.raises(PromptError, match="is not readable audio"):
            asyncio.run(library.file(broken))
        with pytest.raises(PromptError, match="cannot be read"):
            asyncio.run(library.file(tmp_path / "missing.wav"))
    finally:
        library.close()


def test_text_is_spoken_in_the_voice_asked_for(tmp_path: Path) -> None:
    library = PromptLibrary(tmp_path / "cache")
    try:
        english = asyncio.run(library.speech("Welcome to the help desk.", "en"))
        chinese = asyncio.run(library.speech("欢迎致电IT服务台。", "cmn"))
        with pytest.raises(PromptError, match="no voice"):
            asyncio.run(library.speech("Hello", "no-such-voice"))
    finally:
        library.close()
    assert sound_span(english)[0] > 1.0 and sound_span(chinese)[0] > 1.0
    assert english != chinese
