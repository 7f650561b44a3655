"""The provider's WhatsApp webhooks: statuses and MO messages read from seeds 001 and 002's examples as printed,
and the webhook app's WhatsApp route served by a real uvicorn on 127.0.0.1, spoken to with httpx, storing into a
real SQLite store."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from ipaddress import ip_network
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from remessa.channels.http.callbacks import loads
from remessa.channels.http.whatsapp_callbacks import is_inbound, whatsapp_inbound, whatsapp_statuses
from remessa.model import Accepted, Inbound, Receipt, Status
from remessa.store import Store
from remessa.store.schema import inbound as inbound_table
from test_webhooks import TOKEN, current, into, post, serve, store, stored, submitted  # noqa: F401 - fixtures

# seed 002, "Webhooks" / "Exemplo": a status sent, delivered and read (codes 1 and free-text names)
SEED_STATUS = """{
  "total": 1,
  "data": [
    {
      "id": "8995c40f-1c3a-48d0-98ee-bbc603622a91",
      "correlationId": "...",
      "destination": "5519900000000",
      "origin": "5519900000000",
      "campaignId": 100,
      "campaignAlias": "...",
      "flowId": "...",
      "extraInfo": "...",
      "sent": true,
      "sentStatusCode": 1,
      "sentStatus": "sent status",
      "sentDate": "2017-12-18T17:09:31.891Z",
      "sentAt": 1513616971891,
      "delivered": true,
      "deliveredStatusCode": 1,
      "deliveredStatus": "delivered status",
      "deliveredDate": "2017-12-18T17:09:31.891Z",
      "deliveredAt": 1513616971891,
      "read": true,
      "readDate": "2017-12-18T17:09:31.891Z",
      "readAt": 1513616971891,
      "updatedDate": "2017-12-18T17:09:31.891Z",
      "updatedAt": 1513616971891,
      "type": "MESSAGE"
    }
  ],
  "clientInfo": {
      "customerId": 42,
      "subAccountId": 1291,
      "userId": 1
  }
}"""

# seed 001, Exemplo de mensagem de texto
SEED_TEXT = """{
"total": 1,
"data": [
{
"id": "ce425ffe-bc62-421f-9261-e6819a5eab43",
"source": "5519900000000",
"origin": "5519900000000",
"userProfile": {
"name": "nome do usuário"
},
"campaignId": 100,
"correlationId": "...",
"campaignAlias": "...",
"flowId": "....",
"extraInfo": "...",
"message": {
"type": "TEXT",
"messageText": "Olá, essa é uma mensagem do usuário."
},
"receivedAt": 1513616971473,
"receivedDate": "2017-12-18T17:09:31.473Z"
}
]
}"""

# seed 001, Exemplo de mensagem com resposta de botão
SEED_BUTTON = """{
"total":1,
"data":[
{
"id":"ce425ffe-bc62-421f-9261-e6819a5eab43",
"source":"5511900000000",
"origin":"5511900000000",
"userProfile":{
"name":"username",
"whatsAppId":"5511900000000"
},
"correlationId":"...",
"messageId":"aae959ca-5944-405a-809a-75ff142bc234",
"message":{
"type":"BUTTON",
"messageText":"Sim",
"payload":"sim"
},
"receivedAt":1513616971473,
"receivedDate":"2020-07-22T14:24:41Z",
"session":{
"id":"06deff90-cc27-11ea-b94f-0050569e62ca",
"createdAt":1513616971473
}
}
],
"clientInfo":{
"customerId":10,
"subAccountId":0,
"userId":101010
}
}"""

# seed 001, the media example (seed 002 heads it "Exemplo de mensagem de midia")
SEED_IMAGE = """{
"total": 1,
"data": [
{
"id": "ce425ffe-bc62-421f-9261-e6819a5eab43",
"source": "5519900000000",
"origin": "5519900000000",
"userProfile": {
"name": "nome do usuário"
},
"campaignId": 100,
"correlationId": "...",
"campaignAlias": "...",
"flowId": "....",
"extraInfo": "...",
"message": {
"type": "IMAGE",
"mediaUrl": "https://...",
"mimeType": "image/jpg",
"caption": "..."
},
"receivedAt": 1513616971473,
"receivedDate": "2017-12-18T17:09:31.473Z"
}
]
}"""

# seed 001, Exemplo de mensagem de texto com referral
SEED_REFERRAL = """{
"total": 1,
"data": [
{
"id": "ce425ffe-bc62-421f-9261-e6819a5eab43",
"source": "5519900000000",
"origin": "5519900000000",
"userProfile": {
"name": "name of the user"
},
"campaignId": 100,
"correlationId": "...",
"campaignAlias": "...",
"flowId": "....",
"extraInfo": "...",
"referral": {
"headLine": "...",
"body": "...",
"sourceType": "...",
"sourceId": "...",
"sourceUrl": "...",
"mediaType": "...",
"mediaUrl": "..."
},
"mtSentAt": 1513616971473,
"message": {
"type": "TEXT",
"messageText": "Hi, this is a message from the user"
},
"receivedAt": 1513616971473,
"receivedDate": "2017-12-18T17:09:31.473Z"
}
]
}"""

# seed 001, Exemplo de mensagem de localização
SEED_LOCATION = """{
"total": 1,
"data": [
{
"id": "ce425ffe-bc62-421f-9261-e6819a5eab43",
"source": "5519900000000",
"origin": "5519900000000",
"userProfile": {
"name": "nome do usuário"
},
"campaignId": 100,
"correlationId": "...",
"campaignAlias": "...",
"flowId": "....",
"extraInfo": "...",
"message": {
"location": {
"geoPoint": "-22.894180,-47.047960",
"name": "Sinch",
"address": "Av. Cel. Silva Telles"
}
},
"receivedAt": 1513616971473,
"receivedDate": "2017-12-18T17:09:31.473Z"
}
]
}"""

# seed 001, Exemplo de mensagem de contato
SEED_CONTACTS = """{
"total": 1,
"data": [
{
"id": "ce425ffe-bc62-421f-9261-e6819a5eab43",
"source": "5519900000000",
"origin": "5519900000000",
"userProfile": {
"name": "nome do usuário"
},
"campaignId": 100,
"correlationId": "...",
"campaignAlias": "...",
"flowId": "....",
"extraInfo": "...",
"message": {
"contacts":[
{
"addresses":[
{
"city":"Menlo Park",
"country":"United States",
"country_code":"us",
"state":"CA",
"street":"1 Hacker Way",
"type":"HOME",
"zip":"94025"
},
{
"city":"Menlo Park",
"country":"United States",
"country_code":"us",
"state":"CA",
"street":"200 Jefferson Dr",
"type":"WORK",
"zip":"94025"
}
],
"birthday":"2012-08-18",
"emails":[
{
"email":"test@fb.com",
"type":"WORK"
},
{
"email":"test@whatsapp.com",
"type":"WORK"
}
],
"name":{
"first_name":"John",
"formatted_name":"John Smith",
"last_name":"Smith"
},
"org":{
"company":"WhatsApp",
"department":"Design",
"title":"Manager"
},
"phones":[
{
"phone":"+1 (940) 555-1234",
"type":"HOME"
},
{
"phone":"+1 (650) 555-1234",
"type":"WORK",
"wa_id":"16505551234"
}
],
"urls":[
{
"url":"https://www.fb.com",
"type":"WORK"
}
]
}
]
},
"receivedAt": 1513616971473,
"receivedDate": "2017-12-18T17:09:31.473Z"
}
]
}"""

# seed 001, the extraInfo of an MO: its segmentation lists
SEED_SEGMENTATION = """{
"segmentation_list":[
{
"id":26,
"customerId":42,
"subAccountId":0,
"name":"Wavy WhatsApp Segmentation List",
"active":true
},
{
"id":27,
"customerId":43,
"subAccountId":0,
"name":"Wavy WhatsApp Segmentation List 2",
"active":true
}
]
}"""

STATUS_ID = "8995c40f-1c3a-48d0-98ee-bbc603622a91"
SEED_AT = datetime(2017, 12, 18, 17, 9, 31, 891000, tzinfo=UTC)  # every time of the status example
RECEIVED_AT = datetime(2017, 12, 18, 17, 9, 31, 473000, tzinfo=UTC)  # the MO examples' receivedAt
ANSWERED = "aae959ca-5944-405a-809a-75ff142bc234"  # the button reply's messageId
RECEIVED = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
PATH = "/webhooks/wavy/whatsapp"


def webhook(*items: dict[str, Any]) -> str:
    """A webhook body of these items, as the provider wraps them."""
    return json.dumps({"total": len(items), "data": list(items), "clientInfo": {"customerId": 42}})


def item_of(seed: str) -> dict[str, Any]:
    """The (only) item of a seed's example."""
    item: dict[str, Any] = json.loads(seed)["data"][0]
    return item


