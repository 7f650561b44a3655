"""The wavy_whatsapp_http channel against pytest-httpserver expectations from the provider's document (seed 002,
"Envio de Template"): the requests it makes for template rows, and what it refuses without asking."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from remessa.channels.base import Callbacks
from remessa.channels.http.wavy_whatsapp import WavyWhatsAppHttpChannel, WavyWhatsAppHttpSettings
from remessa.model import Accepted, OutgoingMessage, Rejected

TEMPLATE = {"element_name": "some_approved_image_hsm", "namespace": "aaaaaaaa_bbbb_cccc_dddd_eeeeeeeeeeee",
            "language": "pt_BR", "policy": "DETERMINISTIC", "params": ["nome"], "media": None}
IMAGE = {"header_type": "IMAGE", "source": "URL", "location": "https://upload.wikimedia.org/x.jpg",
         "media_type": "JPEG"}


def row(n: int, name: str, media: dict[str, str] | None = None, **extra: Any) -> OutgoingMessage:
    template = {**TEMPLATE, "media": media, "values": [name]}
    return OutgoingMessage(id=n, batch_id=3, destination=f"55199000011{n:02d}", text="", kind="whatsapp",
                           template=template, correlation_id=f"c{n}", **extra)


def answer_each(request: Request) -> Response:
    items = json.loads(request.get_data())["destinations"]
    return Response(json.dumps({"id": "req", "destinations": [
        {"id": f"wa-{d['correlationId']}", "correlationId": d["correlationId"], "destination": d["destination"]}
        for d in items]}), content_type="application/json")


@pytest.fixture
def channel(httpserver: HTTPServer) -> Iterator[WavyWhatsAppHttpChannel]:
    credentials = {"username": "loja", "authenticationtoken": "t"}
    httpserver.expect_request("/v1/whatsapp/send", method="POST", headers=credentials).respond_with_handler(answer_each)
    built = WavyWhatsAppHttpChannel(WavyWhatsAppHttpSettings(url=httpserver.url_for("/").rstrip("/"),
                                                             username="loja", token="t", concurrency=1))
    built.open(Callbacks(lambda receipts: None))
    yield built
    built.close()


def bodies(httpserver: HTTPServer) -> list[dict[str, Any]]:
    return [json.loads(request.get_data()) for request, _ in httpserver.log]


def test_rows_with_the_same_values_share_a_request_with_the_template(
        httpserver: HTTPServer, channel: WavyWhatsAppHttpChannel) -> None:
    outcomes = channel.send([row(1, "Ana", campaign_alias="natal"), row(2, "Bia", campaign_alias="natal"),
                             row(3, "Ana", campaign_alias="natal")])

    assert outcomes == [Accepted(1, "wa-c1"), Accepted(2, "wa-c2"), Accepted(3, "wa-c3")]
    ana, bia = bodies(httpserver)
    assert ana == {
        "destinations": [{"correlationId": "c1", "destination": "5519900001101"},
                         {"correlationId": "c3", "destination": "5519900001103"}],
        "message": {"template": {"elementName": "some_approved_image_hsm",
                                 "namespace": "aaaaaaaa_bbbb_cccc_dddd_eeeeeeeeeeee", "languageCode": "pt_BR",
                                 "languagePolicy": "DETERMINISTIC", "bodyParameters": ["Ana"]}},
        "campaignAlias": "natal",
    }
    assert bia["message"]["template"]["bodyParameters"] == ["Bia"]


def test_header_media_goes_by_url(httpserver: HTTPServer, channel: WavyWhatsAppHttpChannel) -> None:
    channel.send([row(1, "Ana", media=IMAGE)])

    [body] = bodies(httpserver)
    assert body["message"]["template"]["header"] == {
        "image": {"type": "JPEG", "url": "https://upload.wikimedia.org/x.jpg"}}


@pytest.mark.parametrize(("message", "reason"), [
    (row(1, "Ana", media={**IMAGE, "source": "PATH", "location": "/srv/media/x.jpg"}),
     "header media /srv/media/x.jpg is a file: the WhatsApp HTTP API takes media by URL only"),
    (OutgoingMessage(id=1, batch_id=3, destination="5519900001101", text="oi"),
     "not a WhatsApp message: a wavy_whatsapp_http provider sends WhatsApp files only"),
])
def test_what_the_api_cannot_take_is_refused_without_a_request(
        httpserver: HTTPServer, channel: WavyWhatsAppHttpChannel, message: OutgoingMessage, reason: str) -> None:
    assert channel.send([message]) == [Rejected(1, reason)]
    assert bodies(httpserver) == []


def test_statuses_come_by_webhook_only() -> None:
    with pytest.raises(ValueError, match="by webhook only"):
        WavyWhatsAppHttpSettings(username="loja", token="t", receipts="poll")


