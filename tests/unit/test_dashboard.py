"""The stack's dashboard: a valid CloudWatch body showing the metrics the functions emit."""

from __future__ import annotations

import json
import re
from itertools import pairwise

from emulator.template import load_template


def dashboard() -> dict:
    body = load_template()["Resources"]["Dashboard"]["Properties"]["DashboardBody"]
    text = body["Fn::Sub"] if isinstance(body, dict) else body
    return json.loads(re.sub(r"\$\{[^}]+\}", "1", text))  # every substitution as a number


def test_given_the_template_then_the_dashboard_is_json_and_shows_credit_in_messages_and_in_rials():
    widgets = dashboard()["widgets"]
    shown = {metric[1] for widget in widgets for metric in widget["properties"].get("metrics", [])}

    assert {"Credit", "CreditRials", "Accepted", "Delivered", "ProviderLatency"} <= shown
    spans = sorted((w["y"], w["x"], w["x"] + w["width"]) for w in widgets)
    assert all(0 <= x < end <= 24 for _, x, end in spans)  # the dashboard's grid is 24 wide
    rows: dict[int, list[tuple[int, int]]] = {}
    for y, x, end in spans:
        rows.setdefault(y, []).append((x, end))
    assert all(a[1] <= b[0] for row in rows.values() for a, b in pairwise(row))  # no overlap
