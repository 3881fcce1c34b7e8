"""What a poll run reports: its counts (tallied by worker threads), its metrics and its summary."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from asanak import statuses

from sms_gateway.domain.model import Count
from sms_gateway.domain.ports import Metrics
from sms_gateway.domain.tally import Tally
from sms_gateway.domain.tracking.schedule import EXPIRED_OUTCOME

OUTCOME_METRICS = {
    statuses.DELIVERED: "Delivered",
    statuses.FAILED: "Failed",
    statuses.PARTIALLY_DELIVERED: "PartiallyDelivered",
    statuses.NO_DELIVERY_REPORT: "NoDeliveryReport",
    EXPIRED_OUTCOME: "Expired",
}
ALWAYS_EMITTED = ("StatusChanges", "MsgStatusCalls", *OUTCOME_METRICS.values())


@dataclass(frozen=True)
class RunReport:
    """What one run did (returned by the handler, logged, and the basis of its metrics)."""

    due: int = 0  # due messages handled
    msgstatus_calls: int = 0
    changes: int = 0  # status changes stored: each is one SMS Status Changed event
    unknown_codes: int = 0
    expired: int = 0
    provider_errors: int = 0
    budget_spent: bool = False  # stopped with messages still due; the next run goes on
    in_flight: int | None = None
    backlog: int | None = None  # still due after the run
    counts_exact: bool | None = None  # False: counting stopped at the budget; the counts are lower bounds
    credit: str | None = None
    credit_rials: str | None = None  # on v2rest (getrialcredit), when the credit was read
    templates_listed: bool = False  # on v2rest: this run listed the account's templates (templatelist)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CreditReading:
    """The account's credit as read by one run: in messages, and in rials where the API tells it."""

    messages: Decimal
    rials: Decimal | None = None


def emit(
    metrics: Metrics, tally: Tally, credit: CreditReading | None, counted: tuple[Count, Count] | None
) -> None:
    """The run's metrics, from the handler's thread (Powertools' Metrics is not thread-safe)."""
    counts = tally.counts
    for name in ALWAYS_EMITTED:
        metrics.add_metric(name=name, unit="Count", value=counts[name])
    for name, count in sorted(counts.items()):
        if name not in ALWAYS_EMITTED and name not in ("Due", "LeftDue") and count:
            metrics.add_metric(name=name, unit="Count", value=count)
    for seconds in tally.samples("TimeToDelivery"):
        metrics.add_metric(name="TimeToDelivery", unit="Seconds", value=seconds)
    if counted is not None:
        in_flight, backlog = counted
        metrics.add_metric(name="InFlight", unit="Count", value=in_flight.value)
        metrics.add_metric(name="Backlog", unit="Count", value=backlog.value)
        if not (in_flight.exact and backlog.exact):
            metrics.add_metric(name="CountsTruncated", unit="Count", value=1)
    if credit is not None:
        metrics.add_metric(name="Credit", unit="Count", value=float(credit.messages))
        if credit.rials is not None:
            metrics.add_metric(name="CreditRials", unit="None", value=float(credit.rials))


def report_of(
    tally: Tally, *, budget_spent: bool, counted: tuple[Count, Count] | None, credit: CreditReading | None
) -> RunReport:
    counts = tally.counts
    return RunReport(
        due=counts["Due"],
        msgstatus_calls=counts["MsgStatusCalls"],
        changes=counts["StatusChanges"],
        unknown_codes=counts["UnknownStatus"],
        expired=counts["Expired"],
        provider_errors=sum(n for name, n in counts.items() if name.startswith("ProviderError_")),
        budget_spent=budget_spent,
        in_flight=None if counted is None else counted[0].value,
        backlog=None if counted is None else counted[1].value,
        counts_exact=None if counted is None else counted[0].exact and counted[1].exact,
        credit=None if credit is None else str(credit.messages),
        credit_rials=None if credit is None or credit.rials is None else str(credit.rials),
        templates_listed=counts["TemplateLists"] > 0,
    )
