"""Parse people's names into the ASCII tokens that email addresses are built from.

A work address is made from a person's name by the company's mail admins, who fold it to
lower-case ASCII letters: ``José García-López`` becomes ``jose.garcialopez`` (or
``jose.garcia``), ``Jürgen Müller`` becomes ``jurgen.muller`` (or ``juergen.mueller``),
``Marco van der Sar`` becomes ``marco.vandersar`` (or ``marco.sar``). :func:`parse_name`
turns a free-form name into a :class:`ParsedName` holding the most likely ("primary") tokens
and the alternative spellings a company might have chosen instead, each tagged with a
:class:`VariantKind` so the permutation code can give it a lower prior.

What it handles:

- Honorifics (Dr, Mr, Prof, Sir...) before the name and suffixes (Jr, III, PhD, MBA...) after
  it are removed and kept in ``honorific`` / ``suffix``.
- ``Last, First`` order (one comma), suffix-only comma parts (``John Smith, Jr.``).
- Particles (van, de, von der, da, al, bin, st...) stay in the joined surname, with an
  alternative without them; hyphenated and compound surnames give the joined form, the first
  part, the last part and the hyphen-kept form.
- Initials (``J. R. R. Tolkien``, ``John S.``): a one-letter Latin token is an initial, so
  patterns that need the full name are not rendered from it.
- Unicode is folded with anyascii (é→e, ß→ss, ø→o, æ→ae, ł→l); German and Scandinavian letters
  also get the transcribed alternative (ä→ae, ö→oe, ü→ue, ø→oe, å→aa), primary stays "a".
- Cyrillic, Greek, Vietnamese, Chinese, Korean and Japanese kana are transliterated; CJK names
  are read family name first. Japanese names written in kanji only cannot be romanised
  without a dictionary (anyascii reads them as Chinese), so their guesses are poor.
- Nicknames from a small vendored table (``data/nicknames.csv``) and a quoted nickname in the
  name itself (``William "Bill" Smith``) become alternatives.

Bad input raises :class:`InvalidName` with a message a user can act on.
"""

from __future__ import annotations

import csv
import functools
import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from anyascii import anyascii

from enrichment.emails.name_tables import (
    CHINESE_COMPOUND_SURNAMES,
    HONORIFICS,
    KOREAN_COMPOUND_SURNAMES,
    KOREAN_SURNAMES,
    PARTICLES,
    SUFFIXES,
    TRANSCRIPTIONS,
    VIETNAMESE_SURNAMES,
)

DATA_DIR = Path(__file__).resolve().parent / "data"


class InvalidName(ValueError):
    """The text cannot be read as a person's name (empty, digits, only a title...)."""


class VariantKind(StrEnum):
    """How an alternative spelling of a name was derived (the permutation priors key on it)."""

    PRIMARY = "primary"
    TRANSLITERATION = "transliteration"  # ä→ae, ø→oe, Korean Kim/Gim, Dmitriy/Dmitry
    FIRST_NAME_FIRST_PART = "first_name_first_part"  # Jean-Pierre → jean
    HYPHENATED = "hyphenated"  # hyphen kept: jean-pierre, garcia-lopez
    SURNAME_FIRST_PART = "surname_first_part"  # García-López → garcia
    SURNAME_LAST_PART = "surname_last_part"  # da Silva Santos → santos
    SURNAME_WITHOUT_PARTICLE = "surname_without_particle"  # van der Sar → sar
    STATED_NICKNAME = "stated_nickname"  # William "Bill" Smith → bill
    NICKNAME = "nickname"  # from the vendored table: william → bill, will...


@dataclass(frozen=True)
class NameVariant:
    """One way a company may have spelled the person's name in an address."""

    first: str
    last: str
    kind: VariantKind
    first_is_initial: bool = False
    last_is_initial: bool = False


