"""Asanak status codes: the table, when a status is final, and unknown codes."""

from __future__ import annotations

import datetime

import pytest
from asanak import statuses
from asanak.statuses import FOUR_HOURS, STATUS_TABLE, is_final, outcome_at, status_info

JUST_SENT = datetime.timedelta(seconds=0)
A_DAY = datetime.timedelta(days=1)

MANUAL_NAMES = {
    -1: "NotFound",
    1: "InQueue",
    4: "Pending",
    2: "Sent",
    7: "NoResponse",
    8: "Reject",
    10: "PartiallySent",
    9: "SentToDest",
    6: "Success",
    5: "Failed",
    11: "NoMsgID",
    12: "PartiallySuccess",
    13: "NoDelivery",
}


def test_given_the_manual_when_reading_the_table_then_all_13_codes_are_there_with_their_names():
    assert {code: info.name for code, info in STATUS_TABLE.items()} == MANUAL_NAMES
    assert all(info.known for info in STATUS_TABLE.values())


def test_given_the_module_docstring_then_it_documents_every_code_and_name():
    doc = statuses.__doc__ or ""
    for code, name in MANUAL_NAMES.items():
        assert name in doc
        assert f"\n{code} " in doc


@pytest.mark.parametrize("code", [-1, 1, 4, 2, 7, 10, 9, 11])
def test_given_an_in_flight_code_when_checked_at_any_age_then_not_final_and_pending(code):
    info = status_info(code)

    assert info.final is False
    assert info.outcome == "pending"
    assert not is_final(code, JUST_SENT)
    assert not is_final(code, A_DAY)
    assert outcome_at(code, A_DAY) == "pending"


@pytest.mark.parametrize(("code", "outcome"), [(6, "delivered"), (5, "failed"), (8, "failed")])
def test_given_a_terminal_code_when_checked_even_right_after_sending_then_final(code, outcome):
    assert status_info(code).final is True
    assert status_info(code).outcome == outcome
    assert is_final(code, JUST_SENT)
    assert outcome_at(code, JUST_SENT) == outcome


@pytest.mark.parametrize(("code", "outcome"), [(12, "partially_delivered"), (13, "no_delivery_report")])
def test_given_12_or_13_when_younger_than_four_hours_then_not_final_yet(code, outcome):
    just_under = FOUR_HOURS - datetime.timedelta(seconds=1)

    assert status_info(code).final is None
    assert status_info(code).outcome == outcome
    assert not is_final(code, just_under)
    assert outcome_at(code, just_under) == "pending"


@pytest.mark.parametrize(("code", "outcome"), [(12, "partially_delivered"), (13, "no_delivery_report")])
def test_given_12_or_13_when_four_hours_old_or_more_then_final_with_its_outcome(code, outcome):
    assert datetime.timedelta(hours=4) == FOUR_HOURS
    assert is_final(code, FOUR_HOURS)
    assert is_final(code, A_DAY)
    assert outcome_at(code, FOUR_HOURS) == outcome


def test_given_unknown_code_20_when_looked_up_then_kept_as_20_unknown_and_never_final():
    info = status_info(20)

    assert info.code == 20
    assert info.name == "Unknown"
    assert info.known is False
    assert info.final is False
    assert info.outcome == "pending"
    assert not is_final(20, A_DAY)
    assert outcome_at(20, A_DAY) == "pending"


def test_given_the_exported_table_when_changed_by_a_caller_then_lookups_are_unaffected():
    STATUS_TABLE.pop(6, None)
    try:
        assert status_info(6).name == "Success"
    finally:
        STATUS_TABLE[6] = status_info(6)
