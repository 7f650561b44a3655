"""The provider's SMS status callbacks: payloads read into receipts (seed 002's examples as printed), and the
webhook app served by a real uvicorn on 127.0.0.1, spoken to with httpx, storing into a real SQLite store."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from ipaddress import ip_network
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from remessa.channels.http.callbacks import loads, sms_status, sms_statuses
from remessa.model import Accepted, BatchState, Message, Receipt, Status
from remessa.receipts.listener import Listener
from remessa.receipts.webhooks import WebhookAuth, create_app
from remessa.results.report import report_lines
from remessa.store import Store
from remessa.store.schema import receipts as receipts_table

# seed 002, "Exemplo JSON Status de Envio (callback - entrega na operadora)": its trailing comma included
SEED_CALLBACK = """{
  "id":"f9c100ff-aed0-4456-898c-e57d754c439c",
  "correlationId":"client-id",
  "carrierId":1,
  "carrierName":"VIVO",
  "destination":"5511900009999",
  "sentStatusCode":2,
  "sentStatus":"SENT_SUCCESS",
  "sentAt":1266660300000,
  "sentDate":"2010-02-20T10:05:00Z",
  "campaignId":"64",
  "extraInfo":"",
}"""
CALLBACK_ID = "f9c100ff-aed0-4456-898c-e57d754c439c"

# seed 002, "Exemplo JSON Delivery Report (DR ou DLR - Entrega no aparelho do usuário)"
SEED_DLR = """{
  "id":"8f5af680-973e-11e4-ad43-4ee58e9a13a6",
  "correlationId":"myId",
  "carrierId":5,
  "carrierName":"TIM",
  "destination":"5519900001111",
  "sentStatusCode":2,
  "sentStatus":"SENT_SUCCESS",
  "sentStatusAt":1420732929252,
  "sentStatusDate":"2015-01-08T16:02:09Z",
  "deliveredStatusCode":4,
  "deliveredStatus":"DELIVERED_SUCCESS",
  "deliveredAt":1420732954000,
  "deliveredDate":"2015-01-08T16:02:34Z",
  "campaignId":1234
}"""
DLR_ID = "8f5af680-973e-11e4-ad43-4ee58e9a13a6"

TOKEN = "s3cret-t0ken"
PROVIDERS = {"wavy": WebhookAuth(token=TOKEN), "basic": WebhookAuth(basic_user="wavy", basic_password="pw")}
RECEIVED = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def dlr_for(provider_id: str) -> str:
    """The seed's delivery report, about another message."""
    return SEED_DLR.replace(DLR_ID, provider_id)


# --- the payloads ------------------------------------------------------------------------------------


def test_the_seeds_callback_with_its_trailing_comma_and_its_dlr_with_both_levels() -> None:
    callback = sms_status(loads(SEED_CALLBACK.encode()))
    assert callback == Receipt(CALLBACK_ID, datetime(2010, 2, 20, 10, 5, tzinfo=UTC), sent_code=2,
                               sent_status="SENT_SUCCESS", correlation_id="client-id", raw=callback.raw)
    assert callback.raw["carrierName"] == "VIVO" and callback.raw["extraInfo"] == ""
    assert sms_status(loads(SEED_DLR.encode())) == Receipt(  # at the delivered time
        DLR_ID, datetime(2015, 1, 8, 16, 2, 34, tzinfo=UTC), sent_code=2, sent_status="SENT_SUCCESS",
        delivered_code=4, delivered_status="DELIVERED_SUCCESS", correlation_id="myId", raw=json.loads(SEED_DLR))


@pytest.mark.parametrize(("fields", "at"), [
    ({"deliveredStatusCode": 4, "deliveredDate": "2015-01-08T16:02:34Z", "sentStatusAt": 1420732929252},
     datetime(2015, 1, 8, 16, 2, 34, tzinfo=UTC)),
    ({"deliveredStatusCode": 4, "sentStatusAt": 1420732929252}, RECEIVED),  # a DLR without its own time
    ({"sentStatusAt": 1420732929252}, datetime(2015, 1, 8, 16, 2, 9, 252000, tzinfo=UTC)),
    ({"sentAt": "1420732929000"}, datetime(2015, 1, 8, 16, 2, 9, tzinfo=UTC)),
    ({"sentStatusDate": "2015-01-08T16:02:09Z"}, datetime(2015, 1, 8, 16, 2, 9, tzinfo=UTC)),
    ({"sentDate": "2015-01-08T13:02:09-03:00"}, datetime(2015, 1, 8, 16, 2, 9, tzinfo=UTC)),
    ({"sentDate": "2015-01-08T16:02:09"}, datetime(2015, 1, 8, 16, 2, 9, tzinfo=UTC)),  # naive: UTC
    ({"sentAt": None, "sentDate": ""}, RECEIVED),  # no time given: when it came
    ({"deliveredAt": 1420732954000}, RECEIVED),  # a sent-level status ignores a delivered time
])
def test_the_time_of_a_status(fields: dict[str, Any], at: datetime) -> None:
    assert sms_status({"id": "A", "sentStatusCode": 2, **fields}, RECEIVED).at == at


