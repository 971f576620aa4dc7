"""The mix a supervisor or a whispered-to agent hears: sources summed sample by sample,
clipped, each behind a small jitter buffer, none allowed to fall far behind."""

from __future__ import annotations

from array import array

from ivr.media.mixing import Mixer


def pcm(*samples: int) -> bytes:
    return array("h", samples).tobytes()


def samples(data: bytes) -> list[int]:
    return list(array("h", data))


def test_sources_are_summed_and_clipped_to_16_bits() -> None:
    mixer = Mixer(prefill_bytes=0)
    mixer.push("caller", pcm(1000, -1000, 30000, -30000))
    mixer.push("agent", pcm(500, 500, 10000, -10000))
    assert samples(mixer.pull(8)) == [1500, -500, 32767, -32768]


def test_a_source_joins_once_its_jitter_buffer_is_filled_and_a_dry_one_refills() -> None:
    mixer = Mixer(prefill_bytes=8, max_backlog_bytes=64)
    mixer.push("caller", pcm(1, 2))
    assert samples(mixer.pull(4)) == [0, 0]  # 4 bytes waiting, 8 needed: silence
    mixer.push("caller", pcm(3, 4))
    assert samples(mixer.pull(4)) == [1, 2]
    assert samples(mixer.pull(8)) == [3, 4, 0, 0]  # ran dry: silence, then fills again
    mixer.push("caller", pcm(5))
    assert samples(mixer.pull(2)) == [0]


def test_a_source_far_behind_loses_its_oldest_audio() -> None:
    mixer = Mixer(prefill_bytes=4, max_backlog_bytes=8)
    mixer.push("caller", pcm(1, 2, 3, 4, 5))  # 10 bytes: back to the 4 newest
    assert samples(mixer.pull(6)) == [4, 5, 0]


def test_a_removed_source_is_silent_and_pulls_are_whole_samples() -> None:
    mixer = Mixer(prefill_bytes=0)
    mixer.push("caller", pcm(7, 7))
    mixer.push("supervisor", pcm(1, 1))
    mixer.remove("supervisor")
    assert samples(mixer.pull(5)) == [7, 7]
    assert mixer.sources == 1
