"""The simulator of the provider's HTTPS API on real sockets: bulk sends, status events by webhook (to a real
receiver) and by polling, fault injection, and `remessa sandbox --http` as an operator runs it."""

from __future__ import annotations

import json
import re
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request
from werkzeug import Response as WerkzeugResponse

from conftest import make_certificate, wait_for
from remessa.simulators.http.server import HttpSimulator, HttpSimulatorConfig
from test_cli_sandbox import Sandbox, sandboxes

AUTH = {"username": "remessa", "authenticationtoken": "secret"}
SEND = "/v1/send-bulk-sms"
STATUS = "/v1/sms/status/list"
FAST = {"sent_delay": 0.01, "delivered_delay": 0.03, "redeliver_after": 0.1}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
ISO_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\Z")
CALLBACK_FIELDS = {"id", "correlationId", "carrierId", "carrierName", "destination", "sentStatusCode", "sentStatus",
                   "sentAt", "sentDate", "campaignId", "extraInfo"}
STATUS_FIELDS = {"id", "correlationId", "carrierId", "carrierName", "destination", "sentStatusCode", "sentStatus",
                 "sentStatusAt", "sentStatusDate", "deliveredStatusCode", "deliveredStatus", "deliveredAt",
                 "deliveredDate", "campaignId", "extraInfo"}


@pytest.fixture
def simulator() -> Iterator[Callable[..., HttpSimulator]]:
    """Start simulators with FAST timings plus overrides; all are stopped at the end."""
    started: list[HttpSimulator] = []

    def start(**overrides: Any) -> HttpSimulator:
        sim = HttpSimulator(HttpSimulatorConfig(**{**FAST, **overrides}))
        sim.start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture
def api() -> Iterator[Callable[[HttpSimulator], httpx.Client]]:
    clients: list[httpx.Client] = []

    def connect(sim: HttpSimulator, headers: dict[str, str] = AUTH, **options: Any) -> httpx.Client:
        clients.append(httpx.Client(base_url=sim.url, headers=headers, timeout=10, **options))
        return clients[-1]

    yield connect
    for client in clients:
        client.close()


class Receiver:
    """The user's webhook on a real server: what it was posted, in order, and what it answered."""

    def __init__(self, server: HTTPServer, fail: Callable[[dict[str, Any]], bool] = lambda _event: False) -> None:
        self.url = server.url_for("/hook")
        self.posts: list[tuple[dict[str, Any], dict[str, str], int]] = []  # (event, headers, status answered)
        self._fail = fail
        server.expect_request("/hook", method="POST").respond_with_handler(self._handle)

    def _handle(self, request: Request) -> WerkzeugResponse:
        event = json.loads(request.get_data())
        status = 500 if self._fail(event) else 200
        self.posts.append((event, dict(request.headers), status))
        return WerkzeugResponse("", status=status)

    def taken(self) -> list[dict[str, Any]]:
        return [event for event, _, status in self.posts if status == 200]


def bulk(*destinations: str, text: str | None = "Oi Ana", **top: Any) -> dict[str, Any]:
    messages = [{"destination": d, **({"messageText": text} if text else {})} for d in destinations]
    return {"messages": messages, **top}


def poll_until(client: httpx.Client, count: int) -> list[dict[str, Any]]:
    """Poll the status list until `count` events came (each call returns new ones only)."""
    events: list[dict[str, Any]] = []

    def more() -> bool:
        answer = client.get(STATUS)
        assert answer.status_code == 200
        events.extend(answer.json())
        return len(events) >= count

    wait_for(more, timeout=10)
    return events


def test_a_bulk_send_returns_one_id_per_message_in_order(simulator, api) -> None:
    sim = simulator()
    answer = api(sim).post(SEND, json={
        "messages": [{"destination": "5519900001111", "messageText": "First message", "correlationId": "c1"},
                     {"destination": "5519900002222"},
                     {"destination": "5519900003333", "correlationId": "c3", "extraInfo": "x"}],
        "defaultValues": {"messageText": "Default message", "flashSMS": "true"},
        "timeZone": "America/Sao_Paulo", "timeWindow": [12, 15, 20], "campaignAlias": "promo",
        "expiresInMinutes": 60})

    assert answer.status_code == 200
    body = answer.json()
    assert UUID.match(body["id"])
    assert [set(m) for m in body["messages"]] == [{"id", "correlationId"}, {"id"}, {"id", "correlationId"}]
    assert [m.get("correlationId") for m in body["messages"]] == ["c1", None, "c3"]
    ids = [m["id"] for m in body["messages"]]
    assert all(UUID.match(i) for i in ids) and len(set(ids) | {body["id"]}) == 4
    assert sim.messages() == {ids[0]: ("5519900001111", "First message", "c1"),
                              ids[1]: ("5519900002222", "Default message", None),
                              ids[2]: ("5519900003333", "Default message", "c3")}
    stats = sim.stats()
    assert (stats.requests, stats.accepted, sum(stats.rejected.values())) == (1, 3, 0)