@dataclass(frozen=True)
class ParsedName:
    """A name split into lower-case ASCII tokens ready for address patterns.

    ``first``/``last`` are the primary tokens (``last`` is the joined surname, particles
    included: ``vandersar``); ``last_parts`` are the surname's pieces. ``first_variants`` and
    ``last_variants`` list every spelling of each side, primary first; ``alternatives`` pairs
    them into whole-name variants tagged with their :class:`VariantKind`.
    """

    original: str
    first: str
    middle: tuple[str, ...] = ()
    last: str = ""
    last_parts: tuple[str, ...] = ()
    first_variants: tuple[str, ...] = ()
    last_variants: tuple[str, ...] = ()
    nicknames: tuple[str, ...] = ()
    honorific: str = ""
    suffix: str = ""
    first_is_initial: bool = False
    last_is_initial: bool = False
    alternatives: tuple[NameVariant, ...] = ()

    @property
    def primary(self) -> NameVariant:
        return NameVariant(
            self.first,
            self.last,
            VariantKind.PRIMARY,
            first_is_initial=self.first_is_initial,
            last_is_initial=self.last_is_initial,
        )

    def variants(self) -> tuple[NameVariant, ...]:
        """The primary spelling followed by every alternative."""
        return (self.primary, *self.alternatives)


APOSTROPHES = "'’ʼ`´ʻ‘"
HYPHENS = "-‐‑‒–"
_ALLOWED_PUNCTUATION = set(APOSTROPHES + HYPHENS + '.,"“”„«»()')
_INITIAL_RE = re.compile(r"^[A-Za-z]\.?$")
_INITIALS_RE = re.compile(r"^(?:[A-Za-z]\.){2,}$")
_STATED_NICKNAME_RE = re.compile(r'["“”„«»]([^"“”„«»]+)["“”„«»]|\(([^)]*)\)')
# Letters only Vietnamese uses (â, ê, ô, ă and đ also occur in French, Romanian, Croatian).
_VIETNAMESE_LETTERS = set("ơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ")


def _is_cjk_char(ch: str) -> bool:
    code = ord(ch)
    return (
        0x4E00 <= code <= 0x9FFF  # CJK unified ideographs
        or 0x3400 <= code <= 0x4DBF  # extension A
        or 0xF900 <= code <= 0xFAFF  # compatibility ideographs
        or 0x3040 <= code <= 0x30FF  # hiragana and katakana
        or 0xAC00 <= code <= 0xD7AF  # hangul syllables
    )


def _is_hangul(ch: str) -> bool:
    return 0xAC00 <= ord(ch) <= 0xD7AF


def _is_kana(ch: str) -> bool:
    return 0x3040 <= ord(ch) <= 0x30FF


def _is_cyrillic(text: str) -> bool:
    return any(0x0400 <= ord(ch) <= 0x04FF for ch in text)


# --- nicknames ----------------------------------------------------------------------------


@functools.cache
def _nickname_table() -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """(name → nicknames, nickname → names), both in file order."""
    nicks: dict[str, list[str]] = {}
    formals: dict[str, list[str]] = {}
    with (DATA_DIR / "nicknames.csv").open(encoding="utf-8") as handle:
        rows = csv.reader(line for line in handle if line.strip() and not line.startswith("#"))
        next(rows)  # header
        for name, nickname in rows:
            nicks.setdefault(name, []).append(nickname)
            formals.setdefault(nickname, []).append(name)
    return (
        {k: tuple(v) for k, v in nicks.items()},
        {k: tuple(v) for k, v in formals.items()},
    )


def nickname_of(name: str) -> tuple[str, ...]:
    """The full names a nickname is short for: ``nickname_of("bill") == ("william",)``."""
    return _nickname_table()[1].get(name.lower(), ())


def nickname_alternatives(name: str) -> tuple[str, ...]:
    """Every name a person called ``name`` may use instead: its full forms, then its nicknames."""
    key = name.lower()
    nicks, formals = _nickname_table()
    return tuple(dict.fromkeys((*formals.get(key, ()), *nicks.get(key, ()))))


# --- folding ------------------------------------------------------------------------------


