"""A local Asanak web service for tests and the local stack (never deployed): v1rest at ``base_url``,
and v2rest's ``sendsms``, ``msgstatus``, ``getcredit`` and ``getrialcredit`` at ``base_url_v2``, over
one account, one set of messages and the same faults.

>>> from asanak_sandbox import AsanakSandbox, Fault
>>> with AsanakSandbox(username="user", password="pass") as sb:  # doctest: +SKIP
...     sb.inject(Fault("http_503", method="sendsms"))
...     ...  # point the client at sb.base_url

Run it on its own with ``python -m asanak_sandbox --port 8085``.
"""

from asanak_sandbox.clock import SandboxClock
from asanak_sandbox.model import DEFAULT_TIMELINE, FAULT_KINDS, Call, Fault, SentSms
from asanak_sandbox.server import AsanakSandbox

__all__ = ["DEFAULT_TIMELINE", "FAULT_KINDS", "AsanakSandbox", "Call", "Fault", "SandboxClock", "SentSms"]
