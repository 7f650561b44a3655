"""The devino_whatsapp_http channel against pytest-httpserver expectations from seed 003's examples, its status and
incoming-message webhooks as printed there, and the webhook app's Devino route served by a real uvicorn on
127.0.0.1 storing into a real SQLite store."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpx
import pytest
from pytest_httpserver import HTTPServer

from remessa.channels.base import Callbacks
from remessa.channels.http.callbacks import loads
from remessa.channels.http.devino_callbacks import devino_inbound, devino_statuses
from remessa.channels.http.devino_whatsapp import DevinoWhatsAppHttpChannel, DevinoWhatsAppHttpSettings
from remessa.model import Accepted, Inbound, OutgoingMessage, Receipt, Rejected, Status
from remessa.store import Store
from test_webhooks import TOKEN, current, into, post, serve, store, stored, submitted  # noqa: F401 - fixtures
from test_whatsapp_webhooks import Inbox, kept

KEY = "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="  # the seed's
SEED_REQUEST = {"messages": [{"from": "MyCompany", "to": "79034567890", "text": "Code: 1234"}]}
SEED_ANSWER = {"result": [{"code": "OK", "messageId": "3482512350952730368"}]}
SEED_STATUS = """[
    {
        "messageId": 1,
        "ts": 0,
        "status": "DELIVERED",
        "errorCode": 0,
        "ip": "127.0.0.1",
        "browser": "string",
        "os": "string",
        "userAgent": "string",
        "options": "string"
    }
]"""
SEED_INCOMING = """{
    "incomingMessageId": 0,
    "to": "str",
    "from": "str",
    "text": "str",
    "contentUrl": "str",
    "contentType": "str",
    "contentName": "str",
    "profileName": "str",
    "ts": 0
}"""
RECEIVED = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def settings(url: str, **extra: object) -> DevinoWhatsAppHttpSettings:
    return DevinoWhatsAppHttpSettings(url=url.rstrip("/"), api_key=KEY, sender="MyCompany", concurrency=1,
                                      **extra)  # type: ignore[arg-type]


@pytest.fixture
def channel(httpserver: HTTPServer) -> Iterator[Callable[..., DevinoWhatsAppHttpChannel]]:
    opened: list[DevinoWhatsAppHttpChannel] = []

    def build(**extra: object) -> DevinoWhatsAppHttpChannel:
        built = DevinoWhatsAppHttpChannel(settings(httpserver.url_for("/"), **extra))
        built.open(Callbacks(lambda receipts: None))
        opened.append(built)
        return built

    yield build
    for built in opened:
        built.close()


def text_row(n: int, text: str, destination: str = "+7 903 456-78-90") -> OutgoingMessage:
    return OutgoingMessage(id=n, batch_id=3, destination=destination, text=text, kind="whatsapp",
                           correlation_id=f"c{n}")


def test_the_seeds_request_and_answer(
        httpserver: HTTPServer, channel: Callable[..., DevinoWhatsAppHttpChannel]) -> None:
    expected = {"messages": [{**SEED_REQUEST["messages"][0], "callbackData": "c1"}]}
    httpserver.expect_request("/whatsapp/messages", method="POST", json=expected,
                              headers={"Authorization": f"Key {KEY}"}).respond_with_json(SEED_ANSWER)

    assert channel().send([text_row(1, "Code: 1234")]) == [Accepted(1, "3482512350952730368")]
    httpserver.check_assertions()


def test_a_template_row_and_the_callback_url(
        httpserver: HTTPServer, channel: Callable[..., DevinoWhatsAppHttpChannel]) -> None:
    row = OutgoingMessage(id=2, batch_id=3, destination="5519900001101", text="", kind="whatsapp",
                          template={"element_name": "boas_vindas", "language": "pt_BR", "values": ["Ana", 3]})
    expected = {"messages": [{"from": "MyCompany", "to": "5519900001101", "templateId": "boas_vindas",
                              "templateParams": {"1": "Ana", "2": "3"}, "languageCode": "pt_BR",
                              "callbackUrl": "https://remessa.example/webhooks/devino/devino",
                              "callbackData": "remessa-3-2"}]}
    httpserver.expect_request("/whatsapp/messages", json=expected).respond_with_json(
        {"result": [{"code": "OK", "messageId": "77"}]})

    outcomes = channel(callback_url="https://remessa.example/webhooks/devino/devino").send([row])
    assert outcomes == [Accepted(2, "77")]


def test_a_rejected_result_refuses_only_that_message(
        httpserver: HTTPServer, channel: Callable[..., DevinoWhatsAppHttpChannel]) -> None:
    httpserver.expect_request("/whatsapp/messages").respond_with_json({"result": [
        {"code": "OK", "messageId": "1"},
        {"code": "REJECTED", "reasons": [{"key": "invalid", "ref": "messages[1].to"}]},
        {"code": "REJECTED", "reasons": [{"key": "billing.error"}]},
    ]})
    rows = [text_row(1, "a"), text_row(2, "b", "12"), text_row(3, "c")]

    assert channel().send(rows) == [Accepted(1, "1"), Rejected(2, "devino: invalid (messages[1].to)"),
                                    Rejected(3, "devino: billing.error")]
    (request, _), = httpserver.log
    assert [m["to"] for m in json.loads(request.get_data())["messages"]] == ["79034567890", "12", "79034567890"]


def test_what_the_api_cannot_take_is_refused_without_a_request(
        httpserver: HTTPServer, channel: Callable[..., DevinoWhatsAppHttpChannel]) -> None:
    sms = OutgoingMessage(id=1, batch_id=3, destination="5511", text="x")
    outcomes = channel(per_request=2).send([sms, text_row(2, "x" * 1001)])
    assert [type(o) for o in outcomes] == [Rejected, Rejected]
    assert "1000 characters" in outcomes[1].reason  # type: ignore[union-attr]
    assert httpserver.log == []


def test_the_settings_need_a_key_and_a_sender() -> None:
    with pytest.raises(ValueError, match="api_key and sender"):
        DevinoWhatsAppHttpSettings(sender="MyCompany")
    with pytest.raises(ValueError, match="webhook only"):
        DevinoWhatsAppHttpSettings(api_key=KEY, sender="x", receipts="poll")
    assert KEY not in repr(DevinoWhatsAppHttpSettings(api_key=KEY, sender="x"))


def test_the_seeds_status_and_incoming_examples() -> None:
    status, = devino_statuses(loads(SEED_STATUS.encode()), RECEIVED)
    assert status == Receipt("1", RECEIVED, delivered_code=4, delivered_status="DELIVERED_SUCCESS",
                             correlation_id="string", raw=status.raw)
    assert devino_inbound(loads(SEED_STATUS.encode())) == []
    incoming, = devino_inbound(loads(SEED_INCOMING.encode()), RECEIVED)
    assert incoming == Inbound("str", "str", "str", RECEIVED, raw=incoming.raw)
    assert devino_statuses(loads(SEED_INCOMING.encode())) == []


@pytest.mark.parametrize(("item", "levels"), [
    ({"status": "SENT"}, (2, "SENT_SUCCESS", None, "", None)),
    ({"status": "READ", "ts": 1513616971891}, (None, "", 4, "DELIVERED_SUCCESS", 1513616971.891)),
    ({"status": "UNDELIVERED", "errorCode": 2305}, (None, "", 104, "UNDELIVERED 2305", None)),
    ({"status": "UNDELIVERED", "errorCode": 2010}, (None, "", 101, "UNDELIVERED 2010", None)),
    ({"status": "REJECTED", "errorCode": 2001}, (103, "REJECTED 2001", None, "", None)),
    ({"status": "SOMETHING", "errorCode": "2313"}, (None, "", 104, "SOMETHING 2313", None)),
])
def test_the_statuses_and_error_codes(item: dict[str, object], levels: tuple[object, ...]) -> None:
    receipt, = devino_statuses([{"messageId": "3482512350952730368", **item}], RECEIVED)
    read = receipt.read_at.timestamp() if receipt.read_at else None
    assert (receipt.sent_code, receipt.sent_status, receipt.delivered_code, receipt.delivered_status, read) == levels
    assert receipt.provider_id == "3482512350952730368"


def test_a_status_not_final_is_left_out_and_a_bad_one_named() -> None:
    assert devino_statuses([{"messageId": 5, "status": "ENQUEUED"}]) == []
    with pytest.raises(ValueError, match='^status 1: "messageId" is missing$'):
        devino_statuses([{"messageId": 5, "status": "SENT"}, {"status": "SENT"}])
    with pytest.raises(ValueError, match="neither"):
        devino_statuses("no")


def test_what_an_incoming_message_says() -> None:
    base = {"incomingMessageId": 9, "from": "79034567890", "to": "MyCompany"}
    said = [devino_inbound({**base, **extra})[0].text for extra in (
        {"contentUrl": "https://x/y.jpg", "contentType": "image/jpeg"},
        {"whatsAppGeoLocation": {"latitude": -23.5, "longitude": -46.6, "addressName": "Paulista"}},
        {"whatsAppContacts": [{"contactName": [{"formattedName": "Ana Lima"}]}, {"phones": [{"phone": "+5511"}]}]},
    )]
    assert said == ["[IMAGE] https://x/y.jpg", "[LOCATION] -23.5,-46.6 Paulista", "[CONTACTS] Ana Lima, +5511"]
    with pytest.raises(ValueError, match='"from" is missing'):
        devino_inbound({"incomingMessageId": 1})


# --- the webhook route ---------------------------------------------------------------------------------


@pytest.fixture
def client(store: Store, serve: Callable[..., httpx.Client]) -> httpx.Client:  # noqa: F811 - the fixtures
    return serve(into(store), inbound=Inbox(store))


def test_statuses_make_a_message_delivered_then_read(store: Store, client: httpx.Client) -> None:  # noqa: F811
    message, = submitted(store, "3482512350952730368")
    delivered = '[{"messageId": 3482512350952730368, "ts": 1513616971891, "status": "DELIVERED"}]'
    assert post(client, delivered, path="/webhooks/wavy/devino").json() == {"stored": 1, "inbound": 0}
    assert current(store, message).status == Status.DELIVERED
    read = '[{"messageId": 3482512350952730368, "ts": 1513616972891, "status": "READ"}]'
    assert post(client, read, path=f"/webhooks/wavy/devino/{TOKEN}", headers={"authorization": ""}).status_code == 200
    assert current(store, message).status == Status.READ


def test_an_incoming_message_is_stored(store: Store, client: httpx.Client) -> None:  # noqa: F811
    assert post(client, SEED_INCOMING, path="/webhooks/wavy/devino").json() == {"stored": 0, "inbound": 1}
    assert [(row.source, row.text) for row in kept(store)] == [("str", "str")]


def test_a_webhook_without_the_secret_or_malformed_is_refused(store: Store, client: httpx.Client) -> None:  # noqa: F811
    unauthorized = post(client, SEED_STATUS, path="/webhooks/wavy/devino", headers={"authorization": "Key x"})
    malformed = post(client, '[{"status": "SENT"}]', path="/webhooks/wavy/devino")
    assert (unauthorized.status_code, malformed.status_code) == (401, 400)
    assert "messageId" in malformed.json()["error"]
    assert stored(store) == []