def event(**fields: Any) -> dict[str, Any]:
    """A status item about STATUS_ID with these fields."""
    return {"id": STATUS_ID, "type": "MESSAGE", **fields}


def mo(**message: Any) -> dict[str, Any]:
    """The seed's TEXT MO item with another message object."""
    return {**item_of(SEED_TEXT), "message": message}


# --- the payloads: statuses --------------------------------------------------------------------------


def test_the_seeds_status_example_is_sent_delivered_and_read() -> None:
    payload = loads(SEED_STATUS.encode())
    item = item_of(SEED_STATUS)
    assert whatsapp_statuses(payload) == [Receipt(  # its codes 1 read as the success their flags say
        STATUS_ID, SEED_AT, sent_code=2, sent_status="SENT_SUCCESS", delivered_code=4,
        delivered_status="DELIVERED_SUCCESS", correlation_id="...", raw=item, read_at=SEED_AT)]
    assert item["sentStatus"] == "sent status" and whatsapp_inbound(payload) == []  # kept as it came


@pytest.mark.parametrize(("fields", "levels"), [
    ({"sent": True, "sentStatusCode": 2, "sentStatus": "SENT_SUCCESS"}, (2, "SENT_SUCCESS", None, "")),
    ({"sent": True}, (2, "SENT_SUCCESS", None, "")),
    ({"sent": True, "sentStatusCode": 1, "sentStatus": "sent status"}, (2, "SENT_SUCCESS", None, "")),
    ({"sentStatusCode": "2"}, (2, "SENT_SUCCESS", None, "")),  # no flag: the code as given
    ({"sent": False, "sentStatusCode": 202}, (202, "INVALID_DESTINATION_NUMBER", None, "")),
    ({"sent": False, "sentStatusCode": 204, "sentStatus": "DESTINATION_BLOCKED_BY_OPTOUT"},
     (204, "DESTINATION_BLOCKED_BY_OPTOUT", None, "")),
    ({"sent": False, "sentStatusCode": 209}, (209, "INVALID_CONTENT", None, "")),  # the WhatsApp table's
    ({"sent": False, "sentStatusCode": 210}, (210, "INVALID_SESSION", None, "")),
    ({"sent": False, "sentStatusCode": 999}, (999, "", None, "")),
    ({"sent": True, "sentStatusCode": 2, "delivered": False, "deliveredStatusCode": None, "deliveredStatus": None},
     (2, "SENT_SUCCESS", None, "")),  # a sent event: nothing yet of its delivery
    ({"sent": True, "sentStatusCode": 2, "delivered": False, "deliveredStatusCode": 104},
     (2, "SENT_SUCCESS", 104, "NOT_DELIVERED")),
    ({"sent": True, "sentStatusCode": 2, "delivered": False, "deliveredStatusCode": 105},
     (2, "SENT_SUCCESS", 105, "WA_MO_MEDIA_UNRETRYABLE_EXCEPTION")),
    ({"sent": True, "sentStatusCode": 2, "delivered": False, "deliveredStatusCode": 101},
     (2, "SENT_SUCCESS", 101, "EXPIRED")),
    ({"delivered": True, "deliveredStatusCode": 1, "deliveredStatus": "delivered status"},
     (None, "", 4, "DELIVERED_SUCCESS")),
    ({"delivered": True}, (None, "", 4, "DELIVERED_SUCCESS")),
    ({"sent": False, "delivered": None, "read": True}, (None, "", None, "")),  # read alone
])
def test_the_flags_and_codes_of_a_status(fields: dict[str, Any], levels: tuple[object, ...]) -> None:
    (receipt,) = whatsapp_statuses({"data": [event(**fields)]}, RECEIVED)
    assert (receipt.sent_code, receipt.sent_status, receipt.delivered_code, receipt.delivered_status) == levels
    assert receipt.raw == event(**fields) and receipt.provider_id == STATUS_ID


