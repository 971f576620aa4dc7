"""The mix a supervisor or a whispered-to agent hears: sources summed sample by sample,
clipped, each behind a small jitter buffer; a source a little late is waited for, one
far behind is left out, none may run far ahead."""

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


def test_a_source_joins_once_its_jitter_buffer_is_filled() -> None:
    mixer = Mixer(prefill_bytes=8, max_backlog_bytes=64)
    mixer.push("caller", pcm(1, 2))
    assert mixer.pull(4) == b""  # 4 bytes waiting, 8 needed: nothing yet
    mixer.push("caller", pcm(3, 4))
    assert samples(mixer.pull(4)) == [1, 2]
    assert samples(mixer.pull(8)) == [3, 4]  # what it has: no silence added
    mixer.push("caller", pcm(5))
    assert samples(mixer.pull(2)) == [5]


def test_a_source_a_little_late_is_waited_for() -> None:
    mixer = Mixer(prefill_bytes=0, max_backlog_bytes=64)
    mixer.push("caller", pcm(1, 1, 1, 1))
    mixer.push("supervisor", pcm(2, 2))
    assert samples(mixer.pull(8)) == [3, 3]  # the supervisor's next chunk is not in yet
    mixer.push("supervisor", pcm(2, 2))
    assert samples(mixer.pull(8)) == [3, 3]


def test_a_source_far_behind_is_left_out_with_silence_until_it_fills_again() -> None:
    mixer = Mixer(prefill_bytes=4, max_backlog_bytes=16)  # far behind: 8 bytes
    mixer.push("caller", pcm(1, 1))
    mixer.push("supervisor", pcm(2, 2))
    assert samples(mixer.pull(4)) == [3, 3]
    mixer.push("caller", pcm(1, 1, 1, 1, 1))  # the supervisor's phone went quiet
    assert samples(mixer.pull(10)) == [1, 1, 1, 1, 1]
    mixer.push("supervisor", pcm(2))  # 2 bytes: not back in the mix before 4
    mixer.push("caller", pcm(1))
    assert samples(mixer.pull(4)) == [1]
    mixer.push("supervisor", pcm(2))
    mixer.push("caller", pcm(1, 1))
    assert samples(mixer.pull(4)) == [3, 3]


def test_a_source_far_ahead_loses_its_oldest_audio() -> None:
    mixer = Mixer(prefill_bytes=4, max_backlog_bytes=8)
    mixer.push("caller", pcm(1, 2, 3, 4, 5))  # 10 bytes: back to the 4 newest
    assert samples(mixer.pull(6)) == [4, 5]


def test_a_removed_source_is_silent_and_pulls_are_whole_samples() -> None:
    mixer = Mixer(prefill_bytes=0)
    mixer.push("caller", pcm(7, 7))
    mixer.push("supervisor", pcm(1, 1))
    mixer.remove("supervisor")
    assert samples(mixer.pull(5)) == [7, 7]
    assert mixer.sources == 1