def test_codes_may_be_strings_and_missing_names_come_from_the_tables() -> None:
    receipt = sms_status({"id": "ABC-1", "sentStatusCode": "2", "deliveredStatusCode": " 104 "}, RECEIVED)
    assert receipt == Receipt("abc-1", RECEIVED, 2, "SENT_SUCCESS", 104, "NOT_DELIVERED", raw=receipt.raw)
    expired = sms_status({"id": "x", "sentStatusCode": 101, "correlationId": 77}, RECEIVED)
    assert (expired.sent_status, expired.correlation_id, expired.delivered_code) == ("EXPIRED", "77", None)
    assert sms_status({"id": "x", "sentStatusCode": 999}, RECEIVED).sent_status == ""  # not in the tables
    assert [r.provider_id for r in sms_statuses([{**expired.raw, "id": "B"}, receipt.raw])] == ["b", "abc-1"]


@pytest.mark.parametrize(("payload", "error"), [
    ("SENT", "a status is not a JSON object"),
    ({"sentStatusCode": 2}, '"id" is missing'),
    ({"id": 42, "sentStatusCode": 2}, '"id" is not a string'),
    ({"id": "  ", "sentStatusCode": 2}, '"id" is blank'),
    ({"id": "a" * 101, "sentStatusCode": 2}, '"id" is longer than 100 characters'),
    ({"id": "a"}, 'neither "sentStatusCode" nor "deliveredStatusCode" is given'),
    ({"id": "a", "sentStatusCode": "two"}, '"sentStatusCode" is not a number'),
    ({"id": "a", "sentStatusCode": True}, '"sentStatusCode" is not a number'),
    ({"id": "a", "sentStatusCode": 2**31}, '"sentStatusCode" is out of range'),
    ({"id": "a", "sentStatusCode": 2, "sentStatus": "X" * 65}, '"sentStatus" is longer than 64 characters'),
    ({"id": "a", "deliveredStatusCode": [4]}, '"deliveredStatusCode" is not a number'),
    ({"id": "a", "sentStatusCode": 2, "sentStatus": {"name": "x"}}, '"sentStatus" is not a string'),
    ({"id": "a", "sentStatusCode": 2, "correlationId": ["c"]}, '"correlationId" is not a string'),
    ({"id": "a", "sentStatusCode": 2, "sentAt": "soon"}, '"sentAt" is not a number'),
    ({"id": "a", "sentStatusCode": 2, "sentStatusAt": 10**20}, '"sentStatusAt" is out of range'),
    ({"id": "a", "sentStatusCode": 2, "sentDate": 1266660300}, '"sentDate" is not a date'),
    ({"id": "a", "sentStatusCode": 2, "sentStatusDate": "yesterday"}, '"sentStatusDate" is not an ISO 8601 date'),
    ({"id": "a", "deliveredStatusCode": 4, "deliveredDate": "08/01/2015"}, '"deliveredDate" is not an ISO 8601 date'),
])
def test_a_status_that_cannot_be_read_says_which_field(payload: object, error: str) -> None:
    with pytest.raises(ValueError) as caught:
        sms_status(payload, RECEIVED)
    assert str(caught.value) == error
    with pytest.raises(ValueError) as caught:  # in a list, the position too
        sms_statuses([{"id": "a", "sentStatusCode": 2}, payload])
    assert str(caught.value) == f"status 1: {error}"
    with pytest.raises(ValueError, match="^the statuses are not a JSON array$"):
        sms_statuses(payload)


@pytest.mark.parametrize(("body", "value"), [
    (b'{"a": 1,}', {"a": 1}),
    (b'{"a": [1, 2 ,\n ], "b": {"c": "d",},}', {"a": [1, 2], "b": {"c": "d"}}),
    (b'{"a": "x,}", "b": "y, ]",}', {"a": "x,}", "b": "y, ]"}),  # commas inside strings are text
    (b'{"a": "say \\"hi,\\"}",}', {"a": 'say "hi,"}'}),
    ('{"a": "ação",}'.encode(), {"a": "ação"}),
])
def test_trailing_commas_are_tolerated(body: bytes, value: object) -> None:
    assert loads(body) == value


