"""Iranian phone numbers in the one canonical form the gateway stores and sends: ``98`` + 10 digits.

Accepted input forms (all give the same result)::

    09123456789   9123456789   +989123456789   00989123456789   989123456789
    0912 345 6789   0912-345-6789   (0912) 345.6789   ۰۹۱۲۳۴۵۶۷۸۹   ٠٩١٢٣٤٥٦٧٨٩
    021 6406 3188   +98 21 6406 3188   982164063188      (a Tehran landline)

The national number after ``98`` is always 10 digits and never starts with ``0``: mobiles start with
``9`` (``98 9xx xxx xxxx``), landlines with their area code (``1``-``8``, e.g. ``21`` for Tehran).
A bare 10-digit number without a prefix is accepted only for mobiles (``912…``); ``2164063188`` is
refused because nobody writes a landline that way and a short code could look the same.

Cleaning, before the digits are read:

- Persian (``۰``-``۹``) and Arabic-Indic (``٠``-``٩``) digits become ASCII digits;
- invisible marks that come with copy-and-paste (LRM/RLM, ZWNJ/ZWJ, bidi embeddings and isolates,
  the BOM, soft hyphens) are dropped;
- separators are dropped: any Unicode whitespace (including non-breaking spaces), ``-`` and the
  Unicode dashes, ``.``, ``(`` and ``)``. Parentheses are not checked for balance;
- one ``+`` is allowed, before the first digit, and must be followed by ``98``.

Anything else (letters, a second ``+``, a ``+`` between digits, other country codes, a ``0`` after
the country code as in ``+98 0912…``, the wrong number of digits) raises :class:`InvalidNumberError`.
"""

from __future__ import annotations

import re

__all__ = ["InvalidNumberError", "is_mobile", "normalize_number", "normalize_sender", "to_ascii_digits"]

COUNTRY_CODE = "98"
NATIONAL_LENGTH = 10
# Input longer than this is refused before it is cleaned (a formatted number with every separator
# imaginable stays well below it); it keeps error messages and work bounded.
MAX_INPUT_LENGTH = 100
# Sender numbers that are not phone numbers (short codes, service numbers) are kept as digits when
# they have this many digits.
MIN_SENDER_DIGITS = 3
MAX_SENDER_DIGITS = 20

INVISIBLE_MARKS = (
    "\u00ad"  # soft hyphen
    "\u061c"  # Arabic letter mark
    "\u200b\u200c\u200d\u200e\u200f"  # zero-width space, ZWNJ, ZWJ, LRM, RLM
    "\u202a\u202b\u202c\u202d\u202e"  # bidi embeddings and overrides
    "\u2060"  # word joiner
    "\u2066\u2067\u2068\u2069"  # bidi isolates
    "\ufeff"  # byte-order mark / zero-width no-break space
)
_ASCII_DIGITS_NO_MARKS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789", INVISIBLE_MARKS)
_SEPARATORS = frozenset(
    "-.()\u2010\u2011\u2012\u2013\u2014\u2015\u2212"  # hyphen, non-breaking hyphen, dashes, minus sign
)
_NATIONAL = re.compile(r"[1-9][0-9]{9}")
_CANONICAL_MOBILE = re.compile(r"989[0-9]{9}")
_PREVIEW_LENGTH = 40


class InvalidNumberError(ValueError):
    """The input is not a number this module can accept. ``value`` is the input exactly as given."""

    def __init__(self, value: str, reason: str = "") -> None:
        self.value = value
        self.reason = reason
        shown = value if len(value) <= _PREVIEW_LENGTH else value[:_PREVIEW_LENGTH] + "…"
        message = f"not an Iranian phone number: {shown!r}"
        super().__init__(f"{message} ({reason})" if reason else message)


def to_ascii_digits(value: str) -> str:
    """``value`` with Persian and Arabic-Indic digits made ASCII and invisible marks dropped."""
    return value.translate(_ASCII_DIGITS_NO_MARKS)