MS = 1513616971891
NO_STATUS = 'neither "sentStatusCode", "deliveredStatusCode" nor "read" says a status'


@pytest.mark.parametrize(("fields", "at", "read_at"), [
    ({"sent": True, "sentAt": MS, "sentDate": "2020-01-01T00:00:00Z"}, SEED_AT, None),  # epoch ms first
    ({"sent": True, "sentDate": "2017-12-18T15:09:31.891-02:00"}, SEED_AT, None),
    ({"sent": True, "sentAt": str(MS)}, SEED_AT, None),
    ({"sent": True}, RECEIVED, None),  # no time given: when it came
    ({"sent": True, "sentAt": 0, "delivered": True, "deliveredDate": "2017-12-18T17:09:31.891"}, SEED_AT, None),
    ({"sent": True, "sentAt": MS, "delivered": True}, RECEIVED, None),  # a delivery without its own time
    ({"read": True, "readAt": MS}, SEED_AT, SEED_AT),
    ({"delivered": True, "deliveredAt": 0, "read": True, "readDate": "2017-12-18T17:09:31.891Z"},
     datetime(1970, 1, 1, tzinfo=UTC), SEED_AT),
    ({"delivered": True, "deliveredAt": MS, "read": True}, SEED_AT, RECEIVED),
    ({"delivered": True, "deliveredAt": MS, "read": False, "readAt": MS}, SEED_AT, None),
])
def test_the_times_of_a_status(fields: dict[str, Any], at: datetime, read_at: datetime | None) -> None:
    (receipt,) = whatsapp_statuses({"data": [event(**fields)]}, RECEIVED)
    assert (receipt.at, receipt.read_at) == (at, read_at)


