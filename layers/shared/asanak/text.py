"""How many SMS parts a text needs (3GPP TS 23.038 alphabets, concatenated SMS per TS 23.040).

- **GSM-7** when every character is in the GSM 7-bit default alphabet or its extension table.
  Extension characters (form feed, ``^ { } \\ [ ~ ] |`` and ``€``) are sent as an escape plus the
  character and cost 2 septets. One part holds 160 septets; a concatenated part holds 153.
- **UCS-2** otherwise (any Persian or Arabic letter, emoji, ``ç``…). Units are UTF-16 code units, so a
  character outside the Basic Multilingual Plane (most emoji) costs 2. One part holds 70 units; a
  concatenated part holds 67.

Splitting follows what handsets and SMSCs do: a two-septet extension character and a surrogate pair
are never cut across two parts. For most texts the count is ``ceil(units / 153)`` (or ``/ 67``);
when such a pair would straddle a part boundary it moves whole to the next part, which can add one.

The empty text counts as 0 units in 1 part (GSM-7): one (empty) SMS would be sent. Callers refuse
empty texts before this matters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Encoding", "SmsParts", "count_parts"]

Encoding = Literal["GSM-7", "UCS-2"]

GSM7_SINGLE = 160
GSM7_CONCATENATED = 153
UCS2_SINGLE = 70
UCS2_CONCATENATED = 67

# The GSM 7-bit default alphabet in code order 0x00-0x7F, with 0x1B (the escape to the extension
# table) left out: a literal ESC in a text is not a printable GSM character.
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")


@dataclass(frozen=True)
class SmsParts:
    """``units`` are septets for GSM-7 (extension characters count 2) or UTF-16 units for UCS-2."""

    encoding: Encoding
    units: int
    parts: int


def _gsm7_units(text: str) -> list[int] | None:
    units: list[int] = []
    for char in text:
        if char in _GSM7_BASIC:
            units.append(1)
        elif char in _GSM7_EXTENSION:
            units.append(2)
        else:
            return None
    return units


def _ucs2_units(text: str) -> list[int]:
    return [2 if ord(char) > 0xFFFF else 1 for char in text]


def _split(units: list[int], single: int, concatenated: int) -> int:
    """Parts needed when no character's units may be split across two parts."""
    if sum(units) <= single:
        return 1
    parts, used = 1, 0
    for size in units:
        if used + size > concatenated:
            parts += 1
            used = 0
        used += size
    return parts


def count_parts(text: str) -> SmsParts:
    """Return the encoding, the number of units and the number of SMS parts ``text`` needs."""
    gsm7 = _gsm7_units(text)
    if gsm7 is not None:
        return SmsParts("GSM-7", sum(gsm7), _split(gsm7, GSM7_SINGLE, GSM7_CONCATENATED))
    ucs2 = _ucs2_units(text)
    return SmsParts("UCS-2", sum(ucs2), _split(ucs2, UCS2_SINGLE, UCS2_CONCATENATED))
