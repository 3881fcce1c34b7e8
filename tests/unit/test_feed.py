"""``make run``'s feed: every event the gateway publishes reads as its own line, none as raw detail."""

from __future__ import annotations

import pytest

from local_stack.feed import line
from tests.harness import SCHEMA_FILES

EXAMPLES = {
    "SMS Accepted": {"to": "989121234567", "msgid": "7", "parts": 1, "request_id": "r"},
    "SMS Rejected": {"to": "12345", "reason": "invalid_number", "message": "bad", "request_id": "r"},
    "SMS Status Changed": {
        "to": "989121234567",
        "final": True,
        "status_name": "Success",
        "status": 6,
        "msgid": "7",
    },
    "SMS Received": {"from": "989121234567", "to": "982164063188", "text": "ممنون"},
    "SMS Deferred": {
        "to": "989121234567",
        "reason": "daily_limit",
        "due_at": "2026-12-07T20:31:00Z",
        "request_id": "r",
    },
}


@pytest.mark.parametrize("detail_type", sorted(SCHEMA_FILES))
def test_given_each_published_event_type_then_the_feed_has_a_line_for_it(detail_type):
    shown = line({"detail-type": detail_type, "detail": EXAMPLES[detail_type]})

    assert not shown.strip().startswith("?"), shown
    assert EXAMPLES[detail_type].get("to", "") in shown