@pytest.mark.parametrize("body", [b'{"a": 1,,}', b'{"a": 1', b"", b"id=1", b'{"a": "unterminated,}', b"[" * 10**5])
def test_anything_else_malformed_is_refused(body: bytes) -> None:
    with pytest.raises(ValueError, match="^malformed JSON: "):
        loads(body)
    with pytest.raises(ValueError, match="^the body is not UTF-8$"):
        loads('{"a": "ação"}'.encode("latin-1"))


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_credentials_are_compared_whatever_they_are() -> None:
    auth, basic = WebhookAuth(token=TOKEN), WebhookAuth(basic_user="wavy", basic_password="pw")
    assert not auth.admits({"x-remessa-token": "ação"})  # non-ASCII is compared as bytes, never raises
    assert not any(basic.admits({"authorization": given}) for given in (
        _basic("Wavy", "pw"), _basic("wavy", "pW"), _basic("wavy", "pw:"), "Basic ***", "Basic d2F2eQ=="))
    assert WebhookAuth().admits({})  # nothing configured: nothing asked
    assert "pw" not in repr(basic) and TOKEN not in repr(auth)


# --- the app, served -----------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    store.migrate()
    yield store
    store.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., httpx.Client]]:
    """Serves create_app(...) on 127.0.0.1 (any free port); returns a client of it."""
    started: list[tuple[Listener, httpx.Client]] = []

    def start(sink: Callable[[str, list[Receipt]], None], **options: Any) -> httpx.Client:
        options.setdefault("providers", PROVIDERS)
        listener = Listener(create_app(sink, **options), "127.0.0.1", 0)
        listener.start()
        client = httpx.Client(base_url=f"http://127.0.0.1:{listener.port}", timeout=10)
        started.append((listener, client))
        return client

    yield start
    for listener, client in started:
        client.close()
        listener.stop()


def into(store: Store) -> Callable[[str, list[Receipt]], None]:
    """A sink storing into `store` (the daemon's, without the group commit)."""
    def sink(provider: str, receipts: list[Receipt]) -> None:
        store.record_receipts(receipts, time.time())
    return sink


@pytest.fixture
def client(store: Store, serve: Callable[..., httpx.Client]) -> httpx.Client:
    """A client of the webhooks storing into `store`."""
    return serve(into(store))


def post(client: httpx.Client, body: str | bytes | Iterator[bytes], **options: Any) -> httpx.Response:
    headers = {"content-type": "application/json", "authorization": f"Bearer {TOKEN}", **options.pop("headers", {})}
    return client.post(options.pop("path", "/webhooks/wavy/sms"), content=body, headers=headers, **options)


def submitted(store: Store, *provider_ids: str, accept: bool = True) -> list[Message]:
    """A batch of one message per provider id, claimed, and (with `accept`) accepted under those ids."""
    batch_id = store.create_batch(profile="default", name="a.txt", provider="wavy", state=BatchState.QUEUED,
                                  received_at=1.0)
    store.add_messages(batch_id, (
        (n, Status.QUEUED.value, f"55119876{n:05d}", f"texto {n}", f"c{n}", "", "", f"raw {n}", "", 0)
        for n in range(1, len(provider_ids) + 1)
    ))
    claimed = store.claim(batch_id, len(provider_ids), 2.0)
    if accept:
        outcomes = [Accepted(m.id, pid) for m, pid in zip(claimed, provider_ids, strict=True)]
        store.record_outcomes(batch_id, outcomes, 3.0)
    return claimed


def current(store: Store, message: Message) -> Message:
    return next(m for m in store.messages(message.batch_id) if m.id == message.id)


def stored(store: Store) -> Sequence[Any]:  # every receipt row kept, matched or not
    with store.db.reader.connect() as conn:
        return conn.execute(select(receipts_table).order_by(receipts_table.c.id)).all()


