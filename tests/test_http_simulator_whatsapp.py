"""The simulator's WhatsApp API on real sockets: template and text sends, their sent, delivered and read
events posted to a real webhook receiver with seed 002's field names, and MO messages in seed 001's shape."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer

from conftest import wait_for
from remessa.simulators.http.server import HttpSimulator, HttpSimulatorConfig
from test_http_simulator import (  # noqa: F401 - api, sandbox and simulator are fixtures
    AUTH,
    UUID,
    Receiver,
    api,
    sandbox,
    simulator,
)

SEND = "/v1/whatsapp/send"
FAST = {"read_delay": 0.06}  # with test_http_simulator's sent 0.01 and delivered 0.03
ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\Z")
TEMPLATE = {"namespace": "aaaaaaaa_bbbb_cccc_dddd_eeeeeeeeeeee", "elementName": "some_approved_image_hsm",
            "languageCode": "pt_BR", "languagePolicy": "DETERMINISTIC", "bodyParameters": ["Ana"],
            "header": {"image": {"type": "JPG", "url": "https://upload.wikimedia.org/x.jpg"}}}
STATUS_FIELDS = ["id", "correlationId", "destination", "origin", "campaignId", "campaignAlias", "flowId",
                 "extraInfo", "sent", "sentStatusCode", "sentStatus", "sentDate", "sentAt", "delivered",
                 "deliveredStatusCode", "deliveredStatus", "deliveredDate", "deliveredAt", "read", "readDate",
                 "readAt", "updatedDate", "updatedAt", "type"]  # in the seed's order
MO_FIELDS = ["id", "source", "origin", "userProfile", "campaignId", "correlationId", "campaignAlias", "flowId",
             "extraInfo", "message", "receivedAt", "receivedDate"]
CLIENT_INFO = {"customerId": 42, "subAccountId": 1291, "userId": 1}
OK, REFUSED, LOST, UNREAD = "5519900001111", "5519900000202", "5519900000104", "5519900000303"


def chat(*destinations: str, message: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    return {"destinations": [{"destination": d} for d in destinations],
            "message": message or {"template": TEMPLATE}, **top}


def item(event: dict[str, Any]) -> dict[str, Any]:
    """The one status or MO of a webhook, checking the envelope around it."""
    assert event["total"] == 1 and len(event["data"]) == 1
    return dict(event["data"][0])


def stages(hook: Receiver, message_id: str) -> list[dict[str, Any]]:
    return [item(e) for e in hook.taken() if item(e)["id"] == message_id]


def test_a_template_send_returns_one_id_per_destination_in_order(simulator, api) -> None:
    sim = simulator(**FAST)
    body = chat("5519900001111", "5519900002222", "+55(19) 900003333", defaultExtraInfo="x", campaignAlias="natal")
    body["destinations"][0]["correlationId"] = "c1"
    body["destinations"][2]["correlationId"] = "c3"
    client = api(sim)

    answer = client.post(SEND, json=body)
    text = client.post(SEND, json=chat("5519900004444", message={"messageText": "Oi Ana"}))

    assert answer.status_code == 200 and text.status_code == 200
    assert UUID.match(answer.json()["id"])
    items = answer.json()["destinations"]
    assert [{k: v for k, v in d.items() if k != "id"} for d in items] == [
        {"correlationId": "c1", "destination": "5519900001111"}, {"destination": "5519900002222"},
        {"correlationId": "c3", "destination": "+55(19) 900003333"}]
    ids = [d["id"] for d in items]
    assert all(UUID.match(i) for i in ids) and len({*ids, answer.json()["id"]}) == 4
    [other] = text.json()["destinations"]
    assert sim.messages() == {ids[0]: ("5519900001111", "some_approved_image_hsm", "c1"),
                              ids[1]: ("5519900002222", "some_approved_image_hsm", None),
                              ids[2]: ("+55(19) 900003333", "some_approved_image_hsm", "c3"),
                              other["id"]: ("5519900004444", "Oi Ana", None)}
    stats = sim.stats()
    assert (stats.whatsapp_requests, stats.whatsapp_accepted, stats.requests, stats.accepted) == (2, 4, 0, 0)


BAD = [  # (body, what its errorMessage starts with)
    ({"message": {"messageText": "a"}}, "destinations: a non-empty array is required"),
    (chat(), "destinations: a non-empty array is required"),
    (chat(*["5519900001111"] * 1001), "destinations: 1001 destinations, at most 1000 per request"),
    ({"destinations": [{"destination": "5519900001111"}, {"correlationId": "c2"}], "message": {"messageText": "a"}},
     "destinations[1].destination: missing"),
    ({"destinations": [{"destination": "5519900001111"}]}, "message: a JSON object is required"),
    (chat("5519900001111", message={"previewFirstUrl": True}), "message: a template or a messageText is required"),
    (chat("5519900001111", message={"template": TEMPLATE, "messageText": "a"}),
     "message: a template or a messageText, not both"),
    (chat("5519900001111", message={"template": {"elementName": "hsm"}}), "message.template.namespace: missing"),
    (chat("5519900001111", message={"template": {"namespace": "n"}}), "message.template.elementName: missing"),
    (chat("5519900001111", message={"template": {**TEMPLATE, "bodyParameters": [1]}}),
     "message.template.bodyParameters: not an array of strings"),
    (chat("5519900001111", message={"template": {**TEMPLATE, "header": {"image": {"type": "JPG"}}}}),
     "message.template.header.image.url: missing"),
    (chat("5519900001111", campaignAlias=7), "campaignAlias: not a string"),
    ([], "the body is not a JSON object"),
]


def test_a_bad_request_is_400_naming_the_field(simulator, api) -> None:
    sim = simulator()
    client = api(sim)
    answers = [client.post(SEND, json=body) for body, _ in BAD]
    assert [(a.status_code, a.json()["errorCode"], a.json()["errorMessage"][:len(message)])
            for a, (_, message) in zip(answers, BAD, strict=True)] == [(400, 400, message) for _, message in BAD]
    assert sim.messages() == {} and sim.stats().rejected == {400: len(BAD)}


@pytest.mark.parametrize("headers", [{}, {"username": "remessa", "authenticationtoken": "wrong"}],
                         ids=["none", "wrong-token"])
def test_wrong_or_missing_credentials_are_401(simulator, api, headers: dict[str, str]) -> None:
    sim = simulator()
    answer = api(sim, headers=headers).post(SEND, json=chat("5519900001111"))
    assert answer.status_code == 401
    assert answer.json() == {"errorCode": 401, "errorMessage": "invalid username or authenticationtoken"}
    assert sim.messages() == {} and sim.stats().rejected == {401: 1} and sim.stats().whatsapp_requests == 1


def test_the_send_faults_apply_to_whatsapp_too(simulator, api) -> None:
    sim = simulator()
    client = api(sim)
    sim.faults.status_code, sim.faults.count, sim.faults.retry_after = 503, 1, "2"
    sim.faults.refuse_next = 1
    answers = [client.post(SEND, json=chat("5519900001111")) for _ in range(3)]
    assert [(a.status_code, a.headers.get("Retry-After")) for a in answers] == [(503, "2"), (400, None), (200, None)]

    sim.faults.drop = 1
    with pytest.raises(httpx.RemoteProtocolError):
        client.post(SEND, json=chat("5519900002222"))
    wait_for(lambda: sim.stats().whatsapp_requests == 4, timeout=10)  # counted once the handler returns
    stats = sim.stats()
    assert (stats.whatsapp_requests, stats.whatsapp_accepted, stats.dropped) == (4, 2, 1)
    assert stats.rejected == {503: 1, 400: 1} and len(sim.messages()) == 2


def test_each_destination_gets_sent_delivered_and_read_events_in_order(
    simulator, api, httpserver: HTTPServer
) -> None:
    hook = Receiver(httpserver)
    sim = simulator(**FAST, whatsapp_webhook_url=hook.url, webhook_headers={"Authorization": "Bearer s3"})
    body = chat(REFUSED, LOST, UNREAD, OK, campaignAlias="natal", defaultExtraInfo="lote 7", flowId="f1")
    body["destinations"][3]["correlationId"] = "c1"
    refused, lost, unread, ok = (d["id"] for d in api(sim).post(SEND, json=body).json()["destinations"])

    # the last destination's read event is posted after any the others could have had (one sender, in order)
    wait_for(lambda: len(stages(hook, ok)) == 3, timeout=10)
    assert len(hook.posts) == 1 + 2 + 2 + 3

    for event, headers, _ in hook.posts:
        assert list(event) == ["total", "data", "clientInfo"] and event["clientInfo"] == CLIENT_INFO
        assert list(item(event)) == STATUS_FIELDS and item(event)["type"] == "MESSAGE"
        assert headers["Authorization"] == "Bearer s3"
    sent, delivered, read = stages(hook, ok)
    assert [(e["sent"], e["delivered"], e["read"]) for e in (sent, delivered, read)] == [
        (True, False, False), (True, True, False), (True, True, True)]
    assert {k: sent[k] for k in ("correlationId", "destination", "origin", "campaignId", "campaignAlias",
                                 "flowId", "extraInfo", "sentStatusCode", "sentStatus")} == {
        "correlationId": "c1", "destination": OK, "origin": "5519900000000", "campaignId": 1,
        "campaignAlias": "natal", "flowId": "f1", "extraInfo": "lote 7", "sentStatusCode": 2,
        "sentStatus": "SENT_SUCCESS"}
    assert [sent[k] for k in ("deliveredStatusCode", "deliveredStatus", "deliveredDate", "deliveredAt",
                              "readDate", "readAt")] == [None] * 6
    assert (delivered["deliveredStatusCode"], delivered["deliveredStatus"]) == (4, "DELIVERED_SUCCESS")
    assert (delivered["readDate"], delivered["readAt"]) == (None, None)
    assert sent["sentAt"] == delivered["sentAt"] == read["sentAt"] <= read["deliveredAt"] <= read["readAt"]
    assert [e["updatedAt"] for e in (sent, delivered, read)] == [sent["sentAt"], delivered["deliveredAt"],
                                                                 read["readAt"]]
    assert all(ISO_MS.match(read[k]) for k in ("sentDate", "deliveredDate", "readDate", "updatedDate"))

    [refusal] = stages(hook, refused)
    assert (refusal["sent"], refusal["sentStatusCode"], refusal["sentStatus"]) == (
        False, 202, "INVALID_DESTINATION_NUMBER")
    assert [(e["delivered"], e["deliveredStatusCode"], e["deliveredStatus"], e["read"])
            for e in stages(hook, lost)] == [(False, None, None, False), (False, 104, "NOT_DELIVERED", False)]
    assert [(e["delivered"], e["deliveredStatusCode"], e["read"]) for e in stages(hook, unread)] == [
        (False, None, False), (True, 4, False)]
    wait_for(lambda: sim.stats().webhooks_acked == 8, timeout=10)
    assert sim.stats().webhooks_sent == 8


def test_an_event_the_receiver_refuses_comes_again_and_holds_the_later_ones(
    simulator, api, httpserver: HTTPServer
) -> None:
    refusals = {"left": 2}

    def fail(event: dict[str, Any]) -> bool:  # the sent event of OK, twice
        status = item(event)
        if status["destination"] == OK and not status["delivered"] and refusals["left"]:
            refusals["left"] -= 1
            return True
        return False

    hook = Receiver(httpserver, fail)
    sim = simulator(**FAST, whatsapp_webhook_url=hook.url)  # delivered and read are due before the redeliveries
    api(sim).post(SEND, json=chat(OK, "5519900002222"))

    wait_for(lambda: sim.stats().webhooks_acked == 6, timeout=10)
    seen = [(_stage(item(e)), status) for e, _, status in hook.posts if item(e)["destination"] == OK]
    assert seen == [("sent", 500), ("sent", 500), ("sent", 200), ("delivered", 200), ("read", 200)]
    other = [(_stage(item(e)), status) for e, _, status in hook.posts if item(e)["destination"] != OK]
    assert other == [("sent", 200), ("delivered", 200), ("read", 200)]  # the other message has its own order
    stats = sim.stats()
    assert (stats.webhooks_sent, stats.webhooks_acked, stats.webhooks_failed) == (8, 6, 2)


def _stage(status: dict[str, Any]) -> str:
    return "read" if status["read"] else "delivered" if status["deliveredStatusCode"] else "sent"


def test_push_mo_posts_the_seed_mo_shape_and_redelivers_it(simulator, api, httpserver: HTTPServer) -> None:
    refusals = {"left": 1}

    def fail(event: dict[str, Any]) -> bool:  # the first MO, once
        if "source" in item(event) and refusals["left"]:
            refusals["left"] -= 1
            return True
        return False

    hook = Receiver(httpserver, fail)
    sim = simulator(**FAST, whatsapp_webhook_url=hook.url, unread=(OK,))
    body = chat(OK, campaignAlias="natal", flowId="f1", defaultExtraInfo="lote 7")
    body["destinations"][0]["correlationId"] = "c1"
    api(sim).post(SEND, json=body)
    wait_for(lambda: sim.stats().webhooks_acked == 2, timeout=10)  # sent and delivered: OK reads nothing here

    sim.push_mo(OK, "Sim, quero")
    sim.push_mo("5519900009999", "Sim", kind="BUTTON")
    sim.push_mo("5519900009999", "a foto", kind="IMAGE")

    wait_for(lambda: sim.stats().webhooks_acked == 5, timeout=10)
    posted = [(event, status) for event, _, status in hook.posts if "source" in item(event)]
    assert all(list(event) == ["total", "data"] for event, _ in posted)
    by_type = {t: [(item(e), status) for e, status in posted if item(e)["message"]["type"] == t]
               for t in ("TEXT", "BUTTON", "IMAGE")}
    assert {t: [status for _, status in got] for t, got in by_type.items()} == {
        "TEXT": [500, 200], "BUTTON": [200], "IMAGE": [200]}  # the refused one came again
    (first, _), (reply, _) = by_type["TEXT"]
    [(button, _)], [(image, _)] = by_type["BUTTON"], by_type["IMAGE"]
    assert first == reply and list(reply) == MO_FIELDS
    assert UUID.match(reply["id"]) and len({reply["id"], button["id"], image["id"]}) == 3
    assert {k: v for k, v in reply.items() if k not in ("id", "receivedAt", "receivedDate")} == {
        "source": OK, "origin": "5519900000000", "userProfile": {"name": "Sandbox user"}, "campaignId": 1,
        "correlationId": "c1", "campaignAlias": "natal", "flowId": "f1", "extraInfo": "lote 7",
        "message": {"type": "TEXT", "messageText": "Sim, quero"}}
    assert ISO_MS.match(reply["receivedDate"]) and isinstance(reply["receivedAt"], int)
    assert [button[k] for k in ("campaignId", "correlationId", "campaignAlias", "flowId", "extraInfo")] == [None] * 5
    assert button["message"] == {"type": "BUTTON", "messageText": "Sim", "payload": "Sim"}
    assert image["message"]["type"] == "IMAGE" and image["message"]["caption"] == "a foto"
    assert set(image["message"]) == {"type", "mediaUrl", "mimeType", "caption"}


def test_push_mo_refuses_an_unknown_kind_or_no_webhook(simulator, httpserver: HTTPServer) -> None:
    with pytest.raises(ValueError, match="whatsapp_webhook_url"):
        simulator().push_mo(OK, "Oi")
    with pytest.raises(ValueError, match="'VIDEO' is not TEXT, BUTTON or IMAGE"):
        simulator(whatsapp_webhook_url=Receiver(httpserver).url).push_mo(OK, "Oi", kind="VIDEO")


def test_a_negative_read_delay_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="read_delay"):
        HttpSimulatorConfig(read_delay=-1)


def test_a_read_delay_below_the_delivered_one_reads_right_after_delivery(
    simulator, api, httpserver: HTTPServer
) -> None:
    hook = Receiver(httpserver)
    sim: HttpSimulator = simulator(read_delay=0.0, whatsapp_webhook_url=hook.url)
    [sent] = api(sim).post(SEND, json=chat(OK)).json()["destinations"]
    wait_for(lambda: len(stages(hook, sent["id"])) == 3, timeout=10)
    assert [_stage(e) for e in stages(hook, sent["id"])] == ["sent", "delivered", "read"]


def test_the_sandbox_posts_whatsapp_events_to_its_own_url(sandbox, httpserver: HTTPServer) -> None:
    hook = Receiver(httpserver)
    box = sandbox("--port", "0", "--sent-delay", "0.01", "--delivery-delay", "0.02", "--whatsapp-webhook-url",
                  hook.url)
    with httpx.Client(base_url=box.url, headers=AUTH) as client:
        [sent] = client.post(SEND, json=chat(OK)).json()["destinations"]
        wait_for(lambda: len(hook.posts) == 3, timeout=10)
    assert [_stage(item(e)) for e, _, _ in hook.posts] == ["sent", "delivered", "read"]
    assert {item(e)["id"] for e, _, _ in hook.posts} == {sent["id"]}
    assert box.stop() == 0