@pytest.mark.parametrize(("payload", "error"), [
    ("MESSAGE", "the webhook is not a JSON object"),
    ([event(sent=True)], "the webhook is not a JSON object"),
    ({"total": 1}, '"data" is missing'),
    ({"data": event(sent=True)}, '"data" is not a JSON array'),
    ({"data": [event(sent=True), "sent"]}, "item 1: not a JSON object"),
])
def test_a_body_that_is_not_a_webhook_says_why(payload: object, error: str) -> None:
    for parse in (whatsapp_statuses, whatsapp_inbound):
        with pytest.raises(ValueError) as caught:
            parse(payload)
        assert str(caught.value) == error


@pytest.mark.parametrize(("item", "error"), [
    ({"sent": True}, '"id" is missing'),
    ({"id": 7, "sent": True}, '"id" is not a string'),
    ({"id": "a" * 101, "sent": True}, '"id" is longer than 100 characters'),
    (event(), NO_STATUS),
    (event(sent=False, delivered=False, read=False), NO_STATUS),
    (event(sent="true"), '"sent" is not a boolean'),
    (event(sent=True, delivered=1), '"delivered" is not a boolean'),
    (event(sent=True, read="no"), '"read" is not a boolean'),
    (event(sent=True, sentStatusCode="two"), '"sentStatusCode" is not a number'),
    (event(sent=False, sentStatusCode=-1), '"sentStatusCode" is out of range'),
    (event(delivered=True, deliveredStatusCode=[4]), '"deliveredStatusCode" is not a number'),
    (event(sent=True, sentStatus="X" * 65), '"sentStatus" is longer than 64 characters'),
    (event(delivered=True, deliveredStatus={"name": "ok"}), '"deliveredStatus" is not a string'),
    (event(sent=True, correlationId=["c"]), '"correlationId" is not a string'),
    (event(sent=True, sentAt="soon"), '"sentAt" is not a number'),
    (event(delivered=True, deliveredAt=10**20), '"deliveredAt" is out of range'),
    (event(sent=True, sentDate=20171218), '"sentDate" is not a date'),
    (event(read=True, readDate="18/12/2017"), '"readDate" is not an ISO 8601 date'),
    (event(sent=True, message="ok"), '"message" is not a JSON object'),
])
def test_a_status_that_cannot_be_read_names_its_item_and_field(item: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError) as caught:
        whatsapp_statuses({"data": [item_of(SEED_STATUS), item]})
    assert str(caught.value) == f"item 1: {error}"


# --- the payloads: messages users sent (MO) ----------------------------------------------------------


@pytest.mark.parametrize(("seed", "expected"), [
    (SEED_TEXT, ("5519900000000", "Olá, essa é uma mensagem do usuário.", "")),
    (SEED_BUTTON, ("5511900000000", "Sim", ANSWERED)),  # the button's text, answering the template sent
    (SEED_IMAGE, ("5519900000000", "[IMAGE] ...", "")),  # its caption
    (SEED_REFERRAL, ("5519900000000", "Hi, this is a message from the user", "")),
    (SEED_LOCATION, ("5519900000000", "[LOCATION] -22.894180,-47.047960 Sinch", "")),
    (SEED_CONTACTS, ("5519900000000", "[CONTACTS] John Smith", "")),
], ids=["text", "button", "image", "referral", "location", "contacts"])
def test_the_seeds_mo_examples(seed: str, expected: tuple[str, str, str]) -> None:
    number, text, answered = expected
    payload = loads(seed.encode())
    assert whatsapp_inbound(payload) == [Inbound(number, number, text, RECEIVED_AT, answered, item_of(seed))]
    assert whatsapp_statuses(payload) == [] and is_inbound(item_of(seed))