def test_the_seeds_callback_and_dlr_make_a_message_sent_then_delivered(store: Store, client: httpx.Client) -> None:
    first, second = submitted(store, CALLBACK_ID, DLR_ID)
    answer = post(client, SEED_CALLBACK)
    assert (answer.status_code, answer.json()) == (200, {"stored": 1})
    sent = current(store, first)
    assert (sent.status, sent.sent_code, sent.sent_status) == (Status.SENT, 2, "SENT_SUCCESS")
    assert sent.sent_at == datetime(2010, 2, 20, 10, 5, tzinfo=UTC).timestamp() and sent.delivered_code is None
    assert post(client, dlr_for(CALLBACK_ID)).json() == {"stored": 1}
    assert post(client, SEED_DLR).json() == {"stored": 1}
    for message in (first, second):
        done = current(store, message)
        assert (done.status, done.sent_code, done.delivered_code, done.delivered_status) == (
            Status.DELIVERED, 2, 4, "DELIVERED_SUCCESS")
        assert done.delivered_at == datetime(2015, 1, 8, 16, 2, 34, tzinfo=UTC).timestamp()
    assert json.loads(stored(store)[0].raw)["carrierName"] == "VIVO"  # the payload is kept as it came


def test_an_unknown_id_is_kept_and_applied_once_it_is_recorded(store: Store, client: httpx.Client) -> None:
    claimed = submitted(store, DLR_ID, accept=False)
    assert post(client, SEED_DLR).json() == {"stored": 1}  # the submit's answer is not committed yet
    assert post(client, SEED_CALLBACK).json() == {"stored": 1}  # an id we never gave out
    assert [(r.provider_id, r.message_id, r.sent_code, r.delivered_code) for r in stored(store)] == [
        (DLR_ID, None, 2, 4), (CALLBACK_ID, None, 2, None)]
    assert current(store, claimed[0]).status == Status.SUBMITTING
    store.record_outcomes(claimed[0].batch_id, [Accepted(claimed[0].id, DLR_ID)], 3.0)
    message = current(store, claimed[0])
    assert (message.status, message.sent_code, message.delivered_code) == (Status.DELIVERED, 2, 4)
    assert [r.message_id for r in stored(store)] == [message.id, None]


def test_a_repeated_callback_changes_nothing_twice(store: Store, client: httpx.Client) -> None:
    (message,) = submitted(store, DLR_ID)
    assert post(client, SEED_DLR).status_code == 200
    once, reported = current(store, message), list(report_lines(store, message.batch_id, ZoneInfo("UTC")))
    for _ in range(2):  # the provider did not get our answer and sends it again
        assert post(client, SEED_DLR).json() == {"stored": 1}
    assert current(store, message) == once
    assert list(report_lines(store, message.batch_id, ZoneInfo("UTC"))) == reported
    assert store.counts(message.batch_id) == {Status.DELIVERED: 1}


def test_a_list_of_statuses_in_one_request(store: Store, client: httpx.Client) -> None:
    first, second = submitted(store, "id-1", "id-2")
    polled = [  # the shape GET /v1/sms/status/list answers with
        {"id": "ID-1", "correlationId": "c1", "sentStatusCode": 2, "sentStatus": "SENT_SUCCESS",
         "sentStatusAt": 1420732929252, "sentStatusDate": "2015-01-08T16:02:09Z"},
        {**json.loads(dlr_for("id-2")), "deliveredStatusCode": 104, "deliveredStatus": "NOT_DELIVERED"},
        {"id": "id-3", "sentStatusCode": 203},
    ]
    assert post(client, json.dumps(polled)).json() == {"stored": 3}
    assert [(m.status, m.reason) for m in (current(store, first), current(store, second))] == [
        (Status.SENT, ""), (Status.UNDELIVERED, "provider: 104 NOT_DELIVERED")]
    assert [r.provider_id for r in stored(store)] == ["id-1", "id-2", "id-3"]
    assert post(client, "[]").json() == {"stored": 0}


@pytest.mark.parametrize(("body", "error"), [
    ('{"id": "x", "sentStatusCode": 2', "malformed JSON: "),
    ('{"id": "x", "sentStatusCode": "two"}', '"sentStatusCode" is not a number'),
    ('{"correlationId": "c", "sentStatusCode": 2}', '"id" is missing'),
    (f'[{SEED_DLR}, {{"id": "x"}}]', 'status 1: neither "sentStatusCode" nor "deliveredStatusCode" is given'),
    ('"SENT_SUCCESS"', "a status is not a JSON object"),
])
def test_a_malformed_body_is_refused_and_changes_nothing(
        store: Store, client: httpx.Client, body: str, error: str) -> None:
    (message,) = submitted(store, DLR_ID)
    answer = post(client, body)
    assert answer.status_code == 400 and answer.json()["error"].startswith(error)
    assert not stored(store) and current(store, message).status == Status.ACCEPTED


