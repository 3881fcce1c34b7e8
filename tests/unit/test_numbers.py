"""Iranian phone numbers: every accepted form gives ``98`` + 10 digits, everything else is refused."""

from __future__ import annotations

import re

import pytest
from asanak.numbers import InvalidNumberError, is_mobile, normalize_number, normalize_sender
from hypothesis import assume, example, given
from hypothesis import strategies as st

CANONICAL = re.compile(r"98[1-9][0-9]{9}")
PERSIAN = "۰۱۲۳۴۵۶۷۸۹"
ARABIC_INDIC = "٠١٢٣٤٥٦٧٨٩"

ACCEPTED = [
    # mobiles, every prefix form
    ("09123456789", "989123456789"),
    ("9123456789", "989123456789"),
    ("+989123456789", "989123456789"),
    ("00989123456789", "989123456789"),
    ("989123456789", "989123456789"),
    ("09351234567", "989351234567"),
    ("09901234567", "989901234567"),
    # separators: spaces, dashes, dots, parentheses, mixed
    ("0912 345 6789", "989123456789"),
    ("0912-345-6789", "989123456789"),
    ("0912.345.6789", "989123456789"),
    ("(0912) 345 6789", "989123456789"),
    ("+98 (912) 345-67-89", "989123456789"),
    ("+98-912-345-6789", "989123456789"),
    ("0098 912 345 6789", "989123456789"),
    ("  09123456789  ", "989123456789"),
    ("912 345 6789", "989123456789"),
    ("0912\t345\n6789", "989123456789"),
    ("+ 98 912 345 6789", "989123456789"),
    ("0912–345–6789", "989123456789"),  # en dashes
    # Persian and Arabic-Indic digits, alone and mixed with ASCII
    ("۰۹۱۲۳۴۵۶۷۸۹", "989123456789"),
    ("٠٩١٢٣٤٥٦٧٨٩", "989123456789"),
    ("+۹۸۹۱۲۳۴۵۶۷۸۹", "989123456789"),
    ("۰۹۱۲ ۳۴۵ ۶۷۸۹", "989123456789"),
    ("09۱۲۳۴5678٩", "989123456789"),
    # invisible marks and non-breaking spaces pasted with the number
    ("\u200e09123456789\u200f", "989123456789"),
    ("0912\u200c345\u200c6789", "989123456789"),
    ("0912\u00a0345\u00a06789", "989123456789"),
    ("\ufeff+98\u202f912\u2066345\u20696789", "989123456789"),
    # landlines (area code 1-8), every prefix form
    ("02164063188", "982164063188"),
    ("021 6406 3188", "982164063188"),
    ("(021) 6406-3188", "982164063188"),
    ("+98 21 6406 3188", "982164063188"),
    ("00982164063188", "982164063188"),
    ("982164063188", "982164063188"),
    ("۰۲۱۶۴۰۶۳۱۸۸", "982164063188"),
    ("03132345678", "983132345678"),  # Isfahan
    ("05138012345", "985138012345"),  # Mashhad
    ("08712345678", "988712345678"),  # Kurdistan
    ("01112345678", "981112345678"),  # Mazandaran
]

REFUSED = [
    "",
    "   ",
    "-- ()",
    "12345",
    "0912345678",  # one digit short
    "091234567890",  # one digit long
    "912345678",  # bare mobile, one short
    "91234567890",  # bare mobile, one long
    "2164063188",  # bare landline without 0: refused
    "98912345678",  # 98 + 9 digits
    "9891234567890",  # 98 + 11 digits
    "9809123456789",  # 0 after the country code
    "+9809123456789",
    "+98 (0) 912 345 6789",
    "00980912345678",
    "0 0912 345 6789",  # trunk 0 written twice
    "00123456789",
    "+1 212 555 0100",  # other country codes
    "+447700900123",
    "0044 7700 900123",
    "+09123456789",  # + without a country code
    "++989123456789",  # two + signs
    "+98+9123456789",
    "0912+3456789",
    "09123456789+",
    "0912345678a",
    "abc",
    "tel:09123456789",
    "0912_345_6789",
    "0912/345/6789",
    "0912 345 6789 ext 1",
    "０９１２３４５６７８９",  # full-width digits are not accepted
    "0" * 200,
]


