"""The :class:`Augmenter`: the ops of an ``augment:`` section (or of ``--perturb``), the share of
words they change, the language, and a generator per example drawn from the seed.

Every draw is seeded by ``(seed, example index, op, copy)``: an example's copies do not depend
on the other examples, on their order or on the process, and the same seed gives the same data.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from tunelab.augment import eda, noise
from tunelab.augment.text import LANGUAGES, count_for, has_cjk, is_word, join_edit, split_text
from tunelab.errors import ConfigError

WORD_OPS = ("eda", "synonym", "swap", "delete", "insert")
CHAR_OPS = ("typos", "case", "punctuation")
TEXT_OPS = WORD_OPS + CHAR_OPS
SPAN_OPS = ("mention_replace", "token_replace")  # token classification only: they need the tags
AUGMENT_OPS = TEXT_OPS + SPAN_OPS
PERTURBATIONS = TEXT_OPS  # what `tunelab evaluate --perturb` takes (NER: CHAR_OPS only)
NEEDS_SYNONYMS = ("eda", "synonym", "insert")


@dataclass(frozen=True)
class Augmented:
    """One new training example and the op that made it."""

    op: str
    example: Any


def check_ops(ops: Sequence[str], known: Sequence[str] = AUGMENT_OPS, where: str = "augment.ops") -> list[str]:
    """The op names, each once, in order; a ConfigError naming the unknown ones and the known ones."""
    import difflib

    names = list(dict.fromkeys(str(op).strip().lower() for op in ops if str(op).strip()))
    unknown = [op for op in names if op not in known]
    if unknown:
        guess = difflib.get_close_matches(unknown[0], known, n=1)
        hint = f" (did you mean '{guess[0]}'?)" if guess else ""
        raise ConfigError(
            f"{where}: unknown {'names' if len(unknown) > 1 else 'name'} {', '.join(unknown)}{hint}; "
            f"known: {', '.join(known)}"
        )
    return names


class Augmenter:
    """Applies named ops to texts and token lists (task-neutral: the task decides which tokens
    may change). ``p``: the share of words an op changes (at least one); ``copies``: augmented
    copies per example and op; ``language``: ``en`` or ``zh`` (tokenisation, synonyms, noise)."""

    def __init__(
        self, ops: Sequence[str], *, p: float = 0.1, copies: int = 1, language: str = "en", seed: int = 0
    ) -> None:
        if language not in LANGUAGES:
            raise ConfigError(f"augment.language must be one of auto, {', '.join(LANGUAGES)}; got {language!r}")
        if not 0 < p <= 1:
            raise ConfigError(f"augment.p must be in (0, 1], got {p}")
        self.ops = tuple(check_ops(ops))
        self.p = p
        self.copies = copies
        self.language = language
        self.seed = seed

    @property
    def span_ops(self) -> tuple[str, ...]:
        return tuple(op for op in self.ops if op in SPAN_OPS)

    def rng(self, index: int, *key: Any) -> random.Random:
        """A generator of its own for one example (and op, copy): a str seed is hashed with
        SHA-512 by ``random``, the same in every process and Python run."""
        return random.Random("|".join(map(str, (self.seed, index, *key))))

    def draws(self, index: int) -> Iterator[tuple[str, random.Random]]:
        """``(op, generator)`` for every op and copy of example ``index``."""
        for op in self.ops:
            for copy in range(self.copies):
                yield op, self.rng(index, op, copy)

    # -- the lexicons ---------------------------------------------------------------------------
    def synonyms(self, word: str) -> list[str]:
        if self.language == "zh":
            from tunelab.augment.chinese import chinese_synonyms

            return chinese_synonyms(word) if has_cjk(word) else []
        from tunelab.augment.wordnet import english_synonyms

        return english_synonyms(word)

    def prepare(self) -> None:
        """Load what the ops need now (WordNet, jieba), so a missing package fails before training."""
        if self.language == "zh":
            from tunelab.augment.chinese import chinese_synonyms, homophones, segment

            segment("预热")
            homophones("的")
            if any(op in NEEDS_SYNONYMS for op in self.ops):
                chinese_synonyms("预热")
        elif any(op in NEEDS_SYNONYMS for op in self.ops):
            self.synonyms("ready")

    # -- token lists ----------------------------------------------------------------------------
    def edit_tokens(
        self,
        op: str,
        tokens: Sequence[str],
        rng: random.Random,
        *,
        locked: Sequence[bool] | None = None,
        glued: Sequence[bool] | None = None,
        keep_count: bool = False,
    ) -> eda.Edit:
        """One text op on a token list (``locked`` tokens never change, nothing is inserted before
        a ``glued`` one). Char ops change single tokens; with ``keep_count`` none becomes empty
        (a dropped mark is changed instead), so the output has exactly the input's tokens."""
        if op in WORD_OPS:
            if keep_count:
                raise ConfigError(f"'{op}' changes the number of tokens; here only {', '.join(CHAR_OPS)} apply")
            return eda.word_op(op, tokens, self.p, rng, self.synonyms, locked, glued)
        if op not in CHAR_OPS:
            raise ConfigError(f"'{op}' is not a text op ({', '.join(TEXT_OPS)})")
        lock = locked if locked is not None else [False] * len(tokens)
        free = [i for i, token in enumerate(tokens) if not lock[i]]
        targets = [i for i in free if noise.applies(op, tokens[i])]
        n = count_for(self.p, sum(1 for i in free if is_word(tokens[i])) or len(targets))
        chosen = set(rng.sample(targets, min(n, len(targets))))
        edit: eda.Edit = []
        for i, token in enumerate(tokens):
            if i in chosen:
                token = self._char_op(op, token, rng, keep_count)
            edit.append((token, i))
        return edit

    def _char_op(self, op: str, token: str, rng: random.Random, keep_count: bool) -> str:
        if op == "typos":
            return noise.typo(token, rng)
        if op == "case":
            return noise.recase(token, rng)
        return noise.repunctuate(token, rng, self.language, keep_nonempty=keep_count)

    # -- texts ----------------------------------------------------------------------------------
    def apply_text(self, op: str, text: str, rng: random.Random) -> str:
        """One text op on a whole text; whitespace and untouched words stay as they were."""
        if op in SPAN_OPS:
            raise ConfigError(f"augment.ops: {op} needs entity tags (token classification)")
        words = split_text(text, self.language)
        if not words.tokens:
            return text
        return join_edit(words, self.edit_tokens(op, words.tokens, rng), self.language)

    def perturb_text(self, text: str, rng: random.Random) -> str:
        """Every op in turn on one text (a perturbed copy for robustness evaluation)."""
        for op in self.ops:
            changed = self.apply_text(op, text, rng)
            text = changed if changed.strip() else text
        return text

    def perturb_tokens(self, tokens: Sequence[str], rng: random.Random) -> list[str]:
        """Every (char) op in turn on a token list, which keeps its length: NER tokens keep their tags."""
        out = list(tokens)
        for op in self.ops:
            out = [token for token, _ in self.edit_tokens(op, out, rng, keep_count=True)]
        return out