def test_an_mo_keeps_its_segmentation_lists_and_referral_in_its_raw() -> None:
    item = {**item_of(SEED_REFERRAL), "extraInfo": SEED_SEGMENTATION}
    (message,) = whatsapp_inbound({"data": [item]})
    assert json.loads(message.raw["extraInfo"])["segmentation_list"][1]["id"] == 27
    assert message.raw["referral"]["sourceType"] == "..." and message.raw["mtSentAt"] == 1513616971473


@pytest.mark.parametrize(("message", "text"), [
    ({"type": "IMAGE", "mediaUrl": "https://cdn/1.jpg", "mimeType": "image/jpg"}, "[IMAGE] https://cdn/1.jpg"),
    ({"type": "document", "mediaUrl": "https://cdn/b.pdf", "caption": " boleto "}, "[DOCUMENT] boleto"),
    ({"type": "AUDIO", "mediaUrl": "https://cdn/a.ogg", "caption": None}, "[AUDIO] https://cdn/a.ogg"),
    ({"mediaUrl": "https://cdn/v.mp4"}, "[MEDIA] https://cdn/v.mp4"),
    ({"type": "STICKER"}, "[STICKER]"),
    ({"type": "BUTTON", "payload": "sim"}, "sim"),  # a button reply without its text: its payload
    ({"type": "LIST_REPLY", "title": "Opção 2"}, "Opção 2"),  # no seed shows one: its title
    ({"type": "TEXT", "messageText": "  SAIR "}, "  SAIR "),  # as written
    ({"type": "TEXT"}, ""),
    ({"type": "REACTION"}, "[REACTION]"),  # a kind we do not know: named, kept in raw
    ({"location": {"geoPoint": " -22.89 , -47.04 ", "address": "Av. Cel. Silva Telles"}},
     "[LOCATION] -22.89,-47.04 Av. Cel. Silva Telles"),
    ({"type": "LOCATION", "location": {"name": "Casa"}}, "[LOCATION] Casa"),
    ({"contacts": [{"name": {"first_name": "Ana", "middle_name": None, "last_name": "Lima"}},
                   {"phones": [{"phone": "+55 11 99999-0000", "type": "CELL"}]}, {}]},
     "[CONTACTS] Ana Lima, +55 11 99999-0000"),
    ({"contacts": []}, "[CONTACTS]"),
])
def test_what_an_mo_says(message: dict[str, Any], text: str) -> None:
    assert [m.text for m in whatsapp_inbound({"data": [mo(**message)]})] == [text]


@pytest.mark.parametrize(("fields", "at", "answered"), [
    ({"receivedAt": None}, datetime(2017, 12, 18, 17, 9, 31, 473000, tzinfo=UTC), ""),  # the ISO date then
    ({"receivedAt": None, "receivedDate": None}, RECEIVED, ""),
    ({"messageId": " AAE959CA-5944-405A-809A-75FF142BC234 "}, RECEIVED_AT, ANSWERED),
    ({"message": {"type": "TEXT", "messageText": "ok", "context": {"id": ANSWERED.upper()}}}, RECEIVED_AT, ANSWERED),
    ({"messageId": "", "message": {"type": "TEXT", "context": {"from": "x"}}}, RECEIVED_AT, ""),
])
def test_the_time_of_an_mo_and_the_message_it_answers(fields: dict[str, Any], at: datetime, answered: str) -> None:
    (message,) = whatsapp_inbound({"data": [{**item_of(SEED_TEXT), **fields}]}, RECEIVED)
    assert (message.at, message.message_id) == (at, answered)