def fold(text: str) -> str:
    """Fold text to the lower-case ASCII letters an address would use (``O'Brien`` → ``obrien``)."""
    return _fold_piece(text)[0]


def _fold_piece(text: str) -> tuple[str, str]:
    """(primary, transcribed) ASCII forms of one name piece without spaces or hyphens."""
    for apostrophe in APOSTROPHES:
        text = text.replace(apostrophe, "")
    # Greek "ου" is "ou" in every romanisation people use; anyascii maps letter by letter ("oy").
    text = re.sub("[οό][υύ]", "ou", text)
    text = re.sub("Ο[υύ]", "Ou", text)
    text = text.replace("ΟΥ", "OU")
    primary = _ascii_letters(text)
    transcribed_text = "".join(TRANSCRIPTIONS.get(ch.lower(), ch) for ch in text)
    transcribed = _ascii_letters(transcribed_text)
    if _is_cyrillic(text):
        # Дмитрий: anyascii gives "dmitriy", passports and most mailboxes say "dmitry".
        transcribed = re.sub("(?:iy|yy|ij)$", "y", transcribed)
    return primary, transcribed


def _ascii_letters(text: str) -> str:
    return re.sub(r"[^a-z]", "", anyascii(text).lower())


# --- tokens -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    """One whitespace-separated word of the name, folded; ``pieces`` are its hyphen parts."""

    raw: str
    pieces: tuple[str, ...]
    alt_pieces: tuple[str, ...]
    initial: bool

    @property
    def joined(self) -> str:
        return "".join(self.pieces)

    @property
    def is_particle(self) -> bool:
        return len(self.pieces) == 1 and self.pieces[0] in PARTICLES


def _make_token(raw: str) -> _Token | None:
    initial = bool(_INITIAL_RE.match(raw))
    parts = [p for p in re.split(f"[{HYPHENS}]", raw.replace(".", "")) if p]
    folded = [_fold_piece(p) for p in parts]
    pieces = tuple(f[0] for f in folded if f[0])
    alt_pieces = tuple(f[1] for f in folded if f[0])
    if not pieces:
        return None
    return _Token(raw=raw, pieces=pieces, alt_pieces=alt_pieces, initial=initial)


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    for word in text.split():
        if _INITIALS_RE.match(word):
            # "J.R." is two initials, not one name.
            tokens.extend(t for t in (_make_token(ch) for ch in word if ch != ".") if t)
            continue
        token = _make_token(word)
        if token:
            tokens.append(token)
    return tokens


def _key(word: str) -> str:
    return word.replace(".", "").lower()


def _strip_titles(words: list[str], honorifics: list[str], suffixes: list[str]) -> list[str]:
    """Drop leading honorifics and trailing suffixes, keeping at least one word if possible."""
    words = list(words)
    while words and _key(words[0]) in HONORIFICS:
        honorifics.append(HONORIFICS[_key(words.pop(0))])
    while len(words) > 1 and _key(words[-1]) in SUFFIXES:
        suffixes.insert(0, SUFFIXES[_key(words.pop())])
    return words


# --- entry points -------------------------------------------------------------------------


def _clean(raw: object, what: str = "name") -> str:
    if not isinstance(raw, str):
        raise InvalidName(f"{what} must be text, not {type(raw).__name__}")
    text = " ".join(unicodedata.normalize("NFKC", raw).split())
    if any(ch.isdigit() for ch in text):
        raise InvalidName(f"{what} contains digits: {raw!r}")
    if "@" in text:
        raise InvalidName(f"{what} looks like an email address: {raw!r}")
    for ch in text:
        if not (ch.isspace() or ch in _ALLOWED_PUNCTUATION or unicodedata.category(ch)[0] in "LM"):
            raise InvalidName(f"{what} contains an unexpected character {ch!r}: {raw!r}")
    return text


