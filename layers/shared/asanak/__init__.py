"""Asanak (asanak.com) SMS web service, v1rest: a pure-Python client with no AWS dependency.

Modules, each imported on its own so that a function loads only what it uses:

- :mod:`asanak.client` — ``AsanakClient`` (``sendsms``, ``msgstatus``, ``getcredit`` over urllib3);
- :mod:`asanak.transport` — one HTTP exchange (urllib3, credentials in the form, retries off);
- :mod:`asanak.answers` — what an answer that is not a success means (pure);
- :mod:`asanak.batching` — ``MAX_BATCH`` and ``chunked`` (also re-exported by the client);
- :mod:`asanak.errors` — what a failed call means for the caller (retry, never retry, fix, alarm);
- :mod:`asanak.statuses` — the 13 delivery status codes, when a status is final, ``MessageStatus``;
- :mod:`asanak.numbers` — Iranian phone numbers in canonical form;
- :mod:`asanak.text` — how many SMS parts a text needs;
- :mod:`asanak.inbound` — parsing the provider's inbound-SMS push.

This package imports nothing itself: ``import asanak.statuses`` does not load urllib3.
"""
