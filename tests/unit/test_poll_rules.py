"""Delivery tracking's pure rules: status rank, transitions (never backwards), expiry, cadence, budget."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from asanak.statuses import FOUR_HOURS, MessageStatus, status_info
from sms_gateway.domain.model import Message, State
from sms_gateway.domain.tracking.rules import (
    FINAL_RANK,
    SAFETY_MARGIN_SECONDS,
    next_check_for,
    rank_of,
    run_budget,
    transition,
)
from sms_gateway.domain.tracking.schedule import EXPIRED_STATUS

ACCEPTED = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
HORIZON = timedelta(hours=24)
YOUNG = timedelta(seconds=40)


def message(status: int | None = None, rank: int = 0, *, final: bool = False) -> Message:
    return Message(
        request_id="r-1",
        to="989121234567",
        sender="982164063188",
        owner="sqs-1",
        state=State.FINAL if final else State.ACCEPTED,
        parts=1,
        meta={"u": 7},
        created_at=ACCEPTED,
        msgid="4456772",
        status=status,
        status_name=None if status is None else status_info(status).name,
        status_rank=rank,
        final=final,
        accepted_at=ACCEPTED,
    )


def seen(code: int, delivered: datetime | None = None) -> MessageStatus:
    return MessageStatus(
        msgid="4456772",
        code=code,
        info=status_info(code),
        send_time=ACCEPTED,
        deliver_time=delivered,
        send_time_raw="2026-11-24 11:30:00",
        deliver_time_raw=None,
    )


def at(age: timedelta) -> datetime:
    return ACCEPTED + age


# -- rank ------------------------------------------------------------------------------------------
def test_given_the_documented_lifecycle_then_ranks_rise_along_it():
    lifecycle = [-1, 1, 4, 2, 10, 7, 9, 12]
    ranks = [rank_of(code, YOUNG) for code in lifecycle]
    assert ranks == sorted(ranks)
    assert ranks == [0, 10, 20, 30, 35, 40, 50, 60]


@pytest.mark.parametrize("code", [5, 6, 8])
def test_given_a_final_code_then_it_ranks_above_everything(code):
    assert rank_of(code, YOUNG) == FINAL_RANK


@pytest.mark.parametrize("code", [12, 13])
def test_given_12_or_13_then_final_rank_only_from_four_hours_on(code):
    assert rank_of(code, FOUR_HOURS - timedelta(seconds=1)) == 60
    assert rank_of(code, FOUR_HOURS) == FINAL_RANK


def test_given_a_code_outside_the_manual_then_it_has_no_rank():
    assert rank_of(20, YOUNG) is None


# -- transition ------------------------------------------------------------------------------------
def test_given_a_newer_status_then_a_change_carrying_the_previous_status():
    change = transition(message(2, 30), seen(9), at(YOUNG), HORIZON)

    assert change is not None
    assert (change.status, change.status_name, change.final, change.previous_status) == (
        9,
        "SentToDest",
        False,
        2,
    )
    assert change.outcome == "pending"


def test_given_success_then_a_final_delivered_change_with_the_delivery_time():
    delivered = at(timedelta(seconds=30))
    change = transition(message(9, 50), seen(6, delivered), at(YOUNG), HORIZON)

    assert change is not None
    assert (change.final, change.outcome, change.delivered_at) == (True, "delivered", delivered)


@pytest.mark.parametrize(("stored", "rank", "code"), [(9, 50, 9), (9, 50, 2), (9, 50, -1), (10, 35, 11)])
def test_given_the_same_or_an_older_status_then_no_change(stored, rank, code):
    assert transition(message(stored, rank), seen(code), at(YOUNG), HORIZON) is None


def test_given_a_final_message_then_a_stale_status_never_overwrites_it():
    assert transition(message(6, FINAL_RANK, final=True), seen(9), at(YOUNG), HORIZON) is None
    assert transition(message(6, FINAL_RANK, final=True), seen(5), at(YOUNG), HORIZON) is None


def test_given_12_at_one_hour_then_an_intermediate_change_and_after_four_hours_a_final_one():
    early = transition(message(10, 35), seen(12), at(timedelta(hours=1)), HORIZON)
    assert early is not None and (early.final, early.outcome, early.rank) == (False, "pending", 60)

    late = transition(message(12, 60), seen(12), at(FOUR_HOURS + timedelta(minutes=1)), HORIZON)
    assert late is not None
    assert (late.status, late.previous_status, late.final, late.outcome) == (
        12,
        12,
        True,
        "partially_delivered",
    )


def test_given_13_after_four_hours_then_final_without_delivery_report():
    change = transition(message(9, 50), seen(13), at(FOUR_HOURS), HORIZON)
    assert change is not None and (change.final, change.outcome) == (True, "no_delivery_report")


def test_given_an_unknown_code_then_no_change_and_never_delivered():
    assert transition(message(2, 30), seen(20), at(YOUNG), HORIZON) is None


def test_given_the_horizon_passed_without_a_final_status_then_expired():
    change = transition(message(2, 30), seen(9), at(HORIZON), HORIZON)

    assert change is not None
    assert (change.status, change.status_name, change.final, change.outcome) == (
        EXPIRED_STATUS,
        "Expired",
        True,
        "expired",
    )
    assert change.previous_status == 2


def test_given_the_horizon_passed_and_no_answer_then_expired_all_the_same():
    change = transition(message(), None, at(HORIZON + timedelta(hours=1)), HORIZON)
    assert change is not None and change.status == EXPIRED_STATUS and change.previous_status is None


def test_given_the_horizon_passed_but_the_answer_is_final_then_the_answer_wins():
    change = transition(message(9, 50), seen(6), at(HORIZON), HORIZON)
    assert change is not None and change.outcome == "delivered"


# -- cadence ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("age", "after"),
    [
        (timedelta(seconds=40), timedelta(seconds=30)),
        (timedelta(minutes=30), timedelta(minutes=2)),
        (timedelta(hours=2), timedelta(minutes=10)),
        (timedelta(hours=6), timedelta(minutes=30)),
    ],
)
def test_given_a_message_of_some_age_then_young_ones_are_checked_often_old_ones_less(age, after):
    now = at(age)
    assert next_check_for(message(9, 50), 9, now, HORIZON) == now + after


def test_given_a_12_shortly_before_four_hours_then_checked_right_when_it_turns_final():
    now = at(FOUR_HOURS - timedelta(minutes=3))
    assert next_check_for(message(12, 60), 12, now, HORIZON) == ACCEPTED + FOUR_HOURS


def test_given_the_horizon_is_near_then_the_next_check_is_at_the_horizon():
    now = at(HORIZON - timedelta(minutes=5))
    assert next_check_for(message(2, 30), 2, now, HORIZON) == ACCEPTED + HORIZON


# -- budget ----------------------------------------------------------------------------------------
def test_given_plenty_of_time_then_the_configured_budget():
    assert run_budget(40, 60) == 40


def test_given_little_time_left_then_the_budget_stops_before_the_safety_margin():
    assert run_budget(40, 20) == pytest.approx(20 - SAFETY_MARGIN_SECONDS)
    assert run_budget(40, SAFETY_MARGIN_SECONDS) <= 0