def _extract_stated_nickname(text: str) -> tuple[str, str]:
    """Remove ``"Bill"`` or ``(Bill)`` from the name; return the rest and the folded nickname."""
    match = _STATED_NICKNAME_RE.search(text)
    if not match:
        return text, ""
    inner = (match.group(1) or match.group(2) or "").split()
    # Only one word reads as a nickname; "(Acme Sales)" or "(née Smith)" is a remark, dropped.
    nickname = fold(inner[0]) if len(inner) == 1 else ""
    return " ".join((text[: match.start()] + " " + text[match.end() :]).split()), nickname


def parse_name(raw: str) -> ParsedName:
    """Parse a free-form name ("Dr. José García-López", "Smith, John", "王伟")."""
    text = _clean(raw)
    text, stated = _extract_stated_nickname(text)
    if not text:
        raise InvalidName(f"name is empty: {raw!r}")
    if all(_is_cjk_char(ch) for ch in text.replace(" ", "")):
        return _parse_cjk(raw, text, stated)

    honorifics: list[str] = []
    suffixes: list[str] = []
    segments = [s.strip() for s in text.split(",")]
    if not all(segments):
        # "Smith," is a surname whose given name got lost; guessing would mislead.
        raise InvalidName(f"empty part before or after a comma: {raw!r}")
    kept = segments[:1]
    for segment in segments[1:]:
        words = segment.split()
        if all(_key(w) in SUFFIXES or _key(w) in HONORIFICS for w in words):
            # "John Smith, Jr." or "Smith, John, PhD": a title after a comma is not a name.
            for word in words:
                if _key(word) in SUFFIXES:
                    suffixes.append(SUFFIXES[_key(word)])
                else:
                    honorifics.append(HONORIFICS[_key(word)])
            continue
        kept.append(segment)
    if len(kept) > 2:
        raise InvalidName(f"too many comma-separated parts to be one name: {raw!r}")

    if len(kept) == 2:
        # "Last, First Middle": the part before the comma is the whole surname.
        surname = _tokens(" ".join(_strip_titles(kept[0].split(), honorifics, suffixes)))
        given = _tokens(" ".join(_strip_titles(kept[1].split(), honorifics, suffixes)))
        if not given:
            raise InvalidName(f"no given name after the comma: {raw!r}")
        first, middle = given[0], given[1:]
    else:
        words = kept[0].split()
        tokens = _tokens(" ".join(_strip_titles(words, honorifics, suffixes)))
        if not tokens:
            raise InvalidName(f"no name left after removing titles: {raw!r}")
        vietnamese = _looks_vietnamese(" ".join(words))
        first, middle, surname = _split_given_order(tokens, vietnamese=vietnamese)

    if first.initial and (not surname or all(t.initial for t in surname)):
        raise InvalidName(f"only initials, no name to build an address from: {raw!r}")
    return _build(
        raw,
        first=first,
        middle=middle,
        surname=surname,
        stated=stated,
        honorific=" ".join(honorifics),
        suffix=" ".join(s for s in suffixes if s),
    )


def parse_name_parts(first: str, last: str) -> ParsedName:
    """Parse a name given as separate first-name and last-name columns (CSV rows)."""
    first_text = _clean(first or "", "first name")
    last_text = _clean(last or "", "last name")
    if not last_text:
        return parse_name(first_text)
    if not first_text:
        raise InvalidName(f"first name is empty (last name {last!r})")
    if all(_is_cjk_char(ch) for ch in (first_text + last_text).replace(" ", "")):
        return _parse_cjk(f"{first} {last}", f"{last_text} {first_text}", "")
    first_text, stated = _extract_stated_nickname(first_text)
    honorifics: list[str] = []
    suffixes: list[str] = []
    given = _tokens(" ".join(_strip_titles(first_text.split(), honorifics, suffixes)))
    surname = _tokens(" ".join(_strip_titles(last_text.split(), honorifics, suffixes)))
    if not given:
        raise InvalidName(f"no first name left after removing titles: {first!r}")
    if not surname:
        raise InvalidName(f"no last name left after removing titles: {last!r}")
    return _build(
        f"{first} {last}".strip(),
        first=given[0],
        middle=given[1:],
        surname=surname,
        stated=stated,
        honorific=" ".join(honorifics),
        suffix=" ".join(suffixes),
    )


