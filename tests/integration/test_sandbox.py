"""The Asanak sandbox, spoken to with raw HTTP (not through the client it is meant to test)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import asanak_sandbox
import pytest
import urllib3
from asanak_sandbox import AsanakSandbox, Fault

SENDER = "982164063188"
MOBILE = "09121234567"
TEHRAN = ZoneInfo("Asia/Tehran")
TEHRAN_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")

http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2, read=5))


def api(
    sandbox: AsanakSandbox,
    method: str,
    params: dict[str, str],
    *,
    http_method: str = "POST",
    accept: str | None = None,
    credentials: dict[str, str] | None = None,
) -> urllib3.BaseHTTPResponse:
    fields = {
        **(credentials if credentials is not None else {"username": "user", "password": "pass"}),
        **params,
    }
    headers = {"Accept": accept} if accept else {}
    url = f"{sandbox.base_url}/{method}"
    if http_method == "GET":
        return http.request("GET", f"{url}?{urlencode(fields)}", headers=headers)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    return http.request("POST", url, body=urlencode(fields), headers=headers)


def send(
    sandbox: AsanakSandbox, destination: str = MOBILE, message: str = "hi", **kwargs
) -> urllib3.BaseHTTPResponse:
    return api(
        sandbox, "sendsms", {"source": SENDER, "destination": destination, "message": message}, **kwargs
    )


def control(sandbox: AsanakSandbox, http_method: str, name: str, body: object = None) -> object:
    payload = None if body is None else json.dumps(body)
    response = http.request(http_method, f"{sandbox.url}/_sandbox/{name}", body=payload)
    assert response.status == 200, response.data
    return json.loads(response.data)


# --- sendsms ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("http_method", ["GET", "POST"])
def test_given_no_accept_header_when_sending_then_text_html_with_a_json_array_of_numbers(
    sandbox, http_method
):
    response = send(sandbox, f"{MOBILE},09127654321", http_method=http_method)

    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/html")
    first, second = json.loads(response.data)
    assert isinstance(first, int)
    assert second == first + 1
    assert len(str(first)) == 7
    assert response.data.decode() == f"[{first}, {second}]"


def test_given_accept_json_when_sending_then_application_json(sandbox):
    response = send(sandbox, accept="application/json")

    assert response.headers["Content-Type"].startswith("application/json")
    assert json.loads(response.data) == [int(sandbox.sent[0].msgid)]


@pytest.mark.parametrize("accept", ["text/xml", "application/xhtml"])
def test_given_an_xml_accept_when_sending_then_the_manuals_response_xml(sandbox, accept):
    response = send(sandbox, f"{MOBILE}-09127654321", accept=accept)

    ids = [sms.msgid for sms in sandbox.sent]
    assert response.data.decode() == f"<response><MsgID>{ids[0]}</MsgID><MsgID>{ids[1]}</MsgID></response>"


def test_given_capitalised_credential_names_as_in_the_manuals_url_then_accepted(sandbox):
    response = send(sandbox, http_method="GET", credentials={"Username": "user", "Password": "pass"})

    assert response.status == 200


@pytest.mark.parametrize("credentials", [{"username": "user", "password": "nope"}, {}])
def test_given_bad_or_missing_credentials_then_401_with_a_json_error_object(sandbox, credentials):
    response = send(sandbox, credentials=credentials)

    assert response.status == 401
    assert json.loads(response.data) == {"status": "Unauthorized", "message": "invalid username or password"}
    assert sandbox.sent == []
    assert [(c.method, c.status) for c in sandbox.calls] == [("sendsms", 401)]


def test_given_101_destinations_then_400_error_object_and_nothing_sent(sandbox):
    response = send(sandbox, ",".join(f"0912{n:07d}" for n in range(101)))

    assert response.status == 400
    assert "100" in json.loads(response.data)["message"]
    assert sandbox.sent == []
    assert sandbox.calls[0].count == 101


def test_given_a_source_that_is_not_an_active_sender_then_400_mentioning_the_sender(sandbox):
    response = api(sandbox, "sendsms", {"source": "98999999", "destination": MOBILE, "message": "hi"})

    assert response.status == 400
    body = json.loads(response.data)
    assert set(body) == {"status", "message"}
    assert "sender" in body["message"]


def test_given_a_sender_written_nationally_then_it_matches_the_98_form(sandbox):
    response = api(sandbox, "sendsms", {"source": "02164063188", "destination": MOBILE, "message": "hi"})

    assert response.status == 200
    assert sandbox.sent[0].source == SENDER


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("09121234567", "989121234567"),
        ("989121234567", "989121234567"),
        ("02188776655", "982188776655"),
        ("982188776655", "982188776655"),
    ],
)
def test_given_a_destination_in_a_documented_form_then_accepted_and_stored_as_98(sandbox, given, stored):
    assert send(sandbox, given).status == 200
    assert sandbox.sent[0].destination == stored


@pytest.mark.parametrize("given", ["+989121234567", "9121234567", "0912123456", "00989121234567", "abc"])
def test_given_a_destination_in_another_form_then_400_and_nothing_sent(sandbox, given):
    response = send(sandbox, f"{MOBILE},{given}")

    assert response.status == 400
    assert "destination" in json.loads(response.data)["message"]
    assert sandbox.sent == []


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("{" * 80, 1),
        ("{" * 81, 2),
        ("س" * 70, 1),
        ("س" * 71, 2),
        ("س" * 134, 2),
        ("س" * 135, 3),
    ],
)
def test_given_a_text_then_parts_follow_gsm7_160_153_and_ucs2_70_67_and_credit_drops_by_parts(
    sandbox, text, parts
):
    send(sandbox, f"{MOBILE},09127654321", text)

    assert [sms.parts for sms in sandbox.sent] == [parts, parts]
    assert sandbox.credit == Decimal(1000 - 2 * parts)


def test_given_too_little_credit_then_400_about_credit_and_credit_unchanged(sandbox):
    sandbox.credit = Decimal(1)

    response = send(sandbox, f"{MOBILE},09127654321")

    assert response.status == 400
    assert "credit" in json.loads(response.data)["message"]
    assert sandbox.credit == Decimal(1)
    assert sandbox.sent == []


def test_given_concurrent_senders_then_every_msgid_is_unique_and_credit_exact(sandbox):
    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(lambda n: send(sandbox, f"0912{n:07d}").status, range(40)))

    assert statuses == [200] * 40
    assert len({sms.msgid for sms in sandbox.sent}) == 40
    assert sandbox.credit == Decimal(960)


# --- msgstatus and getcredit ------------------------------------------------------------------------


def test_given_a_fresh_message_then_statuses_follow_the_default_timeline_with_tehran_times(sandbox):
    [msgid] = json.loads(send(sandbox).data)
    accepted = sandbox.sent[0].accepted_at
    seen = []
    for advance in (0, 5, 10, 15):
        sandbox.clock.advance(advance)
        [entry] = json.loads(api(sandbox, "msgstatus", {"msgid": str(msgid)}).data)
        seen.append(entry)

    assert [entry["Status"] for entry in seen] == ["1", "2", "9", "6"]
    assert all(isinstance(value, str) for entry in seen for value in entry.values())
    assert seen[0]["MsgID"] == str(msgid)
    assert seen[0]["SendTime"] == accepted.astimezone(TEHRAN).strftime("%Y-%m-%d %H:%M:%S")
    assert [entry["DeliverTime"] for entry in seen[:3]] == ["", "", ""]
    assert TEHRAN_TIME.fullmatch(seen[3]["DeliverTime"])


def test_given_an_unknown_msgid_then_status_minus_one(sandbox):
    response = api(sandbox, "msgstatus", {"msgid": "123,456"}, http_method="GET")

    assert [entry["Status"] for entry in json.loads(response.data)] == ["-1", "-1"]


@pytest.mark.parametrize("accept", ["text/xml", "application/xhtml"])
def test_given_an_xml_accept_when_asking_status_then_the_manuals_msgstatus_xml(sandbox, accept):
    [msgid] = json.loads(send(sandbox).data)

    body = api(sandbox, "msgstatus", {"msgid": str(msgid)}, accept=accept).data.decode()

    assert re.fullmatch(
        rf"<response><MsgStatus><MsgID>{msgid}</MsgID><Status>1</Status>"
        r"<SendTime>[\d: -]{19}</SendTime><DeliverTime></DeliverTime></MsgStatus></response>",
        body,
    )


def test_given_more_than_100_msgids_then_400(sandbox):
    response = api(sandbox, "msgstatus", {"msgid": ",".join(str(n) for n in range(101))})

    assert response.status == 400


def test_given_a_scripted_destination_then_its_messages_follow_the_script(sandbox):
    sandbox.script("989121234567", [(0, 1), (3, 5)])
    [msgid] = json.loads(send(sandbox, "09121234567").data)

    sandbox.clock.advance(4)
    [entry] = json.loads(api(sandbox, "msgstatus", {"msgid": str(msgid)}).data)

    assert (entry["Status"], entry["DeliverTime"]) == ("5", "")


@pytest.mark.parametrize(
    ("accept", "body"),
    [
        (None, '{"Credit": "1000"}'),
        ("application/json", '{"Credit": "1000"}'),
        ("text/xml", "<response><Credit>1000</Credit></response>"),
        ("application/xhtml", "<response><Credit>1000</Credit></response>"),
    ],
)
def test_given_any_accept_when_asking_credit_then_the_credit_in_that_format(sandbox, accept, body):
    assert api(sandbox, "getcredit", {}, accept=accept).data.decode() == body


# --- faults, latency, calls -------------------------------------------------------------------------


def test_given_a_fault_for_two_calls_then_it_fires_twice_then_normal_service_resumes(sandbox):
    sandbox.inject(Fault("http_503", method="getcredit", times=2))

    statuses = [api(sandbox, "getcredit", {}).status for _ in range(3)]

    assert statuses == [503, 503, 200]
    assert [c.status for c in sandbox.calls] == [503, 503, 200]


def test_given_a_fault_for_one_method_then_other_methods_are_unaffected(sandbox):
    sandbox.inject(Fault("blocked_403", method="sendsms"))

    assert api(sandbox, "getcredit", {}).status == 200
    response = send(sandbox)
    assert response.status == 403
    assert b"<html>" in response.data
    assert sandbox.sent == []


def test_given_an_error_object_fault_then_http_200_with_status_and_message(sandbox):
    sandbox.inject(Fault("error_object", message="sender suspended"))

    response = send(sandbox)

    assert response.status == 200
    assert json.loads(response.data) == {"status": "Error", "message": "sender suspended"}
    assert sandbox.sent == []


@pytest.mark.parametrize(
    ("kind", "status", "fragment"),
    [("accept_then_500", 500, b'"Server Error"'), ("accept_then_502", 502, b"502 Bad Gateway")],
)
def test_given_an_accept_then_5xx_fault_then_the_sms_is_queued_and_the_answer_is_a_5xx_naming_no_refusal(
    sandbox, kind, status, fragment
):
    sandbox.inject(Fault(kind, method="sendsms"))
    credit = sandbox.credit

    response = send(sandbox, f"{MOBILE},09127654321")

    assert response.status == status
    assert fragment in response.data
    assert b"[" not in response.data  # no msgids
    assert [sms.destination for sms in sandbox.sent] == ["989121234567", "989127654321"]
    assert sandbox.credit == credit - 2
    assert [(c.method, c.status) for c in sandbox.calls] == [("sendsms", status)]
    assert send(sandbox).status == 200  # once only


def test_given_an_accept_then_500_fault_on_a_call_refused_anyway_then_the_refusal_stands(sandbox):
    sandbox.inject(Fault("accept_then_500", method="sendsms"))

    response = send(sandbox, credentials={"username": "user", "password": "wrong"})

    assert response.status == 401
    assert sandbox.sent == []


@pytest.mark.parametrize(
    ("message", "expected"),
    [(None, "Error 1: invalid username or password"), ("خطا: اعتبار کافی نیست", "خطا: اعتبار کافی نیست")],
)
def test_given_an_error_text_200_fault_then_http_200_with_plain_text_and_nothing_sent(
    sandbox, message, expected
):
    sandbox.inject(Fault("error_text_200", method="sendsms", message=message))

    response = send(sandbox)

    assert response.status == 200
    assert response.data.decode("utf-8") == expected
    assert sandbox.sent == []


# --- refused destinations ---------------------------------------------------------------------------


def test_given_a_named_refused_destination_in_a_call_then_406_lists_only_the_refused_ones_and_nothing_is_sent(
    sandbox,
):
    sandbox.refuse_destinations(["989120000001", "09120000002", "09129999999"], named=True)
    credit = sandbox.credit

    response = send(sandbox, "09120000001,09121234567,989120000002")

    assert response.status == 406
    assert json.loads(response.data) == {
        "meta": {"status": 1010, "message": "destination list invalid"},
        "data": {"Invalids": ["09120000001", "989120000002"]},
    }
    assert sandbox.sent == []
    assert sandbox.credit == credit
    assert [(c.method, c.status, c.count) for c in sandbox.calls] == [("sendsms", 406, 3)]


def test_given_an_unnamed_refused_destination_in_a_call_then_400_invalid_destination_without_a_list(sandbox):
    sandbox.refuse_destinations(["09120000001"], named=False)

    response = send(sandbox, f"{MOBILE},09120000001")

    assert response.status == 400
    assert json.loads(response.data) == {"status": "Bad Request", "message": "invalid destination"}
    assert sandbox.sent == []


def test_given_refused_destinations_then_calls_without_them_are_sent_and_clearing_accepts_them_again(sandbox):
    sandbox.refuse_destinations(["09120000001"])

    assert send(sandbox, MOBILE).status == 200
    assert send(sandbox, "09120000001").status == 406
    sandbox.clear_refusals()
    assert send(sandbox, "09120000001").status == 200

    assert [sms.destination for sms in sandbox.sent] == ["989121234567", "989120000001"]


def test_given_named_and_unnamed_refused_destinations_in_one_call_then_406_names_only_the_named(sandbox):
    sandbox.refuse_destinations(["09120000001"], named=True)
    sandbox.refuse_destinations(["09120000002"], named=False)

    response = send(sandbox, "09120000002,09120000001")

    assert response.status == 406
    assert json.loads(response.data)["data"]["Invalids"] == ["09120000001"]


def test_given_the_control_plane_then_refusals_can_be_set_listed_and_cleared(sandbox):
    control(sandbox, "POST", "refusals", {"destinations": ["09120000001"]})
    control(sandbox, "POST", "refusals", {"destinations": ["09120000002"], "named": False})

    assert control(sandbox, "GET", "refusals") == [
        {"destination": "989120000001", "named": True},
        {"destination": "989120000002", "named": False},
    ]
    assert send(sandbox, "09120000001").status == 406
    assert send(sandbox, "09120000002").status == 400
    control(sandbox, "DELETE", "refusals")
    assert control(sandbox, "GET", "refusals") == []
    assert send(sandbox, "09120000001,09120000002").status == 200
    assert (
        http.request("POST", f"{sandbox.url}/_sandbox/refusals", body='{"destinations": "0912"}').status
        == 400
    )


@pytest.mark.parametrize("kind", ["accept_then_500", "accept_then_502", "error_text_200"])
def test_given_the_control_plane_then_the_new_fault_kinds_can_be_injected(sandbox, kind):
    control(sandbox, "POST", "faults", {"kind": kind, "method": "sendsms"})

    response = send(sandbox)

    assert response.status == {"accept_then_500": 500, "accept_then_502": 502, "error_text_200": 200}[kind]
    assert len(sandbox.sent) == (0 if kind == "error_text_200" else 1)


def test_given_a_reset_fault_then_no_answer_and_the_call_is_recorded_with_status_0(sandbox):
    sandbox.inject(Fault("reset"))

    with pytest.raises(urllib3.exceptions.ProtocolError):
        send(sandbox)

    assert sandbox.sent == []
    assert [(c.method, c.status) for c in sandbox.calls] == [("sendsms", 0)]


def test_given_slow_after_accept_then_the_sms_is_recorded_before_the_late_answer(sandbox):
    sandbox.inject(Fault("slow_after_accept", method="sendsms", delay=0.5))
    holder: dict[str, int] = {}
    worker = threading.Thread(target=lambda: holder.update(status=send(sandbox).status))
    worker.start()

    time.sleep(0.2)
    recorded_early = len(sandbox.sent)
    worker.join()

    assert recorded_early == 1
    assert holder == {"status": 200}


def test_given_a_fault_rate_then_roughly_that_share_fails_and_clear_faults_ends_it(sandbox):
    sandbox.fault_rate("http_503", 0.25, method="getcredit", seed=7)

    failures = sum(api(sandbox, "getcredit", {}).status == 503 for _ in range(200))
    sandbox.clear_faults()

    assert 25 <= failures <= 75
    assert api(sandbox, "getcredit", {}).status == 200


def test_given_latency_then_every_answer_is_delayed(sandbox):
    sandbox.latency = 0.2
    started = time.monotonic()

    api(sandbox, "getcredit", {})

    assert time.monotonic() - started >= 0.2


def test_given_an_unknown_fault_kind_then_value_error():
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault("explode")


def test_given_an_unknown_path_then_404(sandbox):
    assert http.request("GET", f"{sandbox.base_url}/sendmany").status == 404


# --- control plane ----------------------------------------------------------------------------------


def test_given_the_control_plane_then_another_process_can_drive_and_inspect_everything(sandbox):
    assert control(sandbox, "GET", "health") == {"ok": True, "base_url": sandbox.base_url}
    control(sandbox, "POST", "credentials", {"username": "u2", "password": "p2"})
    control(sandbox, "POST", "faults", {"kind": "http_500", "method": "sendsms", "times": 1})
    control(sandbox, "POST", "script", {"destination": MOBILE, "timeline": [[0, 1], [2, 8]]})
    credentials = {"username": "u2", "password": "p2"}

    assert send(sandbox, credentials=credentials).status == 500
    assert send(sandbox, credentials=credentials).status == 200
    before = control(sandbox, "GET", "clock")["now"]
    after = control(sandbox, "POST", "clock", {"advance": 3})["now"]
    assert after > before
    [entry] = json.loads(
        api(sandbox, "msgstatus", {"msgid": sandbox.sent[0].msgid}, credentials=credentials).data
    )
    assert entry["Status"] == "8"
    [sent] = control(sandbox, "GET", "sent")
    assert sent["destination"] == "989121234567"
    assert sent["msgid"] == sandbox.sent[0].msgid
    assert [c["status"] for c in control(sandbox, "GET", "calls")] == [500, 200, 200]

    control(sandbox, "POST", "faults", {"kind": "http_503", "rate": 1.0})
    assert api(sandbox, "getcredit", {}, credentials=credentials).status == 503
    control(sandbox, "DELETE", "faults")
    assert api(sandbox, "getcredit", {}, credentials=credentials).status == 200
    control(sandbox, "POST", "latency", {"latency": 0.1})
    assert sandbox.latency == 0.1
    control(sandbox, "POST", "credit", {"credit": "5"})
    assert control(sandbox, "GET", "credit") == {"credit": "5"}


def test_given_a_bad_control_request_then_400_or_404_not_a_crash(sandbox):
    assert http.request("POST", f"{sandbox.url}/_sandbox/faults", body='{"kind": "explode"}').status == 400
    assert http.request("POST", f"{sandbox.url}/_sandbox/faults", body="not json").status == 400
    assert http.request("GET", f"{sandbox.url}/_sandbox/nothing").status == 404


# --- inbound push -----------------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[str]]]:
    """A stand-in for the gateway's inbound URL, recording each raw request path."""
    paths: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            paths.append(self.path)
            self.send_response(500 if "fail" in self.path else 204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/inbound", paths
    server.shutdown()
    server.server_close()


def test_given_an_inbound_sms_then_pushed_as_a_get_with_the_manuals_parameters(sandbox, receiver):
    url, paths = receiver

    status = sandbox.push_inbound(
        url,
        source="09121234567",
        destination="98300012345",
        text="سلام خوبی؟",
        receive_time="2024-01-02 10:20:30",
    )

    assert status == 204
    assert paths == [
        "/inbound?Destination=98300012345&Source=09121234567&ReceiveTime=2024-01-02%2010%3A20%3A30"
        "&Msg%20Body=%D8%B3%D9%84%D8%A7%D9%85%20%D8%AE%D9%88%D8%A8%DB%8C%D8%9F"
    ]


def test_given_push_variants_then_name_spaces_and_double_encoding_are_as_asked(sandbox, receiver):
    url, paths = receiver

    sandbox.push_inbound(
        f"{url}?token=t",
        source="1",
        destination="2",
        text="a b+c",
        receive_time="x",
        param_name="MsgBody",
        space="+",
    )
    sandbox.push_inbound(url, source="1", destination="2", text="a b", receive_time="x", double_encode=True)

    assert paths[0] == "/inbound?token=t&Destination=2&Source=1&ReceiveTime=x&MsgBody=a+b%2Bc"
    assert paths[1].endswith("&Msg%20Body=a%2520b")


def test_given_no_receive_time_then_the_sandbox_clock_in_tehran_time(sandbox, receiver):
    url, paths = receiver

    sandbox.push_inbound(url, source="1", destination="2", text="x")

    [stamp] = re.findall(r"ReceiveTime=([^&]+)", paths[0])
    expected = sandbox.clock.now().astimezone(TEHRAN).strftime("%Y-%m-%d %H:%M")
    assert stamp.replace("%20", " ").replace("%3A", ":")[:16] == expected


def test_given_the_receiver_fails_then_its_status_is_returned_and_the_control_plane_can_push(
    sandbox, receiver
):
    url, paths = receiver

    assert sandbox.push_inbound(url, source="fail", destination="2", text="x") == 500
    pushed = control(sandbox, "POST", "inbound", {"url": url, "source": "1", "destination": "2", "text": "y"})
    assert pushed == {"status": 204}
    assert len(paths) == 2


# --- life cycle -------------------------------------------------------------------------------------


def test_given_a_non_loopback_host_then_refused():
    with pytest.raises(ValueError, match="loopback"):
        AsanakSandbox(host="0.0.0.0")


def test_given_a_slow_reply_and_an_idle_keepalive_connection_then_stop_is_prompt():
    sandbox = AsanakSandbox().start()
    api(sandbox, "getcredit", {})  # leaves a kept-alive connection in the pool
    sandbox.inject(Fault("slow_after_accept", delay=30))
    outcome: list[object] = []

    def slow_call() -> None:
        try:
            outcome.append(api(sandbox, "getcredit", {}).status)
        except urllib3.exceptions.HTTPError as exc:
            outcome.append(type(exc))

    worker = threading.Thread(target=slow_call, daemon=True)
    worker.start()
    time.sleep(0.1)

    started = time.monotonic()
    sandbox.stop()
    sandbox.stop()  # twice is fine

    assert time.monotonic() - started < 2
    worker.join(timeout=5)
    assert outcome == [urllib3.exceptions.ProtocolError]  # the pending reply never came


def test_given_the_command_line_then_it_serves_until_terminated():
    env = {**os.environ, "PYTHONPATH": str(Path(asanak_sandbox.__file__).parents[1])}
    process = subprocess.Popen(
        [sys.executable, "-m", "asanak_sandbox", "--port", "0", "--username", "u", "--password", "p"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        base_url = re.search(r"http://127\.0\.0\.1:\d+/webservice/v1rest", line)
        assert base_url, line
        response = http.request(
            "POST",
            f"{base_url.group(0)}/getcredit",
            fields={"username": "u", "password": "p"},
            encode_multipart=False,
        )
        assert json.loads(response.data) == {"Credit": "1000"}
    finally:
        process.terminate()
        assert process.wait(timeout=5) == 0