@pytest.mark.parametrize("headers", [
    {}, {"username": "remessa"}, {"username": "remessa", "authenticationtoken": "wrong"},
    {"username": "loja", "authenticationtoken": "secret"}, {"username": "remessa", "authenticationtoken": "séc"},
], ids=["none", "no-token", "wrong-token", "wrong-user", "not-ascii"])
def test_wrong_or_missing_credentials_are_401(simulator, api, headers: dict[str, str]) -> None:
    sim = simulator()
    client = api(sim, headers={k: v.encode() for k, v in headers.items()})
    for path, call in ((SEND, lambda p: client.post(p, json=bulk("5511988887777"))), (STATUS, client.get),
                       ("/v1/sms/receive/list", client.get)):
        answer = call(path)
        assert answer.status_code == 401, path
        assert answer.json() == {"errorCode": 401, "errorMessage": "invalid username or authenticationtoken"}
    assert sim.messages() == {} and sim.stats().rejected == {401: 1}


@pytest.mark.parametrize(("body", "message"), [
    (bulk(*["5511988887777"] * 1001), "messages: 1001 messages, at most 1000 per request"),
    (bulk("5511988887777", "5511988886666", text=None), "messages[0].messageText: missing"),
    ({"messages": [{"destination": "5511988887777", "messageText": "a"}, {"destination": "5511988886666"}]},
     "messages[1].messageText: missing, and no defaultValues.messageText"),
    ({"messages": [{"messageText": "a"}]}, "messages[0].destination: missing"),
    ({"messages": [{"destination": 5511988887777, "messageText": "a"}]}, "messages[0].destination: not a string"),
    (bulk("5511988887777", text="a" * 1281), "messages[0].messageText: 1281 characters, at most 1280"),
    ({"messages": []}, "messages: a non-empty array is required"),
    ({"destination": "5511988887777"}, "messages: a non-empty array is required"),
    ([], "the body is not a JSON object"),
    (bulk("5511988887777", expiresAt=1, expiresDate="2027-01-01T00:00:00"), "expiresAt, expiresDate: mutually"),
])
def test_a_bad_request_is_400_naming_what_is_wrong(simulator, api, body: Any, message: str) -> None:
    sim = simulator()
    answer = api(sim).post(SEND, json=body)
    assert answer.status_code == 400
    assert answer.json()["errorCode"] == 400 and answer.json()["errorMessage"].startswith(message)
    assert sim.messages() == {} and sim.stats().rejected == {400: 1}


def test_a_body_that_is_not_json_is_400_and_a_huge_one_413(simulator, api) -> None:
    sim = simulator(max_body_size=10_000)
    client = api(sim)
    answer = client.post(SEND, content=b"{messages", headers={"content-type": "application/json"})
    assert answer.status_code == 400 and answer.json()["errorMessage"].startswith("the body is not JSON")
    assert client.post(SEND, json=bulk(*["5511988887777"] * 500)).status_code == 413
    assert client.post(SEND, json=bulk("5511988887777")).status_code == 200


def test_every_message_gets_its_callback_then_its_delivery_report_by_webhook(
    simulator, api, httpserver: HTTPServer
) -> None:
    hook = Receiver(httpserver)
    sim = simulator(webhook_url=hook.url, webhook_headers={"Authorization": "Bearer s3"})
    body = bulk("5511988887777", "5511988880202", "5511988880104", campaignAlias="promo")
    body["messages"][0]["correlationId"] = "c1"
    answer = api(sim).post(SEND, json=body)
    ok, refused, lost = (m["id"] for m in answer.json()["messages"])

    wait_for(lambda: len(hook.posts) == 5, timeout=10)  # two each, one for the refused destination
    wait_for(lambda: sim.stats().webhooks_acked == 5, timeout=10)
    by_id = {i: [e for e in hook.taken() if e["id"] == i] for i in (ok, refused, lost)}
    assert [set(e) for e in by_id[ok]] == [CALLBACK_FIELDS, STATUS_FIELDS]
    callback, report = by_id[ok]
    assert (callback["sentStatusCode"], callback["sentStatus"]) == (2, "SENT_SUCCESS")
    assert (report["deliveredStatusCode"], report["deliveredStatus"]) == (4, "DELIVERED_SUCCESS")
    assert callback["correlationId"] == report["correlationId"] == "c1"
    assert callback["destination"] == report["destination"] == "5511988887777"
    assert callback["campaignId"] == "1" and report["campaignId"] == 1  # text, then a number, as in the seed
    assert callback["sentAt"] == report["sentStatusAt"] <= report["deliveredAt"]
    assert abs(callback["sentAt"] / 1000 - time.time()) < 60
    assert all(ISO_Z.match(d) for d in (callback["sentDate"], report["sentStatusDate"], report["deliveredDate"]))
    assert (callback["carrierId"], callback["carrierName"]) == (report["carrierId"], report["carrierName"])
    [refusal] = by_id[refused]
    assert (refusal["sentStatusCode"], refusal["sentStatus"]) == (202, "INVALID_DESTINATION_NUMBER")
    assert [(e["sentStatusCode"], e.get("deliveredStatusCode")) for e in by_id[lost]] == [(2, None), (2, 104)]
    assert by_id[lost][1]["deliveredStatus"] == "NOT_DELIVERED"
    for _, headers, _ in hook.posts:
        assert headers["Authorization"] == "Bearer s3" and headers["Content-Type"] == "application/json"
    stats = sim.stats()
    assert (stats.webhooks_sent, stats.webhooks_failed) == (5, 0)


