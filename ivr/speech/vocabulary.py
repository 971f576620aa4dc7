"""The words a speech model knows, and a grammar trimmed to them.

Vosk drops a grammar phrase holding a word its model does not know (with a
warning, "Ignoring word missing in vocabulary"), so an inflected word in a
plan ("비밀번호를") silently removes the whole phrase. Reading the model's word
list lets the grammar be exactly what Vosk will use.

The list is the model's ``graph/words.txt`` when there is one, else the output
symbol table stored in the graph itself (``Gr.fst`` or ``HCLG.fst``: an OpenFst
binary header followed by the table, read without loading the graph). Reading
it takes about a second for half a million words; it is read once per model
folder and process.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from ivr.exceptions import SpeechError

_FST_MAGIC = 2125659606
_SYMBOLS_MAGIC = 2125658996
_HAS_INPUT_SYMBOLS, _HAS_OUTPUT_SYMBOLS = 1, 2
# Graph files whose output symbols are the model's words, in the order Vosk reads them.
GRAPH_FILES = ("HCLG.fst", "Gr.fst")

_cache: dict[Path, frozenset[str] | None] = {}
_cache_lock = threading.Lock()


def _int32(stream: BinaryIO) -> int:
    value: int = struct.unpack("<i", stream.read(4))[0]
    return value


def _int64(stream: BinaryIO) -> int:
    value: int = struct.unpack("<q", stream.read(8))[0]
    return value


def _string(stream: BinaryIO) -> bytes:
    return stream.read(_int32(stream))


def _symbol_table(stream: BinaryIO) -> list[str]:
    if _int32(stream) != _SYMBOLS_MAGIC:
        raise ValueError("not an OpenFst symbol table")
    _string(stream)  # its name
    _int64(stream)  # the next free key
    words = []
    for _ in range(_int64(stream)):
        words.append(_string(stream).decode("utf-8"))
        _int64(stream)  # its key
    return words


def graph_words(path: Path) -> list[str] | None:
    """The output symbols of the OpenFst graph at ``path`` (None: it stores none).

    Raises:
        ValueError: not an OpenFst binary file.
        OSError: unreadable.
    """
    with path.open("rb") as stream:
        if _int32(stream) != _FST_MAGIC:
            raise ValueError(f"{path} is not an OpenFst binary file")
        _string(stream)  # fst type
        _string(stream)  # arc type
        _int32(stream)  # version
        flags = _int32(stream)
        stream.read(8 * 4)  # properties, start state, number of states and of arcs
        if flags & _HAS_INPUT_SYMBOLS:
            if not flags & _HAS_OUTPUT_SYMBOLS:
                return None
            _symbol_table(stream)
        if not flags & _HAS_OUTPUT_SYMBOLS:
            return None
        return _symbol_table(stream)


def read_vocabulary(model_dir: Path) -> frozenset[str] | None:
    """Every word the model at ``model_dir`` can hear; None when it does not say.

    Raises:
        SpeechError: the word list is there but unreadable.
    """
    words_file = model_dir / "graph" / "words.txt"
    try:
        if words_file.is_file():
            lines = words_file.read_text(encoding="utf-8").splitlines()
            return frozenset(line.split()[0] for line in lines if line.strip())
        for name in GRAPH_FILES:
            graph = model_dir / "graph" / name
            if graph.is_file():
                words = graph_words(graph)
                if words is not None:
                    return frozenset(words)
    except (OSError, ValueError, UnicodeDecodeError, struct.error) as exc:
        raise SpeechError(f"the word list of the speech model at {model_dir}: {exc}") from exc
    return None


def model_vocabulary(model_dir: Path) -> frozenset[str] | None:
    """:func:`read_vocabulary`, read once per model folder and process."""
    key = model_dir.resolve()
    with _cache_lock:
        if key not in _cache:
            _cache[key] = read_vocabulary(key)
        return _cache[key]


def known_phrases(phrases: Iterable[str], vocabulary: frozenset[str] | None) -> list[str]:
    """``phrases`` whose every word the model knows, in order, without repeats (all
    of them when the vocabulary is unknown): what Vosk keeps of a grammar."""
    kept = dict.fromkeys(p for p in phrases if p.strip())
    if vocabulary is None:
        return list(kept)
    return [p for p in kept if all(word in vocabulary for word in p.split())]
