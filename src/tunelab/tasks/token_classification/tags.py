"""Entity tag schemes: detect a corpus's scheme, validate, and convert to and from IOB2.

tunelab works in IOB2 internally (every entity starts with ``B-TYPE``, continues with
``I-TYPE``). Supported schemes, by the prefixes they use besides ``O``:

==========  =============  ==============================================================
``io``      I              a run of ``I-X`` is one entity (adjacent same-type ones merge)
``iob1``    I, B           ``I-`` starts entities; ``B-X`` only splits two adjacent X entities
``iob2``    B, I           every entity starts with ``B-``
``bioes``   B, I, E, S     multi-token entities end with ``E-``, single-token ones are ``S-``
``bilou``   B, I, L, U     BIOES with ``L-`` (last) and ``U-`` (unit)
``bmes``    B, M, E, S     BIOES with ``M-`` (middle), used by Chinese corpora such as Resume
==========  =============  ==============================================================

A tag is ``O`` or ``PREFIX-TYPE``, split on the first ``-`` only (``B-creative-work`` has type
``creative-work``). Types are case-sensitive; prefix letters may be lower case and are normalised
to upper case (``b-per`` reads as ``B-per``, ``o`` as ``O``). Anything else (``PER``, ``X-PER``, ``B-``, ``B_PER``)
is an error.

A sequence is *invalid* when it breaks its scheme's rules: ``I-X`` that does not continue an
``X`` entity (IOB2, BIOES, BILOU, BMES), ``E-X`` without ``B-X``/``I-X`` before it, or, in
BIOES/BILOU/BMES, an entity left without its ``E-``; so is a prefix the scheme does not use
(``S-`` in IOB2) unless ``strict=False``, which reads it with its usual meaning. Errors are :class:`TagError` (a
ValueError) with the token index. ``repair=True`` reads invalid sequences the way seqeval's
default (conlleval) mode does instead: an orphan ``I-X`` or ``E-X`` starts a new entity, an
unclosed ``B-X ... I-X`` ends where the next entity or ``O`` starts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache

__all__ = [
    "SCHEMES",
    "TagError",
    "detect_scheme",
    "entities_from_iob2",
    "from_iob2",
    "normalise_scheme",
    "parse_tag",
    "to_iob2",
    "to_iob2_with_repairs",
    "validate_tags",
]

#: Scheme name -> the prefix letters it uses besides O.
SCHEMES: dict[str, str] = {"io": "I", "iob1": "BI", "iob2": "BI", "bioes": "BIES", "bilou": "BILU", "bmes": "BMES"}
_ALIASES = {"bio": "iob2", "iobes": "bioes", "biluo": "bilou"}
_NAMES = {"io": "IO", "iob1": "IOB1", "iob2": "IOB2", "bioes": "BIOES", "bilou": "BILOU", "bmes": "BMES"}
# Every prefix letter maps to one role: Begin, Inside, End, Single (and O).
_ROLE = {"B": "B", "I": "I", "M": "I", "E": "E", "L": "E", "S": "S", "U": "S"}
# The letter each role is written with, for the schemes whose entities end explicitly.
_LETTERS = {
    "bioes": {"B": "B", "I": "I", "E": "E", "S": "S"},
    "bilou": {"B": "B", "I": "I", "E": "L", "S": "U"},
    "bmes": {"B": "B", "I": "M", "E": "E", "S": "S"},
}

Entity = tuple[str, int, int]  # (type, start, end_exclusive)
Problem = tuple[int, str]  # (token index, what is wrong)
Parsed = list[tuple[str, str | None]]  # (role, type) per token


class TagError(ValueError):
    """An unreadable tag or an invalid tag sequence; ``index`` is the 0-based token position and
    ``sequence`` the 0-based sentence position when several sentences were given."""

    def __init__(self, index: int, tag: str, problem: str, sequence: int | None = None) -> None:
        self.index, self.tag, self.problem, self.sequence = index, tag, problem, sequence
        where = f"sentence {sequence}, " if sequence is not None else ""
        super().__init__(f"{where}token {index} ({tag!r}): {problem}")


def normalise_scheme(name: str) -> str:
    """A scheme name in canonical form ("IOB2" -> "iob2", "bio" -> "iob2"); ValueError if unknown."""
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in SCHEMES:
        raise ValueError(f"unknown tag scheme {name!r}; use one of {', '.join(SCHEMES)} (or 'auto')")
    return key


@lru_cache(maxsize=8192)
def parse_tag(tag: str) -> tuple[str, str | None]:
    """``(PREFIX, type)`` of a tag, prefix upper-cased; ``("O", None)`` for O. ValueError if malformed."""
    if not isinstance(tag, str):
        raise ValueError(f"a tag must be a string, found {type(tag).__name__}")
    if tag in ("O", "o"):
        return "O", None
    prefix, dash, type_ = tag.partition("-")
    if not dash:
        if tag.upper() in _ROLE:
            raise ValueError(f"'{tag}' has no entity type; write it as {tag.upper()}-TYPE")
        hint = " (the separator is '-', not '_')" if "_" in tag else ""
        raise ValueError(f"a tag is 'O' or PREFIX-TYPE such as 'B-{tag}', not a bare type{hint}")
    letter = prefix.upper()
    if letter == "O":
        raise ValueError("'O' takes no entity type")
    if len(prefix) != 1 or letter not in _ROLE:
        raise ValueError(f"unknown prefix '{prefix}-' (known prefixes: B, I, E, S, M, L, U)")
    if not type_ or type_[0] == "-" or type_[-1] == "-" or any(c.isspace() for c in type_):
        raise ValueError("the entity type after the prefix is empty, contains whitespace or starts/ends with '-'")
    return letter, type_


def detect_scheme(tag_sequences: Iterable[Sequence[str]]) -> str:
    """The scheme of a corpus from its tags: "io", "iob1", "iob2", "bioes", "bilou" or "bmes".

    L-/U- mean BILOU; M- means BMES; E-/S- (without M-) mean BIOES (a corpus with B-, E-, S- but no
    inside tags reads the same in BIOES and BMES). With only B-/I-: no B- means IO; otherwise IOB1
    when more entities start with I- (after O, at sentence start or after another type) than with
    B-, else IOB2. Only O tags: "iob2". Raises TagError for an unreadable tag or for tags that mix
    schemes (I- with M-, or L-/U- with E-/S-/M-), pointing at the first tag of the rarer kind.
    """
    counts: Counter[str] = Counter()
    first: dict[str, tuple[int, int, str]] = {}
    fresh: Counter[str] = Counter()  # entities started by B- / by I-
    for k, sequence in enumerate(tag_sequences):
        prev_letter, prev_type = "O", None
        for i, tag in enumerate(sequence):
            try:
                letter, type_ = parse_tag(tag)
            except ValueError as exc:
                raise TagError(i, tag, str(exc), sequence=k) from None
            counts[letter] += 1
            first.setdefault(letter, (k, i, tag))
            if letter in ("B", "I") and not (prev_letter in ("B", "I") and prev_type == type_):
                fresh[letter] += 1
            prev_letter, prev_type = letter, type_

    def mixed(group_a: str, group_b: str) -> TagError:
        a = max(group_a, key=counts.__getitem__)
        b = max(group_b, key=counts.__getitem__)
        rare = a if counts[a] < counts[b] else b
        k, i, tag = first[rare]
        return TagError(
            i,
            tag,
            f"the tags mix schemes: both {a}- ({counts[a]} tags) and {b}- ({counts[b]} tags) are used; "
            "fix the rarer ones or set the scheme explicitly",
            sequence=k,
        )

    letters = {letter for letter in counts if letter != "O"}
    if letters & set("LU"):
        if letters & set("ESM"):
            raise mixed("LU", "ESM")
        return "bilou"
    if "M" in letters:
        if "I" in letters:
            raise mixed("I", "M")
        return "bmes"
    if letters & set("ES"):
        return "bioes"
    if "B" not in letters:
        return "io" if letters else "iob2"
    return "iob1" if fresh["I"] > fresh["B"] else "iob2"


def _read(tags: Sequence[str], scheme: str, strict: bool, repair: bool) -> tuple[list[Entity], list[Problem]]:
    """Entities of ``tags`` read leniently, and the problems found (raises on the first unless repair)."""
    scheme = normalise_scheme(scheme)
    allowed = SCHEMES[scheme]
    problems: list[Problem] = []
    parsed: Parsed = []
    for i, tag in enumerate(tags):
        try:
            letter, type_ = parse_tag(tag)
        except ValueError as exc:
            raise TagError(i, tag, str(exc)) from None
        if letter != "O" and letter not in allowed and strict:
            uses = ", ".join(allowed)
            problems.append((i, f"prefix '{letter}-' is not used in {_NAMES[scheme]} (its prefixes: {uses})"))
        parsed.append((_ROLE.get(letter, "O"), type_))
    problems = sorted(problems + _transition_problems(tags, parsed, scheme))
    if problems and not repair:
        index, problem = problems[0]
        raise TagError(index, tags[index], problem)
    return _decode(parsed), problems


def _transition_problems(tags: Sequence[str], parsed: Parsed, scheme: str) -> list[Problem]:
    closes = scheme in _LETTERS  # entities must end with E-/S- (or L-/U-)
    free_inside = scheme in ("io", "iob1")  # I- may start an entity
    letters = _LETTERS.get(scheme, {"B": "B", "E": "E", "S": "S"})
    rule = f"an entity starts with {letters['B']}-"
    if closes:
        rule += f" or is one {letters['S']}- tag"
    problems = []
    prev_role, prev_type = "O", None
    for i, (role, type_) in enumerate(parsed):
        continues = prev_role in ("B", "I") and prev_type == type_
        if (role == "E" or (role == "I" and not free_inside)) and not continues:
            verb = "ends" if role == "E" else "continues"
            if i == 0:
                why = "it is the first tag of the sentence"
            elif prev_role == "O":
                why = "the previous tag is 'O'"
            elif prev_type != type_:
                why = f"the previous tag '{tags[i - 1]}' is of another type"
            else:
                why = f"the previous tag '{tags[i - 1]}' already ended that entity"
            problems.append((i, f"'{tags[i]}' {verb} an entity, but {why} (in {_NAMES[scheme]} {rule})"))
        elif closes and prev_role in ("B", "I") and not (role in ("I", "E") and continues):
            problems.append((i - 1, _unclosed(tags[i - 1], prev_role, prev_type, scheme)))
        prev_role, prev_type = role, type_
    if closes and prev_role in ("B", "I"):
        problems.append((len(parsed) - 1, _unclosed(tags[-1], prev_role, prev_type, scheme)))
    return problems


def _unclosed(tag: str, role: str, type_: str | None, scheme: str) -> str:
    letters = _LETTERS[scheme]
    if role == "B":
        return (
            f"'{tag}' begins an entity that never ends (in {_NAMES[scheme]} a one-token entity is "
            f"'{letters['S']}-{type_}' and a longer one ends with '{letters['E']}-{type_}')"
        )
    return f"'{tag}' is the last token of its entity, so in {_NAMES[scheme]} it should be '{letters['E']}-{type_}'"


def _decode(parsed: Parsed) -> list[Entity]:
    """Entities by conlleval's chunk rules (as seqeval's default mode), for any mix of roles."""
    entities: list[Entity] = []
    start = 0
    prev_role, prev_type = "O", None
    for i, (role, type_) in enumerate([*parsed, ("O", None)]):
        type_changed = type_ != prev_type
        if prev_role != "O" and (prev_role in ("E", "S") or role in ("B", "S", "O") or type_changed):
            entities.append((prev_type, start, i))  # type: ignore[arg-type]
        if role != "O" and (role in ("B", "S") or prev_role in ("E", "S", "O") or type_changed):
            start = i
        prev_role, prev_type = role, type_
    return entities


def to_iob2_with_repairs(tags: Sequence[str], scheme: str, *, strict: bool = True) -> tuple[list[str], list[Problem]]:
    """``tags`` in IOB2, repaired where invalid, and ``(token index, problem)`` for each repair."""
    entities, problems = _read(tags, scheme, strict, repair=True)
    return _encode(entities, len(tags), "iob2"), problems


def to_iob2(tags: Sequence[str], scheme: str, *, strict: bool = True, repair: bool = False) -> list[str]:
    """One sentence's ``tags`` (in ``scheme``) converted to IOB2.

    ``strict``: a prefix ``scheme`` does not use (``S-`` in IOB2) is an error; with
    ``strict=False`` it is read with its usual meaning. ``repair``: fix invalid sequences (see
    the module docstring) instead of raising :class:`TagError`; tags that cannot be parsed at all
    are an error either way.
    """
    entities, _ = _read(tags, scheme, strict, repair)
    return _encode(entities, len(tags), "iob2")


def validate_tags(tags: Sequence[str], scheme: str) -> None:
    """Raise :class:`TagError` (naming the token index and the problem) unless ``tags`` is valid."""
    _read(tags, scheme, strict=True, repair=False)


def entities_from_iob2(tags: Sequence[str], *, repair: bool = False) -> list[Entity]:
    """``(type, start, end_exclusive)`` of every entity of an IOB2 sequence, left to right."""
    return _read(tags, "iob2", strict=True, repair=repair)[0]


def from_iob2(tags: Sequence[str], scheme: str) -> list[str]:
    """Valid IOB2 ``tags`` written in ``scheme`` (for saving predictions in a corpus's own scheme).

    ValueError for IO when two entities of the same type touch: IO cannot tell them apart.
    """
    scheme = normalise_scheme(scheme)
    return _encode(entities_from_iob2(tags), len(tags), scheme)


def _encode(entities: list[Entity], length: int, scheme: str) -> list[str]:
    out = ["O"] * length
    prev_end, prev_type = -1, None
    for type_, start, end in entities:
        touches = start == prev_end and type_ == prev_type
        if scheme in _LETTERS:
            letters = _LETTERS[scheme]
            if end - start == 1:
                out[start] = f"{letters['S']}-{type_}"
            else:
                out[start] = f"{letters['B']}-{type_}"
                out[start + 1 : end - 1] = [f"{letters['I']}-{type_}"] * (end - start - 2)
                out[end - 1] = f"{letters['E']}-{type_}"
        else:
            if scheme == "io" and touches:
                raise ValueError(
                    f"token {start}: IO cannot separate two adjacent '{type_}' entities; use another scheme"
                )
            first = "B" if scheme == "iob2" or (scheme == "iob1" and touches) else "I"
            out[start] = f"{first}-{type_}"
            out[start + 1 : end] = [f"I-{type_}"] * (end - start - 1)
        prev_end, prev_type = end, type_
    return out