def _looks_vietnamese(text: str) -> bool:
    lowered = text.lower()
    if any(ch in _VIETNAMESE_LETTERS for ch in lowered):
        return True
    words = lowered.split()
    return len(words) >= 3 and words[0] in VIETNAMESE_SURNAMES


def _split_given_order(
    tokens: list[_Token], *, vietnamese: bool
) -> tuple[_Token, list[_Token], list[_Token]]:
    """(first, middle, surname) for a name written in given-name-first order."""
    if len(tokens) == 1:
        return tokens[0], [], []
    if vietnamese:
        # Nguyễn Văn Hùng: family name first, the given name is the last word.
        return tokens[-1], tokens[1:-1], tokens[:1]
    # The surname starts at the first particle that is followed by a real name (so the
    # "Al" of "Al Gore" and a trailing "Le" stay names), else it is the last word.
    for index in range(1, len(tokens) - 1):
        if tokens[index].is_particle and any(not t.is_particle for t in tokens[index + 1 :]):
            return tokens[0], tokens[1:index], tokens[index:]
    return tokens[0], tokens[1:-1], tokens[-1:]


def _parse_cjk(raw: str, text: str, stated: str) -> ParsedName:
    words = text.split()
    if len(words) >= 2:
        family, given = words[0], "".join(words[1:])
    else:
        family, given = _split_cjk_run(words[0])
    given_primary, given_alt = _romanise_cjk(given)
    if not family:
        return _assemble(raw, first=given_primary, first_alt=given_alt, stated=stated)
    if all(_is_hangul(ch) for ch in family) and family in KOREAN_SURNAMES:
        family_primary = KOREAN_SURNAMES[family]
        family_alt = _ascii_letters(family)
    else:
        family_primary, family_alt = _romanise_cjk(family)
    return _assemble(
        raw,
        first=given_primary,
        first_alt=given_alt,
        last_parts=(family_primary,),
        last_alt=family_alt,
        stated=stated,
    )


def _split_cjk_run(run: str) -> tuple[str, str]:
    """(family, given) of a name written without a space, or ("", run) if it cannot be split."""
    if len(run) < 2 or any(_is_kana(ch) for ch in run):
        return "", run
    if run[:2] in CHINESE_COMPOUND_SURNAMES or run[:2] in KOREAN_COMPOUND_SURNAMES:
        return (run[:2], run[2:]) if len(run) > 2 else ("", run)
    if len(run) == 4 and not _is_hangul(run[0]):
        return run[:2], run[2:]  # four kanji: almost always a Japanese 2 + 2 name
    return run[:1], run[1:]


def _romanise_cjk(text: str) -> tuple[str, str]:
    """(primary, alternative) romanisation; kana drops the long-vowel spelling (tarou → taro)."""
    plain = _ascii_letters(text)
    if any(_is_kana(ch) for ch in text):
        return re.sub("ou", "o", plain.replace("uu", "u")), plain
    return plain, plain