def test_an_event_the_receiver_refuses_is_delivered_again_and_the_report_waits(
    simulator, api, httpserver: HTTPServer
) -> None:
    refusals = {"left": 2}

    def fail(event: dict[str, Any]) -> bool:  # the first callback of ...7777, twice
        if event["destination"] == "5511988887777" and "sentAt" in event and refusals["left"]:
            refusals["left"] -= 1
            return True
        return False

    hook = Receiver(httpserver, fail)
    sim = simulator(webhook_url=hook.url)  # the report is due long before the callback is redelivered
    api(sim).post(SEND, json=bulk("5511988887777", "5511988886666"))

    wait_for(lambda: sim.stats().webhooks_acked == 4, timeout=10)
    seen = [("callback" if "sentAt" in e else "report", status)
            for e, _, status in hook.posts if e["destination"] == "5511988887777"]
    assert seen == [("callback", 500), ("callback", 500), ("callback", 200), ("report", 200)]
    other = [status for e, _, status in hook.posts if e["destination"] == "5511988886666"]
    assert other == [200, 200]  # the other message has its own order
    stats = sim.stats()
    assert (stats.webhooks_sent, stats.webhooks_acked, stats.webhooks_failed) == (6, 4, 2)


def test_a_webhook_nobody_answers_is_retried_and_polling_still_works(simulator, api) -> None:
    sim = simulator(webhook_url="http://127.0.0.1:9/hook", webhook_timeout=1.0)  # discard: nothing listens
    client = api(sim)
    client.post(SEND, json=bulk("5511988887777"))
    wait_for(lambda: sim.stats().webhooks_failed >= 2, timeout=10)
    assert sim.stats().webhooks_acked == 0
    assert len(poll_until(client, 2)) == 2


def test_the_status_list_returns_each_event_once(simulator, api) -> None:
    sim = simulator(list_limit=2)
    client = api(sim)
    body = client.post(SEND, json=bulk("5511988887777", "5511988880202", "5511988880104")).json()
    ok, refused, lost = (m["id"] for m in body["messages"])

    events = poll_until(client, 5)

    assert all(set(e) == STATUS_FIELDS for e in events)
    assert [(e["id"], e["sentStatusCode"], e["deliveredStatusCode"]) for e in events if e["id"] == ok] == [
        (ok, 2, None), (ok, 2, 4)]  # the callback's event before the report's
    assert {(e["id"], e["sentStatusCode"], e["deliveredStatusCode"]) for e in events if e["id"] != ok} == {
        (refused, 202, None), (lost, 2, None), (lost, 2, 104)}
    assert client.get(STATUS).json() == []
    stats = sim.stats()
    assert stats.events_polled == 5 and stats.polls >= 3  # at most list_limit per answer
    assert client.get("/v1/sms/receive/list").json() == []


def test_status_codes_for_the_next_requests_then_normal(simulator, api) -> None:
    sim = simulator()
    client = api(sim)
    sim.faults.status_code, sim.faults.count, sim.faults.retry_after = 429, 2, "3"

    answers = [client.post(SEND, json=bulk("5511988887777")) for _ in range(3)]

    assert [a.status_code for a in answers] == [429, 429, 200]
    assert [a.headers.get("Retry-After") for a in answers] == ["3", "3", None]
    assert answers[0].json() == {"errorCode": 429, "errorMessage": "Too Many Requests"}
    assert len(sim.messages()) == 1 and sim.stats().rejected == {429: 2}