@pytest.mark.parametrize(("fields", "error"), [
    ({"source": None}, '"source" is missing'),
    ({"source": " "}, '"source" is missing'),
    ({"source": ["5519900000000"]}, '"source" is not a string'),
    ({"source": "5" * 65}, '"source" is longer than 64 characters'),
    ({"origin": {"number": "5519900000000"}}, '"origin" is not a string'),
    ({"origin": "5" * 65}, '"origin" is longer than 64 characters'),
    ({"receivedAt": "soon"}, '"receivedAt" is not a number'),
    ({"receivedAt": None, "receivedDate": "18/12/2017"}, '"receivedDate" is not an ISO 8601 date'),
    ({"messageId": ["x"]}, '"messageId" is not a string'),
    ({"message": {"type": ["TEXT"]}}, '"message.type" is not a string'),
    ({"message": {"type": "TEXT", "messageText": {"text": "oi"}}}, '"message.messageText" is not a string'),
    ({"message": {"type": "BUTTON", "payload": ["sim"]}}, '"message.payload" is not a string'),
    ({"message": {"type": "IMAGE", "caption": ["..."]}}, '"message.caption" is not a string'),
    ({"message": {"type": "IMAGE", "mediaUrl": {"url": "x"}}}, '"message.mediaUrl" is not a string'),
    ({"message": {"location": "Campinas"}}, '"message.location" is not a JSON object'),
    ({"message": {"type": "LOCATION"}}, '"message.location" is not a JSON object'),
    ({"message": {"location": {"geoPoint": "north"}}}, '"message.location.geoPoint" is not "latitude,longitude"'),
    ({"message": {"location": {"geoPoint": "-91,0"}}}, '"message.location.geoPoint" is not "latitude,longitude"'),
    ({"message": {"location": {"geoPoint": "0,nan"}}}, '"message.location.geoPoint" is not "latitude,longitude"'),
    ({"message": {"location": {"name": ["Sinch"]}}}, '"message.location.name" is not a string'),
    ({"message": {"contacts": {"name": "John"}}}, '"message.contacts" is not a JSON array'),
    ({"message": {"contacts": ["John Smith"]}}, '"message.contacts[0]" is not a JSON object'),
    ({"message": {"contacts": [{}, {"name": "John"}]}}, '"message.contacts[1].name" is not a JSON object'),
    ({"message": {"contacts": [{"name": {"formatted_name": 1.5}}]}},
     '"message.contacts[0].name.formatted_name" is not a string'),
    ({"message": {"type": "TEXT", "context": "aae959ca"}}, '"message.context" is not a JSON object'),
    ({"message": {"type": "TEXT", "context": {"id": [1]}}}, '"message.context.id" is not a string'),
])
def test_an_mo_that_cannot_be_read_names_its_item_and_field(fields: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError) as caught:
        whatsapp_inbound({"data": [item_of(SEED_STATUS), {**item_of(SEED_TEXT), **fields}]})
    assert str(caught.value) == f"item 1: {error}"


@pytest.mark.parametrize(("item", "inbound"), [
    (item_of(SEED_TEXT), True), (item_of(SEED_STATUS), False), ({"message": {}}, True),
    ({"message": None}, False), ({"message": "Sim"}, False), ({}, False),
])
def test_an_item_with_a_message_object_is_an_mo(item: dict[str, Any], inbound: bool) -> None:
    assert is_inbound(item) is inbound


# --- the app, served -----------------------------------------------------------------------------------


