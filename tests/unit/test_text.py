"""SMS part counting: GSM-7 (160 / 153 septets) and UCS-2 (70 / 67 UTF-16 units)."""

from __future__ import annotations

import math

import pytest
from asanak.text import SmsParts, count_parts
from hypothesis import given
from hypothesis import strategies as st

GSM7_BASIC_SAMPLE = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./09:;<=>?¡AZÄÖÑÜ§¿azäöñüà"
EXTENSION = "\f^{}\\[~]|€"
PERSIAN_GREETING = "سلام، پیام شما دریافت شد. کد پیگیری: ۱۲۳۴"
EMOJI = "😀"  # outside the BMP: 2 UTF-16 units


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a" * 160, SmsParts("GSM-7", 160, 1)),
        ("a" * 161, SmsParts("GSM-7", 161, 2)),
        ("a" * 153 * 2, SmsParts("GSM-7", 306, 2)),
        ("a" * (153 * 2 + 1), SmsParts("GSM-7", 307, 3)),
        ("a" * 153 * 3, SmsParts("GSM-7", 459, 3)),
        ("a" * (153 * 3 + 1), SmsParts("GSM-7", 460, 4)),
    ],
)
def test_given_plain_gsm7_text_at_a_part_boundary_when_counted_then_160_single_and_153_per_part(
    text: str, expected: SmsParts
) -> None:
    assert count_parts(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("س" * 70, SmsParts("UCS-2", 70, 1)),
        ("س" * 71, SmsParts("UCS-2", 71, 2)),
        ("س" * 134, SmsParts("UCS-2", 134, 2)),
        ("س" * 135, SmsParts("UCS-2", 135, 3)),
        ("س" * 201, SmsParts("UCS-2", 201, 3)),
        ("س" * 202, SmsParts("UCS-2", 202, 4)),
    ],
)
def test_given_ucs2_text_at_a_part_boundary_when_counted_then_70_single_and_67_per_part(
    text: str, expected: SmsParts
) -> None:
    assert count_parts(text) == expected


@pytest.mark.parametrize("char", list(EXTENSION))
def test_given_an_extension_character_when_counted_then_it_costs_two_septets(char: str) -> None:
    assert count_parts(char) == SmsParts("GSM-7", 2, 1)
    assert count_parts("a" * 158 + char) == SmsParts("GSM-7", 160, 1)
    assert count_parts("a" * 159 + char) == SmsParts("GSM-7", 161, 2)


def test_given_only_euro_signs_when_counted_then_80_fit_one_part_and_81_need_two() -> None:
    assert count_parts("€" * 80) == SmsParts("GSM-7", 160, 1)
    assert count_parts("€" * 81) == SmsParts("GSM-7", 162, 2)


def test_given_every_basic_gsm7_character_when_counted_then_gsm7_one_septet_each() -> None:
    assert count_parts(GSM7_BASIC_SAMPLE) == SmsParts("GSM-7", len(GSM7_BASIC_SAMPLE), 1)


def test_given_persian_text_when_counted_then_ucs2_one_unit_per_letter() -> None:
    assert count_parts(PERSIAN_GREETING) == SmsParts("UCS-2", len(PERSIAN_GREETING), 1)


def test_given_english_text_with_one_persian_letter_when_counted_then_whole_text_is_ucs2() -> None:
    text = "Your code is 1234" + "ی"
    assert count_parts(text) == SmsParts("UCS-2", 18, 1)
    assert count_parts("a" * 69 + "ی") == SmsParts("UCS-2", 70, 1)
    assert count_parts("a" * 70 + "ی") == SmsParts("UCS-2", 71, 2)


@pytest.mark.parametrize("char", ["ç", "á", "ğ", "\x1b", "`", "“", "\t"])
def test_given_a_latin_character_outside_gsm7_when_counted_then_ucs2(char: str) -> None:
    assert count_parts("hello " + char).encoding == "UCS-2"


def test_given_characters_outside_the_bmp_when_counted_then_two_units_each() -> None:
    assert count_parts(EMOJI) == SmsParts("UCS-2", 2, 1)
    assert count_parts(EMOJI * 35) == SmsParts("UCS-2", 70, 1)
    assert count_parts(EMOJI * 35 + "a") == SmsParts("UCS-2", 71, 2)


def test_given_an_escape_pair_on_a_part_boundary_when_counted_then_it_moves_whole_to_the_next_part() -> None:
    # 152 + 2 + 152 = 306 septets: ceil(306/153) would say 2, but "€" cannot be split across parts.
    assert count_parts("a" * 152 + "€" + "a" * 152) == SmsParts("GSM-7", 306, 3)
    # The same septets with the pair inside a part: 2 parts.
    assert count_parts("€" + "a" * 304) == SmsParts("GSM-7", 306, 2)


def test_given_a_surrogate_pair_on_a_part_boundary_when_counted_then_it_moves_whole_to_the_next_part() -> (
    None
):
    assert count_parts("س" * 66 + EMOJI + "س" * 66) == SmsParts("UCS-2", 134, 3)
    assert count_parts(EMOJI + "س" * 132) == SmsParts("UCS-2", 134, 2)


def test_given_empty_text_when_counted_then_zero_units_in_one_gsm7_part() -> None:
    assert count_parts("") == SmsParts("GSM-7", 0, 1)


def test_given_sms_parts_then_it_is_immutable() -> None:
    parts = count_parts("hi")
    with pytest.raises(AttributeError):
        parts.parts = 5  # type: ignore[misc]


@given(st.text(alphabet="abcXYZ 0123456789.,!?@", max_size=700))
def test_given_plain_gsm7_text_when_counted_then_parts_follow_the_formula(text: str) -> None:
    result = count_parts(text)
    expected = 1 if len(text) <= 160 else math.ceil(len(text) / 153)
    assert result == SmsParts("GSM-7", len(text), expected)


@given(st.text(alphabet="سلامپیکژچگ ۰۱۲۳abc", min_size=1, max_size=400))
def test_given_bmp_text_with_persian_when_counted_then_parts_follow_the_formula(text: str) -> None:
    result = count_parts(text)
    if result.encoding == "GSM-7":  # the draw happened to contain only "abc" and spaces
        return
    expected = 1 if len(text) <= 70 else math.ceil(len(text) / 67)
    assert result == SmsParts("UCS-2", len(text), expected)


@given(st.text(max_size=400))
def test_given_any_text_when_counted_then_parts_exceed_the_formula_only_by_unsplittable_pairs(
    text: str,
) -> None:
    result = count_parts(text)
    single, per_part = (160, 153) if result.encoding == "GSM-7" else (70, 67)
    formula = 1 if result.units <= single else math.ceil(result.units / per_part)
    # A pair moved to the next part leaves at most one unit of a part unused.
    worst = 1 if result.units <= single else math.ceil(result.units / (per_part - 1))
    assert formula <= result.parts <= worst
    if result.encoding == "UCS-2":
        assert result.units == len(text.encode("utf-16-le", "surrogatepass")) // 2
