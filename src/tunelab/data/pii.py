"""Find and mask personal data (PII) in English and Chinese text: 数据脱敏.

:func:`mask_text` replaces every item found with a typed placeholder (``<EMAIL>``, ``<PHONE>``,
``<CARD>``, ``<ACCOUNT>``, ``<CN_ID>``, ``<IP>``); :func:`mask_text_counts` also returns how many
items of each type it masked (for reports); :func:`find_pii` returns the items with their character
spans (the NER readers mask tokens with it); :class:`PiiMasker` masks many texts and keeps the counts.

Why regular expressions and checksums rather than a library: Microsoft Presidio needs spaCy language
models (not installed, and not downloadable offline), its recognisers know neither 身份证 numbers,
Chinese mobile and landline formats nor Chinese bank accounts, and its context words are English;
``phonenumbers`` finds phones only and needs a region per text. The formats here are precise enough
for regexes when each candidate is validated: cards by the Luhn checksum, IBANs by ISO 7064 mod 97,
resident IDs by the GB 11643-1999 checksum and a real birth date, IP addresses by :mod:`ipaddress`.

What is masked (the detectors run in this order; an item overlapping one found earlier is not an item):

- ``email``: ``local@domain.tld`` with an ASCII local part and domain (so Chinese text right before
  or after an address is not taken into it).
- ``ip``: IPv6 (validated by :mod:`ipaddress`, with at least one decimal digit so that C++'s ``a::b``
  is not one; times such as ``12:30:45`` and MAC addresses are not addresses) and IPv4
  dotted quads with octets 0-255 and no leading zeros. A version number looks like an IPv4 address;
  decision: a valid dotted quad is masked (leaking an address costs more than masking a version)
  unless a letter is attached (``v1.2.3.4``, ``build1.2.3.4``) or it follows "version", "ver." or
  "版本"; five or more parts (``1.2.3.4.5``) are never an address.
- ``cn_id``: 18-character resident ID numbers whose GB 11643 check character (0-9 or X) matches and
  whose birth date (characters 7-14) is a real date from 1900 on; 15-digit old-form numbers with a
  real birth date (YYMMDD at characters 7-12), when not a Luhn-valid card number.
- ``card``: 13-19 digits, plain or in groups separated by spaces or dashes (4-4-4-4[-3], 4-6-5),
  that pass the Luhn check.
- ``account``: IBANs (two letters, two check digits, up to 30 letters/digits, optionally in groups of
  four) passing the mod-97 check; 16-19 digit numbers that fail the Luhn check (Chinese bank accounts
  and cards); and runs of 8-30 digits labelled 账号/帐号/账户/卡号/account/acct/a/c.
- ``phone``: numbers with a ``+`` country code (``+44 20 7946 0958``, ``+1 (555) 123-4567``,
  ``+86 138 1234 5678``); US numbers ``(555) 123-4567``, ``555-123-4567``, ``555.123.4567``,
  ``555 123 4567`` (a separator is required: ten bare digits are as often an order number);
  Chinese mobiles ``1[3-9]`` + 9 digits, bare or 3-4-4 with spaces/dashes, optionally after ``+86``
  or ``0086``; Chinese landlines with an area code and a separator (``010-12345678``,
  ``0755-1234567``, ``(021) 12345678``).

Guards against false positives: every number must stand alone. Chinese text has no word boundaries,
so instead of ``\\b`` the patterns use lookarounds on ASCII letters and digits (a CJK character next
to a number is a boundary; a digit or letter is not), and a digit run that is part of a longer run or
of a decimal (``0.1234567890123456``) is not an item. Only ASCII digits are read (full-width digits
are not). Years, dates (``2023-01-15``, ``20230115``), times, prices and short numbers
(``order 12345``) match no pattern; numbers right after an order/invoice/tracking label
(订单号, 单号, 发票, order, invoice, tracking, ...) are not taken for phones or accounts, which have no
checksum. Detection does not depend on which types are masked: a number is classified first and
masked only when its type is selected, so unselecting ``cn_id`` never turns ID numbers into
``<ACCOUNT>``.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

PII_ENTITIES: tuple[str, ...] = ("email", "phone", "card", "account", "cn_id", "ip")
"""The types of personal data :func:`mask_text` knows (what ``data.mask_pii`` may list)."""

PLACEHOLDERS: dict[str, str] = {name: f"<{name.upper()}>" for name in PII_ENTITIES}
"""The placeholder each type is replaced with: ``<EMAIL>``, ``<PHONE>``, ... ``<CN_ID>``, ``<IP>``."""


@dataclass(frozen=True, slots=True)
class PiiItem:
    """One item found: its type, its character span in the text, and the text itself."""

    type: str
    start: int
    end: int
    text: str


# Boundaries: no ASCII letter, digit or underscore attached (CJK characters are boundaries).
_L = r"(?<![0-9A-Za-z_])"
_R = r"(?![0-9A-Za-z_])"
# Numbers: not the end of a decimal ("3.1415...") nor followed by decimals ("...89.50").
_LN = _L + r"(?<![0-9][.,])"
_RN = _R + r"(?![.,][0-9])"

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,63})@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9-])"
)
_IPV6 = re.compile(
    r"(?<![0-9A-Za-z_:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9A-Fa-f]{0,4})"
    r"(?:%[0-9A-Za-z]+)?(?![0-9A-Za-z_:])(?!\.[0-9])"
)
_IPV4 = re.compile(_L + r"(?<![0-9]\.)(?:[0-9]{1,3}\.){3}[0-9]{1,3}" + _R + r"(?!\.[0-9])")
_VERSION_BEFORE = re.compile(r"(?:(?<![A-Za-z])(?:version|ver\.?)|版本号?)\s*[:：]?\s*$", re.IGNORECASE)

_CN_ID18 = re.compile(_LN + r"[1-9][0-9]{16}[0-9Xx]" + _RN)
_CN_ID15 = re.compile(_LN + r"[1-9][0-9]{14}" + _RN)
# Card/account numbers: bare digits, or groups separated by one kind of separator.
_DIGITS = re.compile(
    _LN
    + r"(?:[0-9]{13,19}"
    + r"|[0-9]{4}(?P<s>[ -])[0-9]{4}(?P=s)[0-9]{4}(?P=s)[0-9]{1,4}(?:(?P=s)[0-9]{1,3})?"
    + r"|[0-9]{4}(?P<t>[ -])[0-9]{6}(?P=t)[0-9]{4,5})"
    + _RN
)
_IBAN = re.compile(_L + r"[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?" + _R)
_ACCOUNT_LABEL = re.compile(
    r"(?:账号|帐号|账户|帐户|卡号|银行账号|户号"
    r"|(?<![A-Za-z])(?:account|acct\.?|a/c)(?:\s*(?:no\.?|number|num|#))?)"
    r"\s*(?:[:：#]|is)?\s*",
    re.IGNORECASE,
)
_LABELLED_RUN = re.compile(r"[0-9](?:[ -]?[0-9]){7,29}" + _RN)
_NOT_PERSONAL = re.compile(
    r"(?:订单|单号|运单|快递|发票|流水|工单|编号|order|invoice|tracking|ticket|ref\.?|reference|sku|isbn)"
    r"\s*(?:no\.?|number|#|号)?\s*[:：#]?\s*$",
    re.IGNORECASE,
)

_PHONE_INTL = re.compile(r"(?<![0-9A-Za-z_+])\+[1-9][0-9]{0,2}(?:[ .-]?\([0-9]{1,4}\))?(?:[ .-]?[0-9]{1,5}){1,6}" + _RN)
_PHONE_CN_MOBILE = re.compile(
    _LN + r"(?:(?:\+|00)86[ -]?|\(\+?86\)\s?)?1[3-9][0-9](?P<s>[ -]?)[0-9]{4}(?P=s)[0-9]{4}" + _RN
)
_PHONE_CN_LANDLINE = re.compile(
    _LN + r"(?:\(0(?:10|2[0-9]|[3-9][0-9]{2})\)\s?|0(?:10|2[0-9]|[3-9][0-9]{2})[ -])[1-9][0-9]{6,7}" + _RN
)
_PHONE_US = re.compile(
    _LN + r"(?:\([2-9][0-9]{2}\)\s?|[2-9][0-9]{2}(?P<s>[-. ]))[0-9]{3}(?(s)(?P=s)|[-. ])[0-9]{4}" + _RN
)

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn (mod 10) check of payment card numbers."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        n = ord(char) - 48
        if i % 2:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def iban_valid(iban: str) -> bool:
    """Whether a compact IBAN (no spaces) has a valid length and ISO 7064 mod-97 check digits."""
    if not 15 <= len(iban) <= 34 or not iban[:2].isalpha() or not iban[2:4].isdigit():
        return False
    moved = iban[4:] + iban[:4]
    number = "".join(str(int(char, 36)) for char in moved)
    return int(number) % 97 == 1


def _real_date(year: int, month: int, day: int) -> bool:
    try:
        datetime.date(year, month, day)
    except ValueError:
        return False
    return True


def cn_id_valid(number: str) -> bool:
    """Whether an 18-character (GB 11643 check character) or 15-digit (old form) Chinese resident ID
    number is well formed: checksum and a real birth date."""
    if len(number) == 18:
        body, check = number[:17], number[17].upper()
        if not body.isdigit():
            return False
        total = sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS))
        if _ID_CHECK[total % 11] != check:
            return False
        year = int(number[6:10])
        return 1900 <= year <= datetime.date.today().year and _real_date(year, int(number[10:12]), int(number[12:14]))
    if len(number) == 15 and number.isdigit():
        return _real_date(1900 + int(number[6:8]), int(number[8:10]), int(number[10:12]))
    return False


def resolve_entities(entities: Iterable[str] | None) -> tuple[str, ...]:
    """The types to mask: all of them for None; else the names given, checked (ValueError lists the
    valid names for an unknown one)."""
    if entities is None:
        return PII_ENTITIES
    if isinstance(entities, str):
        entities = [entities]
    chosen: list[str] = []
    for name in entities:
        key = str(name).strip().lower()
        if key not in PII_ENTITIES:
            raise ValueError(f"unknown PII type '{name}'; valid types: {', '.join(PII_ENTITIES)}")
        if key not in chosen:
            chosen.append(key)
    return tuple(chosen)


def _after(text: str, start: int, pattern: re.Pattern[str], width: int = 24) -> bool:
    return pattern.search(text[max(0, start - width) : start]) is not None


def _compact(value: str) -> str:
    return value.replace(" ", "").replace("-", "")


class _Finder:
    """Collect non-overlapping items; the first detector to claim characters keeps them."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.items: list[PiiItem] = []
        self.taken = bytearray(len(text))

    def free(self, start: int, end: int) -> bool:
        return not any(self.taken[start:end])

    def add(self, kind: str, start: int, end: int) -> None:
        if start < end and self.free(start, end):
            self.items.append(PiiItem(kind, start, end, self.text[start:end]))
            self.taken[start:end] = b"\x01" * (end - start)

    def matches(self, pattern: re.Pattern[str]) -> Iterator[re.Match[str]]:
        for match in pattern.finditer(self.text):
            if self.free(match.start(), match.end()):
                yield match


