"""Rows of the results table, and the table as text (stdout) and as markdown (``bench/results.md``)."""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

LOWER = "lower"  # lower is better (calls, items, seconds, MB)
HIGHER = "higher"  # higher is better (throughput)


@dataclass(frozen=True)
class Row:
    """One figure: ours, the baseline's (measured in the same run), the ratio, the target."""

    benchmark: str
    ours: float
    baseline: float | None
    unit: str
    better: str = LOWER
    target: str = ""
    check: Callable[[Row], bool] | None = None
    ratio_as_share: bool = False  # show ours ÷ baseline ("1.3× of it") instead of an improvement
    paired_ratio: float | None = None  # a ratio measured pair by pair, instead of ours ÷ baseline

    @property
    def ratio(self) -> float | None:
        if self.paired_ratio is not None:
            return self.paired_ratio
        if self.baseline is None or self.ours == 0 or self.baseline == 0:
            return None
        if self.ratio_as_share:
            return self.ours / self.baseline
        return self.baseline / self.ours if self.better == LOWER else self.ours / self.baseline

    @property
    def ratio_text(self) -> str:
        ratio = self.ratio
        if ratio is None:
            return "–"
        if self.ratio_as_share:
            return f"{ratio:.2f}× of it"
        timed = self.unit in ("s", "ms", "ms/msg")
        if abs(ratio - 1) < 0.005:
            return "same"
        if ratio >= 1:
            word = "faster" if timed else {LOWER: "less", HIGHER: "more"}[self.better]
            return f"{_number(ratio)}× {word}"
        word = "slower" if timed else {LOWER: "more", HIGHER: "less"}[self.better]
        return f"{_number(1 / ratio)}× {word}"

    @property
    def met(self) -> str:
        if self.check is None:
            return ""
        return "yes" if self.check(self) else "NO"


def _number(value: float) -> str:
    size = abs(value)
    if size >= 100:
        return f"{value:,.0f}"
    if size >= 10:
        return f"{value:.1f}"
    if size >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def figure(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    return f"{_number(value)} {unit}".strip()


HEADERS = ("benchmark", "ours", "naive baseline", "ratio", "target", "met?")


def cells(row: Row) -> tuple[str, ...]:
    return (
        row.benchmark,
        figure(row.ours, row.unit),
        figure(row.baseline, row.unit),
        row.ratio_text,
        row.target,
        row.met,
    )


def text_table(rows: Sequence[Row]) -> str:
    table = [HEADERS, *(cells(row) for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADERS))]
    lines = []
    for index, line in enumerate(table):
        lines.append(
            "  ".join(value.ljust(width) for value, width in zip(line, widths, strict=True)).rstrip()
        )
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def markdown_table(rows: Sequence[Row]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    for row in rows:
        lines.append("| " + " | ".join(value.replace("|", "\\|") for value in cells(row)) + " |")
    return "\n".join(lines)


def machine() -> str:
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f} at the end"
    )


def write_markdown(
    path: Path, rows: Sequence[Row], *, command: str, seconds: float, notes: Sequence[str]
) -> None:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "<!-- written by `make bench` (bench/__main__.py); paste into the README's Performance section -->",
        f"Measured with `{command}` on {when} ({machine()}); the whole run took {seconds:.0f} s.",
        "",
        markdown_table(rows),
        "",
        *(f"- {note}" for note in notes),
        "",
    ]
    path.write_text("\n".join(parts), encoding="utf-8")