@pytest.mark.parametrize(("given_input", "expected"), ACCEPTED)
def test_given_an_iranian_number_in_any_accepted_form_when_normalized_then_98_plus_ten_digits(
    given_input: str, expected: str
) -> None:
    assert normalize_number(given_input) == expected


def test_given_the_accepted_table_then_it_covers_at_least_thirty_forms() -> None:
    assert len(ACCEPTED) >= 30


@pytest.mark.parametrize("given_input", REFUSED)
def test_given_a_malformed_number_when_normalized_then_refused_naming_the_input(given_input: str) -> None:
    with pytest.raises(InvalidNumberError) as caught:
        normalize_number(given_input)
    assert caught.value.value == given_input
    assert isinstance(caught.value, ValueError)
    shown = given_input if len(given_input) <= 40 else given_input[:40] + "…"
    assert repr(shown) in str(caught.value)
    assert str(caught.value).startswith("not an Iranian phone number: ")


def test_given_the_manuals_example_when_refused_then_message_reads_naturally() -> None:
    with pytest.raises(InvalidNumberError, match=r"^not an Iranian phone number: '12345'"):
        normalize_number("12345")


@pytest.mark.parametrize(
    ("given_input", "expected"),
    [
        ("02164063188", "982164063188"),
        ("982164063188", "982164063188"),
        ("+98 21 6406 3188", "982164063188"),
        ("09123456789", "989123456789"),
        ("30001234", "30001234"),
        ("3000 1234", "30001234"),
        ("۳۰۰۰۱۲۳۴", "30001234"),
        ("٣٠٠٠١٢٣٤", "30001234"),
        ("98300012345", "98300012345"),
        ("10004346", "10004346"),
        ("5000125475", "5000125475"),
        ("+447700900123", "447700900123"),
        ("\u200e30001234", "30001234"),
        ("123", "123"),
        ("1" * 20, "1" * 20),
    ],
)
def test_given_a_sender_when_normalized_then_phone_numbers_canonical_and_short_codes_kept_as_digits(
    given_input: str, expected: str
) -> None:
    assert normalize_sender(given_input) == expected


@pytest.mark.parametrize(
    "given_input",
    ["", "  ", "abc", "Asanak", "3000abcd", "12", "1" * 21, "++30001234", "3000+1234", "+09123456789"],
)
def test_given_junk_as_a_sender_when_normalized_then_refused_naming_the_input(given_input: str) -> None:
    with pytest.raises(InvalidNumberError) as caught:
        normalize_sender(given_input)
    assert caught.value.value == given_input
    assert repr(given_input) in str(caught.value)


@pytest.mark.parametrize(
    ("normalized", "expected"),
    [
        ("989123456789", True),
        ("989901234567", True),
        ("982164063188", False),
        ("983132345678", False),
        ("98300012345", False),
        ("09123456789", False),
        ("9891234567890", False),
        ("98912345678", False),
        ("98۹۱۲۳۴۵۶۷۸۹", False),
        ("", False),
    ],
)
def test_given_a_normalized_number_when_is_mobile_then_true_only_for_98_9(
    normalized: str, expected: bool
) -> None:
    assert is_mobile(normalized) is expected


# --- properties -----------------------------------------------------------------------------------

_mobiles = st.from_regex(r"9[0-9]{9}", fullmatch=True)
_landlines = st.from_regex(r"[1-8][0-9]{9}", fullmatch=True)
_nationals = st.one_of(_mobiles, _landlines)
_separators = st.sampled_from(["", " ", "-", ".", "\u00a0", "\u200e", "\u200c", " - ", "\t"])


_scripts = st.sampled_from(["ascii", "persian", "arabic"])


def _script(draw: st.DrawFn, digits: str) -> str:
    """``digits`` in one random script, or (sometimes) a random script per digit."""
    whole = draw(_scripts)
    per_digit = draw(st.booleans())
    out = []
    for digit in digits:
        script = draw(_scripts) if per_digit else whole
        if script == "persian":
            out.append(PERSIAN[int(digit)])
        elif script == "arabic":
            out.append(ARABIC_INDIC[int(digit)])
        else:
            out.append(digit)
    return "".join(out)