def _build(
    raw: str,
    *,
    first: _Token,
    middle: list[_Token],
    surname: list[_Token],
    stated: str,
    honorific: str,
    suffix: str,
) -> ParsedName:
    """Turn the surname tokens into parts and variants, then assemble the ParsedName."""
    parts: list[str] = []
    alt_parts: list[str] = []
    particle_flags: list[bool] = []
    for token in surname:
        for piece, alt in zip(token.pieces, token.alt_pieces, strict=True):
            parts.append(piece)
            alt_parts.append(alt)
            # A hyphenated "Al-Hassan" starts with a particle just like "Al Hassan".
            particle_flags.append(piece in PARTICLES)
    if parts and all(particle_flags):
        particle_flags = [False] * len(parts)  # "Le" alone is a surname, not a particle

    last_variants: list[tuple[str, VariantKind]] = []
    names = [p for p, is_particle in zip(parts, particle_flags, strict=True) if not is_particle]
    if any(particle_flags):
        last_variants.append(("".join(names), VariantKind.SURNAME_WITHOUT_PARTICLE))
    if len(names) >= 2:
        first_name_index = particle_flags.index(False)
        last_variants.append(
            ("".join(parts[: first_name_index + 1]), VariantKind.SURNAME_FIRST_PART)
        )
        last_variants.append((names[-1], VariantKind.SURNAME_LAST_PART))
    if any(len(t.pieces) > 1 for t in surname):
        last_variants.append(("".join("-".join(t.pieces) for t in surname), VariantKind.HYPHENATED))

    first_variants: list[tuple[str, VariantKind]] = []
    if len(first.pieces) > 1:
        first_variants.append((first.pieces[0], VariantKind.FIRST_NAME_FIRST_PART))
        first_variants.append(("-".join(first.pieces), VariantKind.HYPHENATED))

    return _assemble(
        raw,
        first=first.joined,
        first_alt="".join(first.alt_pieces),
        middle=tuple(t.joined for t in middle),
        last_parts=tuple(parts),
        last_alt="".join(alt_parts),
        first_is_initial=first.initial,
        last_is_initial=len(surname) == 1 and surname[0].initial,
        extra_first=first_variants,
        extra_last=last_variants,
        stated=stated,
        honorific=honorific,
        suffix=suffix,
    )


def _assemble(
    raw: str,
    *,
    first: str,
    first_alt: str = "",
    middle: tuple[str, ...] = (),
    last_parts: tuple[str, ...] = (),
    last_alt: str = "",
    first_is_initial: bool = False,
    last_is_initial: bool = False,
    extra_first: list[tuple[str, VariantKind]] | None = None,
    extra_last: list[tuple[str, VariantKind]] | None = None,
    stated: str = "",
    honorific: str = "",
    suffix: str = "",
) -> ParsedName:
    last = "".join(last_parts)
    if not first:
        raise InvalidName(f"no letters left in the given name after transliteration: {raw!r}")

    alternatives: list[NameVariant] = []
    seen = {(first, last)}

    def add(first_: str, last_: str, kind: VariantKind) -> None:
        if first_ and (first_, last_) not in seen:
            seen.add((first_, last_))
            alternatives.append(
                NameVariant(
                    first_,
                    last_,
                    kind,
                    first_is_initial=first_is_initial and first_ == first,
                    last_is_initial=last_is_initial and last_ == last,
                )
            )

    # A company that writes "ae" for "ä" does so for the whole name, so both sides change.
    add(first_alt or first, last_alt or last, VariantKind.TRANSLITERATION)
    for value, kind in extra_first or ():
        add(value, last, kind)
    for value, kind in extra_last or ():
        add(first, value, kind)
    nicknames = tuple(
        n for n in dict.fromkeys((stated, *nickname_alternatives(first))) if n and n != first
    )
    if stated:
        add(stated, last, VariantKind.STATED_NICKNAME)
    for nickname in nicknames:
        add(nickname, last, VariantKind.NICKNAME)

    first_variants = tuple(
        dict.fromkeys(
            [first]
            + [v.first for v in alternatives if v.kind not in _NICKNAME_KINDS and v.first != first]
        )
    )
    last_variants = tuple(dict.fromkeys([last] + [v.last for v in alternatives if v.last != last]))
    return ParsedName(
        original=raw,
        first=first,
        middle=middle,
        last=last,
        last_parts=last_parts,
        first_variants=first_variants,
        last_variants=last_variants if last else (),
        nicknames=nicknames,
        honorific=honorific,
        suffix=suffix,
        first_is_initial=first_is_initial,
        last_is_initial=last_is_initial,
        alternatives=tuple(alternatives),
    )


_NICKNAME_KINDS = frozenset({VariantKind.NICKNAME, VariantKind.STATED_NICKNAME})