def test_a_body_over_the_limit_is_refused(store: Store, serve: Callable[..., httpx.Client]) -> None:
    client = serve(into(store), body_limit=1024)
    at_limit = SEED_DLR.encode().ljust(1024)
    over = at_limit + b" "
    assert post(client, over).status_code == 413  # Content-Length says so
    answer = post(client, iter([over[:500], over[500:]]))  # no length given: chunked
    assert "content-length" not in answer.request.headers and answer.status_code == 413
    assert not stored(store)
    assert post(client, iter([at_limit[:500], at_limit[500:]])).json() == {"stored": 1}
    assert post(client, at_limit).json() == {"stored": 1}


@pytest.mark.parametrize(("path", "headers", "status"), [
    ("/webhooks/wavy/sms", {"authorization": ""}, 401),
    ("/webhooks/wavy/sms", {"authorization": "Bearer wrong"}, 401),
    ("/webhooks/wavy/sms", {"authorization": "", "x-remessa-token": "wrong"}, 401),
    ("/webhooks/wavy/sms/wrong", {"authorization": ""}, 401),
    ("/webhooks/wavy/sms", {"authorization": "", "x-remessa-token": TOKEN}, 200),
    (f"/webhooks/wavy/sms/{TOKEN}", {"authorization": ""}, 200),
    ("/webhooks/basic/sms", {"authorization": _basic("wavy", "nope")}, 401),
    ("/webhooks/basic/sms", {"authorization": _basic("wavy", "pw")}, 200),
    ("/webhooks/other/sms", {}, 404),
])
def test_a_status_without_the_secret_is_refused_and_changes_nothing(
        store: Store, client: httpx.Client, path: str, headers: dict[str, str], status: int) -> None:
    answer = post(client, SEED_DLR, path=path, headers=headers)
    assert answer.status_code == status and len(stored(store)) == (1 if status == 200 else 0)
    if status == 401:
        assert answer.headers["www-authenticate"] == ('Basic realm="remessa"' if "basic" in path else "Bearer")


def test_a_source_outside_the_allowed_networks_is_refused(store: Store, serve: Callable[..., httpx.Client]) -> None:
    outside = serve(into(store), allowed_networks=[ip_network("10.0.0.0/8"), ip_network("fd00::/8")])
    inside = serve(into(store), allowed_networks=[ip_network("10.0.0.0/8"), ip_network("127.0.0.0/8")])
    assert post(outside, SEED_DLR).status_code == 403 and not stored(store)
    assert post(inside, SEED_DLR).json() == {"stored": 1}


def test_a_store_that_fails_answers_503_for_the_provider_to_retry(
        serve: Callable[..., httpx.Client], caplog: pytest.LogCaptureFixture) -> None:
    calls: list[tuple[str, list[str]]] = []

    def failing(provider: str, receipts: list[Receipt]) -> None:
        calls.append((provider, [r.provider_id for r in receipts]))
        raise OSError("disk I/O error")

    client = serve(failing)
    with caplog.at_level(logging.WARNING, "remessa.receipts.webhooks"):
        answer = post(client, SEED_DLR)
    assert answer.status_code == 503 and "send them again" in answer.json()["error"] and calls == [("wavy", [DLR_ID])]
    assert "provider wavy: 1 statuses not stored" in caplog.text and "disk I/O error" in caplog.text


def test_the_sink_runs_off_the_event_loop_and_health_answers(serve: Callable[..., httpx.Client]) -> None:
    threads: list[str] = []
    client = serve(lambda provider, receipts: threads.append(threading.current_thread().name))
    assert post(client, SEED_DLR).status_code == 200 and threads[0] != "http-listener"  # not the loop's
    health = client.get("/healthz")
    assert (health.status_code, health.json()) == (200, {"ok": True})


# --- the listener --------------------------------------------------------------------------------------


def test_the_listener_serves_on_a_real_port_stops_and_names_a_port_it_cannot_have() -> None:
    app = create_app(lambda provider, receipts: None, {})
    listener = Listener(app, "127.0.0.1", 0)
    listener.start()
    port = listener.port
    assert port and httpx.get(f"http://127.0.0.1:{port}/healthz").json() == {"ok": True}
    listener.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz")
    again = Listener(app, "127.0.0.1", port)
    again.start()  # the same port can be had again at once
    with pytest.raises(RuntimeError, match=rf"^cannot listen on 127\.0\.0\.1:{port}: .*in use"):
        Listener(app, "127.0.0.1", port).start()
    again.stop()
    again.stop()  # twice: nothing more to stop
    with pytest.raises(RuntimeError, match=r"^cannot listen on 192\.0\.2\.1:0: "):  # not an address of ours
        Listener(app, "192.0.2.1", 0).start()