class Inbox:
    """The inbound callable of the app: stores each MO as the daemon's sink does (an opt-out blocks its
    sender in profile "default") and keeps what it was handed, and in which thread."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.messages: list[tuple[str, Inbound]] = []
        self.threads: set[str] = set()

    def __call__(self, provider: str, message: Inbound) -> None:
        self.threads.add(threading.current_thread().name)
        self.store.record_inbound(message, provider, ["default"], message.source, time.time())
        self.messages.append((provider, message))


@pytest.fixture
def inbox(store: Store) -> Inbox:
    return Inbox(store)


@pytest.fixture
def client(store: Store, inbox: Inbox, serve: Callable[..., httpx.Client]) -> httpx.Client:
    """A client of the webhooks storing statuses and MOs into `store`."""
    return serve(into(store), inbound=inbox)


def kept(store: Store) -> Sequence[Any]:  # every MO row stored
    with store.db.reader.connect() as conn:
        return conn.execute(select(inbound_table).order_by(inbound_table.c.id)).all()


def test_the_seeds_status_makes_a_whatsapp_message_read(store: Store, client: httpx.Client) -> None:
    (message,) = submitted(store, STATUS_ID)
    answer = post(client, SEED_STATUS, path=PATH)
    assert (answer.status_code, answer.json()) == (200, {"stored": 1, "inbound": 0})
    read = current(store, message)
    assert (read.status, read.sent_code, read.sent_status, read.delivered_code, read.delivered_status) == (
        Status.READ, 2, "SENT_SUCCESS", 4, "DELIVERED_SUCCESS")
    assert read.delivered_at == SEED_AT.timestamp()
    (row,) = stored(store)
    assert row.read_at == SEED_AT.timestamp() and json.loads(row.raw)["sentStatus"] == "sent status"


def test_the_statuses_of_a_message_one_webhook_each(store: Store, client: httpx.Client) -> None:
    first, refused = submitted(store, STATUS_ID, "b1")
    sent = event(sent=True, sentStatusCode=2, sentStatus="SENT_SUCCESS", sentAt=MS, delivered=False,
                 deliveredStatusCode=None, read=False)
    delivered = {**sent, "delivered": True, "deliveredStatusCode": 4, "deliveredAt": MS + 1000}
    for body, status in ((sent, Status.SENT), (delivered, Status.DELIVERED), ({**delivered, "read": True,
                         "readAt": MS + 2000}, Status.READ), (sent, Status.READ)):  # a late one moves nothing back
        assert post(client, webhook(body), path=PATH).json() == {"stored": 1, "inbound": 0}
        assert current(store, first).status == status
    assert post(client, webhook({"id": "B1", "sent": False, "sentStatusCode": 202}), path=PATH).status_code == 200
    assert (current(store, refused).status, current(store, refused).reason) == (
        Status.REJECTED, "provider: 202 INVALID_DESTINATION_NUMBER")


def test_a_status_before_its_message_is_accepted_is_applied_then(store: Store, client: httpx.Client) -> None:
    (message,) = submitted(store, STATUS_ID, accept=False)
    assert post(client, SEED_STATUS, path=PATH).json() == {"stored": 1, "inbound": 0}
    assert current(store, message).status == Status.SUBMITTING and stored(store)[0].message_id is None
    store.record_outcomes(message.batch_id, [Accepted(message.id, STATUS_ID)], 3.0)
    assert current(store, message).status == Status.READ and stored(store)[0].message_id == message.id


@pytest.mark.parametrize("seed", [SEED_TEXT, SEED_BUTTON, SEED_IMAGE, SEED_REFERRAL, SEED_LOCATION, SEED_CONTACTS],
                         ids=["text", "button", "image", "referral", "location", "contacts"])
def test_each_mo_example_reaches_the_inbound_callable_and_is_stored(
        store: Store, client: httpx.Client, inbox: Inbox, seed: str) -> None:
    answer = post(client, seed, path=PATH)
    assert (answer.status_code, answer.json()) == (200, {"stored": 0, "inbound": 1})
    ((provider, message),) = inbox.messages
    assert provider == "wavy" and message == whatsapp_inbound(json.loads(seed), message.at)[0]
    (row,) = kept(store)
    assert (row.source, row.destination, row.text, row.at) == (
        message.source, message.destination, message.text, RECEIVED_AT.timestamp())
    assert json.loads(row.raw) == item_of(seed) and not stored(store)
    assert "http-listener" not in inbox.threads  # run off the event loop


def test_an_mo_sair_blocks_its_sender(store: Store, client: httpx.Client, inbox: Inbox) -> None:
    body = SEED_TEXT.replace('"messageText": "Olá, essa é uma mensagem do usuário."', '"messageText": "SAIR"')
    assert post(client, body, path=f"{PATH}/{TOKEN}", headers={"authorization": ""}).json() == {
        "stored": 0, "inbound": 1}
    ((_, message),) = inbox.messages
    assert (message.source, message.destination, message.text) == ("5519900000000", "5519900000000", "SAIR")
    assert store.blocklist("default") == {"5519900000000"} and kept(store)[0].opt_out == 1


def test_a_button_reply_is_linked_to_the_message_it_answers(store: Store, client: httpx.Client) -> None:
    (template,) = submitted(store, ANSWERED)
    assert post(client, SEED_BUTTON, path=PATH).json() == {"stored": 0, "inbound": 1}
    (row,) = kept(store)
    assert (row.text, row.message_id, row.batch_id) == ("Sim", template.id, template.batch_id)


def test_statuses_and_mos_in_one_body(store: Store, client: httpx.Client, inbox: Inbox) -> None:
    (message,) = submitted(store, STATUS_ID)
    body = webhook(item_of(SEED_TEXT), item_of(SEED_STATUS), {**item_of(SEED_BUTTON), "messageId": STATUS_ID})
    assert post(client, body, path=PATH).json() == {"stored": 1, "inbound": 2}
    assert current(store, message).status == Status.READ and len(stored(store)) == 1
    assert [m.text for _, m in inbox.messages] == ["Olá, essa é uma mensagem do usuário.", "Sim"]
    assert [row.message_id for row in kept(store)] == [None, message.id]
    assert post(client, webhook(), path=PATH).json() == {"stored": 0, "inbound": 0}


def test_without_an_inbound_callable_an_mo_is_refused_and_nothing_stored(
        store: Store, serve: Callable[..., httpx.Client]) -> None:
    (message,) = submitted(store, STATUS_ID)
    client = serve(into(store))
    answer = post(client, webhook(item_of(SEED_STATUS), item_of(SEED_TEXT)), path=PATH)
    assert (answer.status_code, answer.json()) == (400, {"error": "this endpoint takes no inbound messages"})
    assert not stored(store) and current(store, message).status == Status.ACCEPTED
    assert post(client, SEED_STATUS, path=PATH).json() == {"stored": 1, "inbound": 0}


@pytest.mark.parametrize(("body", "error"), [
    (SEED_STATUS[:-10], "malformed JSON: "),
    (SEED_STATUS.replace('"data"', '"items"'), '"data" is missing'),
    (json.dumps(item_of(SEED_STATUS)), '"data" is missing'),  # a bare item, not a webhook
    (webhook(item_of(SEED_TEXT), item_of(SEED_STATUS), event(sent="yes")), 'item 2: "sent" is not a boolean'),
    (webhook(item_of(SEED_STATUS), mo(location={"geoPoint": "here"})),
     'item 1: "message.location.geoPoint" is not "latitude,longitude"'),
    (webhook(item_of(SEED_STATUS), {**item_of(SEED_TEXT), "source": None}), 'item 1: "source" is missing'),
])
def test_a_malformed_webhook_is_refused_and_changes_nothing(
        store: Store, client: httpx.Client, inbox: Inbox, body: str, error: str) -> None:
    (message,) = submitted(store, STATUS_ID)
    answer = post(client, body, path=PATH)
    assert answer.status_code == 400 and answer.json()["error"].startswith(error)
    assert not stored(store) and not kept(store) and not inbox.messages
    assert current(store, message).status == Status.ACCEPTED


@pytest.mark.parametrize(("path", "headers", "status"), [
    (PATH, {"authorization": ""}, 401),
    (PATH, {"authorization": "Bearer wrong"}, 401),
    (f"{PATH}/wrong", {"authorization": ""}, 401),
    (PATH, {"authorization": "", "x-remessa-token": TOKEN}, 200),
    (f"{PATH}/{TOKEN}", {"authorization": ""}, 200),
    ("/webhooks/other/whatsapp", {}, 404),
])
def test_a_webhook_without_the_secret_is_refused_and_changes_nothing(
        store: Store, client: httpx.Client, inbox: Inbox, path: str, headers: dict[str, str], status: int) -> None:
    answer = post(client, webhook(item_of(SEED_STATUS), item_of(SEED_TEXT)), path=path, headers=headers)
    assert answer.status_code == status
    assert (len(stored(store)), len(kept(store)), len(inbox.messages)) == ((1, 1, 1) if status == 200 else (0, 0, 0))


def test_a_source_outside_the_allowed_networks_or_a_body_over_the_limit_is_refused(
        store: Store, serve: Callable[..., httpx.Client]) -> None:
    outside = serve(into(store), allowed_networks=[ip_network("10.0.0.0/8")])
    assert post(outside, SEED_STATUS, path=PATH).status_code == 403
    small = serve(into(store), body_limit=len(SEED_STATUS))
    assert post(small, SEED_STATUS + " ", path=PATH).status_code == 413
    assert post(small, iter([SEED_STATUS.encode(), b" "]), path=PATH).status_code == 413  # chunked
    assert not stored(store)
    assert post(small, SEED_STATUS, path=PATH).json() == {"stored": 1, "inbound": 0}


def test_a_store_that_fails_answers_503_for_the_provider_to_retry(
        store: Store, serve: Callable[..., httpx.Client], caplog: pytest.LogCaptureFixture) -> None:
    def failing_sink(provider: str, receipts: list[Receipt]) -> None:
        raise OSError("disk I/O error")

    def failing_inbox(provider: str, message: Inbound) -> None:
        raise OSError("database is locked")

    inbox = Inbox(store)
    both = webhook(item_of(SEED_STATUS), item_of(SEED_TEXT))
    with caplog.at_level(logging.WARNING, "remessa.receipts.webhooks"):
        answer = post(serve(failing_sink, inbound=inbox), both, path=PATH)
        assert answer.status_code == 503 and "send them again" in answer.json()["error"]
        assert not inbox.messages  # the statuses go first: their MO waits for the provider's retry
        answer = post(serve(into(store), inbound=failing_inbox), both, path=PATH)
        assert answer.status_code == 503 and answer.json()["error"] == (
            "the inbound messages could not be stored; send them again")
    assert "provider wavy: 1 statuses not stored" in caplog.text and "disk I/O error" in caplog.text
    assert "provider wavy: 1 inbound messages not stored" in caplog.text and "database is locked" in caplog.text
    # the retry repeats the stored status, which changes nothing twice, and brings the MO in
    assert post(serve(into(store), inbound=inbox), both, path=PATH).json() == {"stored": 1, "inbound": 1}
    assert len(kept(store)) == 1