def _with_separators(draw: st.DrawFn, text: str) -> str:
    return "".join(char + draw(_separators) for char in text)


@st.composite
def formatted_numbers(draw: st.DrawFn) -> tuple[str, str]:
    """A valid Iranian number written in a random accepted form, and its canonical form."""
    national = draw(_nationals)
    prefixes = ["0", "98", "0098", "+98"] + (["", "0"] if national.startswith("9") else [])
    prefix = draw(st.sampled_from(prefixes))
    plus = "+" if prefix.startswith("+") else ""
    body = _with_separators(draw, _script(draw, prefix.lstrip("+") + national))
    wrapped = draw(st.sampled_from(["{}", " {} ", "\u200e{}\u200f", "({})"]))
    return wrapped.format(plus + body), "98" + national


@given(formatted_numbers())
@example(("0912 345 6789", "989123456789"))
def test_given_a_valid_number_in_any_format_when_normalized_then_same_canonical_output(
    case: tuple[str, str],
) -> None:
    given_input, canonical = case
    assert normalize_number(given_input) == canonical


@given(formatted_numbers())
def test_given_a_valid_number_when_normalized_twice_then_unchanged(case: tuple[str, str]) -> None:
    once = normalize_number(case[0])
    assert normalize_number(once) == once
    assert normalize_sender(once) == once


@given(st.one_of(st.text(max_size=30), st.text(alphabet="0123456789+ -()۰۱۲۳۴۵۶۷۸۹", max_size=20)))
def test_given_any_text_when_accepted_then_canonical_and_idempotent(given_input: str) -> None:
    try:
        result = normalize_number(given_input)
    except InvalidNumberError as exc:
        assert exc.value == given_input
        return
    assert CANONICAL.fullmatch(result)
    assert normalize_number(result) == result


# An independent statement of the accepted digit strings (without separators or "+").
_ORACLE = re.compile(r"(?:0|98|0098)([1-9][0-9]{9})|(9[0-9]{9})")


@given(
    st.one_of(
        st.from_regex(r"[0-9]{0,16}", fullmatch=True),
        st.builds(
            str.__add__,
            st.sampled_from(["0", "9", "98", "980", "0098", "00", "09", "0980"]),
            st.from_regex(r"[0-9]{6,13}", fullmatch=True),
        ),
    )
)
def test_given_a_digit_string_when_normalized_then_accepted_exactly_when_well_formed(digits: str) -> None:
    match = _ORACLE.fullmatch(digits)
    if match is None:
        with pytest.raises(InvalidNumberError):
            normalize_number(digits)
    else:
        assert normalize_number(digits) == "98" + (match.group(1) or match.group(2))


# ("98" is left out: "98" + 8 digits is a valid bare mobile such as 9821234567.)
@given(_nationals, st.integers(min_value=-3, max_value=3), st.sampled_from(["0", "+98", "0098"]))
def test_given_a_number_with_digits_added_or_removed_when_normalized_then_refused(
    national: str, change: int, prefix: str
) -> None:
    assume(change != 0)
    wrong = national + "1234"[:change] if change > 0 else national[:change]
    with pytest.raises(InvalidNumberError):
        normalize_number(prefix + wrong)


@given(
    formatted_numbers(),
    st.characters(exclude_categories=("Nd", "Zs", "Zl", "Zp", "Cc", "Cf", "Pd", "Ps", "Pe")),
)
def test_given_a_valid_number_with_a_stray_character_when_normalized_then_refused(
    case: tuple[str, str], stray: str
) -> None:
    assume(stray not in "+.\u2212")  # separators or a "+" that would be refused for another reason
    given_input = case[0] + stray
    with pytest.raises(InvalidNumberError):
        normalize_number(given_input)


@given(st.text(max_size=25))
def test_given_any_text_when_sender_normalized_then_digits_only_and_idempotent(given_input: str) -> None:
    try:
        result = normalize_sender(given_input)
    except InvalidNumberError:
        return
    assert re.fullmatch(r"[0-9]{3,20}", result)
    assert normalize_sender(result) == result