def _emails(f: _Finder) -> None:
    for m in f.matches(_EMAIL):
        f.add("email", m.start(), m.end())


def _ips(f: _Finder) -> None:
    for m in f.matches(_IPV6):
        value = m.group().split("%")[0]
        if not any(c.isdigit() for c in value):
            continue  # C++'s a::b and dead::beef are valid addresses but never meant as one
        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            continue
        f.add("ip", m.start(), m.end())
    for m in f.matches(_IPV4):
        try:
            ipaddress.IPv4Address(m.group())
        except ValueError:
            continue  # an octet over 255 or with a leading zero
        if _after(f.text, m.start(), _VERSION_BEFORE, 12):
            continue
        f.add("ip", m.start(), m.end())


def _ids_cards_accounts(f: _Finder) -> None:
    for m in f.matches(_CN_ID18):
        if cn_id_valid(m.group()):
            f.add("cn_id", m.start(), m.end())
    for m in f.matches(_IBAN):
        # The match may run into a following upper-case word: try the longest valid prefix.
        value = m.group()
        ends = [i + 1 for i, c in enumerate(value) if c != " "]
        for end in reversed(ends):
            if iban_valid(value[:end].replace(" ", "")):
                f.add("account", m.start(), m.start() + end)
                break
    for m in f.matches(_DIGITS):
        digits = _compact(m.group())
        if luhn_valid(digits):
            f.add("card", m.start(), m.end())
    for m in f.matches(_CN_ID15):
        if cn_id_valid(m.group()):
            f.add("cn_id", m.start(), m.end())
    for m in f.matches(_ACCOUNT_LABEL):
        run = _LABELLED_RUN.match(f.text, m.end())
        if run is not None:
            f.add("account", run.start(), run.end())
    for m in f.matches(_DIGITS):
        digits = _compact(m.group())
        if 16 <= len(digits) <= 19 and not _after(f.text, m.start(), _NOT_PERSONAL):
            f.add("account", m.start(), m.end())