def test_refuse_next_and_a_share_of_503(simulator, api) -> None:
    sim = simulator(seed=7)
    client = api(sim)
    sim.faults.refuse_next = 2
    assert [client.post(SEND, json=bulk("5511988887777")).status_code for _ in range(3)] == [400, 400, 200]
    sim.faults.fail_share = 0.5
    codes = [client.post(SEND, json=bulk("5511988887777")).status_code for _ in range(40)]
    assert set(codes) == {200, 503}
    assert sim.stats().rejected == {400: 2, 503: codes.count(503)}
    assert len(sim.messages()) == 1 + codes.count(200)


def test_a_dropped_request_is_taken_but_its_answer_is_lost(simulator, api) -> None:
    sim = simulator()
    client = api(sim)
    sim.faults.drop = 1
    with pytest.raises(httpx.RemoteProtocolError):
        client.post(SEND, json=bulk("5511988887777", "5511988886666"))
    lost = set(sim.messages())
    assert len(lost) == 2

    assert client.post(SEND, json=bulk("5511988885555")).status_code == 200  # the next one is answered
    stats = sim.stats()
    assert (stats.requests, stats.accepted, stats.dropped, sum(stats.rejected.values())) == (2, 3, 1, 0)
    assert lost <= {e["id"] for e in poll_until(client, 6)}  # and its messages were sent


def test_a_delay_holds_the_answer(simulator, api) -> None:
    sim = simulator()
    sim.faults.delay = 0.3
    started = time.monotonic()
    assert api(sim).post(SEND, json=bulk("5511988887777")).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_a_port_in_use_is_an_os_error(simulator) -> None:
    sim = simulator()
    with pytest.raises(OSError, match="cannot listen"):
        HttpSimulator(HttpSimulatorConfig(port=sim.port)).start()


@pytest.mark.parametrize(("settings", "named"), [
    ({"sent_delay": 0.5, "delivered_delay": 0.1}, "sent_delay <= delivered_delay"),
    ({"refuse": {"*1": 2}}, "refuse['*1']"),
    ({"undeliverable": {"*1": 202}}, "undeliverable['*1']"),
    ({"list_limit": 0}, "list_limit"),
])
def test_a_bad_setting_is_a_value_error_naming_it(settings: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=re.escape(named)):
        HttpSimulatorConfig(**settings)


# --- remessa sandbox --http ---------------------------------------------------------------------

LISTENING = re.compile(r"HTTP API listening on (https?://127\.0\.0\.1:\d+), accepting username 'remessa' "
                       r"token 'secret'")


@pytest.fixture
def sandbox() -> Iterator[Callable[..., Sandbox]]:
    """`remessa sandbox --http ...` processes (tests/test_cli_sandbox.py's Sandbox, told the HTTP banner)."""
    with sandboxes() as start:
        yield lambda *options: start("--http", *options, listening=LISTENING)


def test_the_sandbox_serves_the_api_and_prints_its_counts(sandbox, httpserver: HTTPServer) -> None:
    hook = Receiver(httpserver)
    box = sandbox("--port", "0", "--sent-delay", "0.01", "--delivery-delay", "0.02", "--webhook-url", hook.url,
                  "--webhook-header", "Authorization: Bearer s3")
    with httpx.Client(base_url=box.url, headers=AUTH) as client:
        answer = client.post(SEND, json=bulk("5511988887777", "5511988880202"))
        assert answer.status_code == 200
        assert client.post(SEND, json={}).status_code == 400
        wait_for(lambda: len(hook.posts) == 3, timeout=10)
        assert len(poll_until(client, 3)) == 3

    assert box.stop() == 0
    assert box.out[-1].strip() == ("remessa sandbox: stopped; requests 2, accepted 2, rejected 1, "
                                   "webhooks sent 3, acked 3, events polled 3")
    assert hook.posts[0][1]["Authorization"] == "Bearer s3"
    log = "".join(box.err)
    assert f"batch {answer.json()['id']}: 2 messages accepted" in log
    assert "Oi Ana" not in log and "Bearer" not in log  # no bodies or secrets at INFO


def test_the_sandbox_speaks_https(sandbox, tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path, san="IP:127.0.0.1")
    box = sandbox("--port", "0", "--tls-cert", str(cert), "--tls-key", str(key))
    assert box.url.startswith("https://")
    with httpx.Client(base_url=box.url, headers=AUTH, verify=ssl.create_default_context(cafile=cert)) as client:
        assert client.post(SEND, json=bulk("5511988887777")).status_code == 200
    assert box.stop() == 0


def test_webhook_options_without_http_are_a_usage_error() -> None:
    process = subprocess.run([sys.executable, "-m", "remessa.cli", "sandbox", "--port", "0", "--webhook-url",
                              "http://127.0.0.1:9/"], capture_output=True, text=True, timeout=20)
    assert process.returncode == 2 and "--webhook-url and --webhook-header need --http" in process.stderr