def _clean(value: str) -> tuple[bool, str]:
    """Return ``(has_plus, ascii_digits)``; raise :class:`InvalidNumberError` on anything else."""
    if len(value) > MAX_INPUT_LENGTH:
        raise InvalidNumberError(value, "too long")
    has_plus = False
    digits: list[str] = []
    for char in to_ascii_digits(value):
        if "0" <= char <= "9":
            digits.append(char)
        elif char in _SEPARATORS or char.isspace():
            continue
        elif char == "+":
            if has_plus or digits:
                raise InvalidNumberError(value, "'+' only once, before the digits")
            has_plus = True
        else:
            raise InvalidNumberError(value, f"unexpected character {char!r}")
    if not digits:
        raise InvalidNumberError(value, "no digits")
    return has_plus, "".join(digits)


def _national(value: str, has_plus: bool, digits: str) -> str:
    """The 10-digit national number, or raise."""
    if has_plus:
        if not digits.startswith(COUNTRY_CODE):
            raise InvalidNumberError(value, "country code is not +98")
        national = digits[len(COUNTRY_CODE) :]
    elif digits.startswith("00"):
        if not digits.startswith("00" + COUNTRY_CODE):
            raise InvalidNumberError(value, "country code is not 0098")
        national = digits[2 + len(COUNTRY_CODE) :]
    elif digits.startswith("0"):
        national = digits[1:]
    elif digits.startswith(COUNTRY_CODE) and len(digits) == len(COUNTRY_CODE) + NATIONAL_LENGTH:
        national = digits[len(COUNTRY_CODE) :]
    elif digits.startswith("9") and len(digits) == NATIONAL_LENGTH:
        national = digits
    elif digits.startswith(COUNTRY_CODE + "0"):
        raise InvalidNumberError(value, "0 after the country code")
    else:
        raise InvalidNumberError(value, "wrong length or prefix")
    if len(national) != NATIONAL_LENGTH:
        raise InvalidNumberError(value, "wrong length")
    if not _NATIONAL.fullmatch(national):
        raise InvalidNumberError(value, "national number starts with 0")
    return national


def normalize_number(value: str) -> str:
    """Return the Iranian phone number ``value`` as ``98`` + 10 digits (``989123456789``).

    Idempotent: a normalised number normalises to itself. Raises :class:`InvalidNumberError`.
    """
    has_plus, digits = _clean(value)
    return COUNTRY_CODE + _national(value, has_plus, digits)


def normalize_sender(value: str) -> str:
    """Return a sender (source) number in canonical form.

    Numbers that read as Iranian phone numbers are normalised like :func:`normalize_number`
    (``02164063188`` → ``982164063188``). Anything else made only of digits and separators is a
    short code or service number (``30001234``, ``98300012345``) and is returned as its ASCII digits,
    3 to 20 of them. A leading ``+`` on such a number (a foreign sender, ``+44…``) is dropped, unless
    the digits alone would read as an Iranian number: ``+0912…`` is a malformed number and refused.
    Letters and other junk raise :class:`InvalidNumberError`. Idempotent.
    """
    has_plus, digits = _clean(value)
    try:
        return COUNTRY_CODE + _national(value, has_plus, digits)
    except InvalidNumberError:
        if not MIN_SENDER_DIGITS <= len(digits) <= MAX_SENDER_DIGITS:
            raise
        if has_plus and _is_phone_without_plus(value, digits):
            raise  # "+0912…": a malformed phone number, not a foreign sender
    return digits


def _is_phone_without_plus(value: str, digits: str) -> bool:
    try:
        _national(value, False, digits)
    except InvalidNumberError:
        return False
    return True


def is_mobile(normalized: str) -> bool:
    """True when ``normalized`` (an output of :func:`normalize_number`) is a mobile number (``989…``)."""
    return _CANONICAL_MOBILE.fullmatch(normalized) is not None