def _phones(f: _Finder) -> None:
    for m in f.matches(_PHONE_INTL):
        digits = sum(c.isdigit() for c in m.group())
        if 8 <= digits <= 15:
            f.add("phone", m.start(), m.end())
    for pattern in (_PHONE_CN_MOBILE, _PHONE_CN_LANDLINE, _PHONE_US):
        for m in f.matches(pattern):
            if not _after(f.text, m.start(), _NOT_PERSONAL):
                f.add("phone", m.start(), m.end())


def find_pii(text: str) -> list[PiiItem]:
    """Every item of personal data in ``text``, of every type, in text order, without overlaps."""
    if not text or not any(c.isdigit() or c == "@" or c == ":" for c in text):
        return []
    finder = _Finder(text)
    for detect in (_emails, _ips, _ids_cards_accounts, _phones):
        detect(finder)
    return sorted(finder.items, key=lambda item: item.start)


def _mask(text: str, chosen: tuple[str, ...], counts: Counter[str]) -> str:
    items = [item for item in find_pii(text) if item.type in chosen]
    if not items:
        return text
    parts: list[str] = []
    position = 0
    for item in items:
        parts.append(text[position : item.start])
        parts.append(PLACEHOLDERS[item.type])
        counts[item.type] += 1
        position = item.end
    parts.append(text[position:])
    return "".join(parts)


