"""Re-publish events from the table, for a gap the stream can no longer fill.

The table's stream keeps changes for 24 hours, and the publish function gives up on a batch after
``MaximumRecordAgeInSeconds`` (6 hours), sending its description to the publish failure queue. Once
the cause is fixed, the events of every item changed since then are published again from the items'
present state, with the same ``event_id`` the stream would have given them, so consumers that
deduplicate on it see each change once. An operator's tool: it scans the table (no production path
does).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from smsctl.producer import Target


def republish(target: Target, since: datetime, *, dry_run: bool = False) -> dict[str, int]:
    """Publish the events of every item changed at or after ``since``; return counts by detail-type."""
    from sms_gateway.adapters.dynamodb.stream import image_of
    from sms_gateway.adapters.eventbridge import EventBridgePublisher
    from sms_gateway.domain.publishing.outbox import current_events

    if not target.table_name or not target.bus_name:
        raise SystemExit("this target has no table or bus name: use --local or --stack")
    if since.tzinfo is None:
        raise SystemExit("--since needs a time zone, e.g. 2026-12-01T06:00:00Z")
    dynamodb = target.client("dynamodb")
    publisher = EventBridgePublisher(target.client("events"), target.bus_name)
    counts: dict[str, int] = {}
    kwargs: dict[str, Any] = {
        "TableName": target.table_name,
        "FilterExpression": "updated_at >= :since OR created_at >= :since",
        "ExpressionAttributeValues": {":since": {"S": _utc_stamp(since)}},
    }
    while True:
        page = dynamodb.scan(**kwargs)
        found = [event for raw in page["Items"] for event in current_events(image_of(raw))]
        for event in found:
            counts[event.detail_type] = counts.get(event.detail_type, 0) + 1
        if found and not dry_run:
            publisher.publish(found)
        if "LastEvaluatedKey" not in page:
            return counts
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _utc_stamp(moment: datetime) -> str:
    """The time as pynamodb stores UTCDateTimeAttribute (so string order is time order)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+0000")
