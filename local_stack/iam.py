"""Moved to :mod:`emulator.iam`. This module only keeps the old import path working for the unit tests on
main (``tests/unit``), which this branch may not edit; remove it once they import ``emulator.iam``."""

from emulator.iam import FUNCTIONS, role_policy, template_actions, unused_permissions

__all__ = ["FUNCTIONS", "role_policy", "template_actions", "unused_permissions"]