def mask_text(text: str, entities: Iterable[str] | None = None) -> str:
    """``text`` with every item of the given types (all of :data:`PII_ENTITIES` when None) replaced
    by its placeholder, e.g. ``"call 138-1234-5678"`` → ``"call <PHONE>"``. An unknown type name is
    a ValueError that lists the valid ones."""
    return _mask(text, resolve_entities(entities), Counter())


def mask_text_counts(text: str, entities: Iterable[str] | None = None) -> tuple[str, dict[str, int]]:
    """Like :func:`mask_text`, and how many items of each type were masked (types with none left out)."""
    counts: Counter[str] = Counter()
    masked = _mask(text, resolve_entities(entities), counts)
    return masked, dict(counts)


@dataclass(slots=True)
class PiiMasker:
    """Mask many texts with one choice of types and count what was masked, per type."""

    entities: tuple[str, ...] = PII_ENTITIES
    counts: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.entities = resolve_entities(self.entities)

    def __call__(self, text: str) -> str:
        return _mask(text, self.entities, self.counts)

    def mask_tokens(self, tokens: list[str]) -> list[str]:
        """Mask a sentence given as tokens, keeping one token per token (so tags stay aligned).

        The tokens are joined (with a space, or with nothing between two one-character tokens, as
        in Chinese text read a character a line) so items split over tokens are found; the part of
        each token an item covers becomes the placeholder: ``"tel:13812345678,"`` → ``"tel:<PHONE>,"``,
        and every token of ``138 1234 5678`` becomes ``<PHONE>``. Counts are per item, not per token.
        """
        if not tokens:
            return tokens
        starts: list[int] = []
        pieces: list[str] = []
        position = 0
        for i, token in enumerate(tokens):
            if i:
                sep = "" if len(token) == 1 and len(tokens[i - 1]) == 1 else " "
                pieces.append(sep)
                position += len(sep)
            starts.append(position)
            pieces.append(token)
            position += len(token)
        items = [item for item in find_pii("".join(pieces)) if item.type in self.entities]
        if not items:
            return tokens
        out = list(tokens)
        for item in items:
            self.counts[item.type] += 1
            for i, token in enumerate(tokens):
                lo, hi = max(item.start, starts[i]), min(item.end, starts[i] + len(token))
                if lo >= hi:
                    continue
                current = out[i]
                # Earlier items in this token were already replaced: cut relative to the token's end
                # when the placeholder sits before this item.
                offset = len(current) - len(token)
                a, b = lo - starts[i] + offset, hi - starts[i] + offset
                out[i] = current[:a] + PLACEHOLDERS[item.type] + current[b:]
        return out

    def mask_spans(self, text: str, spans: Sequence[tuple[int, int]]) -> tuple[str, list[tuple[int, int]]]:
        """Mask a text that has character spans (NER entities, end exclusive) and move the spans to
        the masked text: a span ending before an item shifts, and a span boundary inside an item
        moves to the placeholder's edge, so an entity that is or contains an item still covers its
        placeholder (``[start, end)`` stays non-empty)."""
        items = [item for item in find_pii(text) if item.type in self.entities]
        if not items:
            return text, list(spans)
        parts: list[str] = []
        # (old start, old end, new start, new end) of each item
        moved: list[tuple[int, int, int, int]] = []
        position = shift = 0
        for item in items:
            parts.append(text[position : item.start])
            placeholder = PLACEHOLDERS[item.type]
            parts.append(placeholder)
            self.counts[item.type] += 1
            moved.append((item.start, item.end, item.start + shift, item.start + shift + len(placeholder)))
            shift += len(placeholder) - (item.end - item.start)
            position = item.end
        parts.append(text[position:])

        def new_offset(offset: int, is_end: bool) -> int:
            delta = 0
            for old_start, old_end, new_start, new_end in moved:
                if offset <= old_start:
                    break
                if offset < old_end or (is_end and offset == old_end):
                    return new_end if is_end else new_start
                delta = new_end - old_end
            return offset + delta

        return "".join(parts), [(new_offset(a, False), new_offset(b, True)) for a, b in spans]

    def summary(self) -> dict[str, int]:
        """Items masked so far, per type, in :data:`PII_ENTITIES` order (types with none left out)."""
        return {name: self.counts[name] for name in PII_ENTITIES if self.counts[name]}
