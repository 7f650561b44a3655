"""The wavy_sms_http channel against pytest-httpserver expectations written from the provider's document
(seed 002): the requests it makes, and what each kind of answer (or its absence) does to the messages."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from conftest import wait_for, write_config
from remessa import config
from remessa.channels.base import Callbacks
from remessa.channels.http.settings import WavySmsHttpSettings
from remessa.channels.http.wavy_sms import WavySmsHttpChannel
from remessa.errors import PermanentFailure, TemporaryFailure
from remessa.model import Accepted, Inbound, InDoubt, OutgoingMessage, Receipt, Rejected

#: the answer of the seed's bulk example, verbatim
SEED_ANSWER = {
    "id": "ce528d70-013b-11e7-98f2-e27c463c8809",
    "messages": [{"id": "ce528d71-013b-11e7-98f2-e27c463c8809"}, {"id": "ce528d72-013b-11e7-98f2-e27c463c8809"}],
}
#: the seed's delivery report (DR) example, verbatim
SEED_DLR = {
    "id": "8f5af680-973e-11e4-ad43-4ee58e9a13a6", "correlationId": "myId", "carrierId": 5, "carrierName": "TIM",
    "destination": "5519900001111", "sentStatusCode": 2, "sentStatus": "SENT_SUCCESS",
    "sentStatusAt": 1420732929252, "sentStatusDate": "2015-01-08T16:02:09Z", "deliveredStatusCode": 4,
    "deliveredStatus": "DELIVERED_SUCCESS", "deliveredAt": 1420732954000, "deliveredDate": "2015-01-08T16:02:34Z",
    "campaignId": 1234,
}
HEADERS = {"username": "loja", "authenticationtoken": "s3cr3t"}


def message(n: int, text: str = "Seu código é 4829", **extra: Any) -> OutgoingMessage:
    return OutgoingMessage(id=n, batch_id=7, destination=f"55119{n:08d}", text=text, **extra)


@pytest.fixture
def channel_on(httpserver: HTTPServer) -> Iterator[Callable[..., WavySmsHttpChannel]]:
    channels: list[WavySmsHttpChannel] = []

    def build(inbox: list[Receipt] | None = None, **overrides: Any) -> WavySmsHttpChannel:
        values: dict[str, Any] = dict(url=httpserver.url_for("/").rstrip("/"), username="loja", token="s3cr3t",
                                      backoff_min=0.01, backoff_max=0.05, read_timeout=2.0)
        channel = WavySmsHttpChannel(WavySmsHttpSettings(**{**values, **overrides}))
        channel.open(Callbacks((inbox if inbox is not None else []).extend))
        channels.append(channel)
        return channel

    yield build
    for channel in channels:
        channel.close()


def bodies(httpserver: HTTPServer) -> list[dict[str, Any]]:
    return [json.loads(request.get_data()) for request, _ in httpserver.log if request.path == "/v1/send-bulk-sms"]


def test_a_chunk_with_one_text_sends_it_once_in_default_values(httpserver: HTTPServer, channel_on) -> None:
    httpserver.expect_request("/v1/send-bulk-sms", method="POST", headers=HEADERS).respond_with_json(SEED_ANSWER)
    channel = channel_on()

    outcomes = channel.send([message(1, correlation_id="c1"), message(2)])

    assert outcomes == [Accepted(1, "ce528d71-013b-11e7-98f2-e27c463c8809"),
                        Accepted(2, "ce528d72-013b-11e7-98f2-e27c463c8809")]
    assert bodies(httpserver) == [{
        "messages": [{"destination": "5511900000001", "correlationId": "c1"},
                     {"destination": "5511900000002", "correlationId": "remessa-7-2"}],
        "defaultValues": {"messageText": "Seu código é 4829"},
    }]


def test_texts_that_differ_go_per_message_with_the_batch_options(httpserver: HTTPServer, channel_on) -> None:
    httpserver.expect_request("/v1/send-bulk-sms").respond_with_json(SEED_ANSWER)
    channel = channel_on()

    channel.send([message(1, "Olá Ana", extra_info="x", campaign_alias="natal", subaccount="3486", flash=True),
                  message(2, "Olá Bia", campaign_alias="natal", subaccount="3486", flash=True)])

    [body] = bodies(httpserver)
    assert body["messages"][0] == {"destination": "5511900000001", "correlationId": "remessa-7-1",
                                   "messageText": "Olá Ana", "extraInfo": "x"}
    assert body["defaultValues"] == {"flashSMS": True}
    assert (body["campaignAlias"], body["subAccount"]) == ("natal", "3486")


def answer_each(request: Request) -> Response:
    """A provider that answers every request with an id per message, echoing correlationIds."""
    items = json.loads(request.get_data())["messages"]
    return Response(json.dumps({"id": "lote", "messages": [
        {"id": f"id-{m['correlationId']}", "correlationId": m["correlationId"]} for m in items]}),
        content_type="application/json")


def test_a_large_chunk_is_cut_into_requests_of_at_most_per_request(httpserver: HTTPServer, channel_on) -> None:
    httpserver.expect_request("/v1/send-bulk-sms").respond_with_handler(answer_each)
    channel = channel_on(concurrency=3)

    outcomes = channel.send([message(n) for n in range(2500)])

    sent = bodies(httpserver)  # three requests at once: they may arrive in any order
    assert sorted(len(b["messages"]) for b in sent) == [500, 1000, 1000]
    assert sorted(m["destination"] for b in sent for m in b["messages"]) == sorted(
        f"55119{n:08d}" for n in range(2500))  # every message once
    assert [o.provider_id for o in outcomes if isinstance(o, Accepted)] == [f"id-remessa-7-{n}" for n in range(2500)]


def test_a_400_for_one_request_refuses_its_messages_with_the_api_text(httpserver: HTTPServer, channel_on) -> None:
    def handler(request: Request) -> Response:
        if json.loads(request.get_data())["messages"][0]["destination"] == "5511900000003":
            return Response(json.dumps({"errorCode": 400, "errorMessage": "messages[1].destination is invalid"}),
                            status=400, content_type="application/json")
        return answer_each(request)

    httpserver.expect_request("/v1/send-bulk-sms").respond_with_handler(handler)
    channel = channel_on(per_request=2, concurrency=1)
    reported: list[Any] = []

    outcomes = channel.send([message(n) for n in range(1, 7)], reported.extend)

    assert [type(o) for o in outcomes] == [Accepted, Accepted, Rejected, Rejected, Accepted, Accepted]
    assert outcomes[2] == Rejected(3, "refused by the API: HTTP 400: messages[1].destination is invalid")
    assert sorted(o.message_id for o in reported) == [1, 2, 3, 4, 5, 6]  # each stored before send returned


def test_a_429_storm_is_waited_out_honouring_retry_after(httpserver: HTTPServer, channel_on) -> None:
    answers = iter([429, 429, 429])

    def handler(request: Request) -> Response:
        status = next(answers, 200)
        if status == 429:
            return Response("slow down", status=429, headers={"Retry-After": "0"})
        return answer_each(request)

    httpserver.expect_request("/v1/send-bulk-sms").respond_with_handler(handler)
    channel = channel_on()

    outcomes = channel.send([message(n) for n in range(5)])

    assert all(isinstance(o, Accepted) for o in outcomes)
    assert len(bodies(httpserver)) == 4  # three refused, then the one that went


def test_a_provider_answering_503_fails_the_call_and_refuses_no_row(httpserver: HTTPServer, channel_on) -> None:
    httpserver.expect_request("/v1/send-bulk-sms").respond_with_data("maintenance", status=503)
    channel = channel_on(retries=2, breaker_failures=2)
    reported: list[Any] = []

    with pytest.raises(TemporaryFailure, match=r"HTTP 503 maintenance \(after 3 attempts\)"):
        channel.send([message(1)], reported.extend)
    assert reported == []  # nothing stored: the rows go back to the queue
    with pytest.raises(TemporaryFailure):
        channel.send([message(1)])
    with pytest.raises(TemporaryFailure, match="not tried again for"):  # the breaker is open: no request
        before = len(bodies(httpserver))
        channel.send([message(1)])
    assert len(bodies(httpserver)) == before


def test_a_refused_connection_fails_the_call(channel_on) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    channel = channel_on(url=f"http://127.0.0.1:{port}", retries=1)

    with pytest.raises(TemporaryFailure, match="cannot connect"):
        channel.send([message(1)])


def test_an_answer_that_never_comes_leaves_the_messages_in_doubt(httpserver: HTTPServer, channel_on) -> None:
    released = threading.Event()

    def handler(request: Request) -> Response:
        released.wait(5)
        return answer_each(request)

    httpserver.expect_request("/v1/send-bulk-sms").respond_with_handler(handler)
    channel = channel_on(read_timeout=0.3)

    outcomes = channel.send([message(1), message(2)])
    released.set()

    assert all(isinstance(o, InDoubt) and "no answer from" in o.reason for o in outcomes)
    wait_for(lambda: len(bodies(httpserver)) == 1, timeout=5)  # it went, once: never again by the channel


def test_refused_credentials_fail_the_provider_not_the_rows(httpserver: HTTPServer, channel_on) -> None:
    httpserver.expect_request("/v1/send-bulk-sms").respond_with_json(
        {"errorCode": 401, "errorMessage": "invalid token"}, status=401)
    channel = channel_on()

    with pytest.raises(PermanentFailure, match="refused us: HTTP 401: invalid token"):
        channel.send([message(1)])


def test_a_text_over_the_api_limit_is_refused_without_a_request(httpserver: HTTPServer, channel_on) -> None:
    channel = channel_on()

    [outcome] = channel.send([message(1, "x" * 1281)])

    assert outcome == Rejected(1, "text of 1281 characters; the API takes at most 1280")
    assert bodies(httpserver) == []


def test_polling_hands_each_status_to_the_sink(httpserver: HTTPServer, channel_on) -> None:
    statuses = iter([[SEED_DLR]])
    httpserver.expect_request("/v1/sms/status/list", method="GET", headers=HEADERS).respond_with_handler(
        lambda request: Response(json.dumps(next(statuses, [])), content_type="application/json"))
    receipts: list[Receipt] = []
    channel_on(receipts, receipts="poll", poll_interval=0.05)

    wait_for(lambda: bool(receipts), timeout=5)

    [receipt] = receipts
    assert (receipt.provider_id, receipt.sent_code, receipt.delivered_code) == (
        "8f5af680-973e-11e4-ad43-4ee58e9a13a6", 2, 4)
    assert receipt.correlation_id == "myId"


def test_credentials_come_only_from_env_or_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    provider = {"type": "wavy_sms_http", "url": "https://api-messaging.wavy.global", "username": "loja"}

    def load(**values: str) -> config.Settings:
        return config.load(write_config(tmp_path / "remessa.toml", {
            "daemon": {"spool": str(tmp_path / "spool")}, "providers.wavy": {**provider, **values},
            "profiles.default": {"provider": "wavy"}}))

    with pytest.raises(config.ConfigError, match="token: give it as env:NAME or file:PATH"):
        load(token="s3cr3t")
    with pytest.raises(config.ConfigError, match="username and token are required"):
        load()
    monkeypatch.setenv("WAVY_TOKEN", "s3cr3t")
    settings = load(token="env:WAVY_TOKEN")
    assert settings.providers["wavy"].settings.token == "s3cr3t"
    assert "s3cr3t" not in repr(settings.providers["wavy"].settings)


@pytest.mark.parametrize("status", [500, 502, 504])
def test_a_server_error_after_the_request_went_leaves_it_in_doubt_never_resent(
        httpserver: HTTPServer, channel_on, status: int) -> None:
    httpserver.expect_request("/v1/send-bulk-sms").respond_with_data("gateway", status=status)
    channel = channel_on()

    outcomes = channel.send([message(1), message(2)])

    assert all(isinstance(o, InDoubt) and f"answered HTTP {status} gateway" in o.reason for o in outcomes)
    assert len(bodies(httpserver)) == 1  # the provider may have taken it: not posted again


def test_an_answer_without_ids_still_means_taken(httpserver: HTTPServer, channel_on) -> None:
    httpserver.expect_request("/v1/send-bulk-sms").respond_with_data("OK", status=200)
    channel = channel_on()

    assert channel.send([message(1)]) == [Accepted(1, "")]  # never sent again; its statuses cannot be matched


def test_a_failing_request_waits_for_the_others_before_send_fails(httpserver: HTTPServer, channel_on) -> None:
    stored: list[Any] = []

    def report(outcomes: Any) -> None:
        if any(o.message_id == 1 for o in outcomes):
            raise RuntimeError("database locked")
        time.sleep(0.2)  # the other requests are still being stored when the first one failed
        stored.extend(outcomes)

    httpserver.expect_request("/v1/send-bulk-sms").respond_with_handler(answer_each)
    channel = channel_on(per_request=1, concurrency=4)

    with pytest.raises(RuntimeError, match="database locked"):
        channel.send([message(n) for n in range(1, 5)], report)
    assert sorted(o.message_id for o in stored) == [2, 3, 4]  # every other request finished before send failed


#: the seed's answer of GET /v1/sms/receive/list, verbatim
SEED_REPLIES = {
    "total": 1, "start": "2016-09-04T11:12:41Z", "end": "2016-09-08T11:17:39.113Z",
    "messages": [
        {"id": "25950050-7362-11e6-be62-001b7843e7d4", "subAccount": "iFoodMarketing", "campaignAlias": "iFoodPromo",
         "carrierId": 1, "carrierName": "VIVO", "source": "5516981562820", "shortCode": "28128",
         "messageText": "Eu quero pizza", "receivedAt": 1473088405588, "receivedDate": "2016-09-05T12:13:25Z",
         "mt": {"id": "8be584fd-2554-439b-9ba9-aab507278992", "correlationId": "1876", "username": "iFoodCS",
                "email": "customer.support@ifood.com"}},
        {"id": "d3afc42a-1fd9-49ff-8b8b-34299c070ef3", "subAccount": "iFoodMarketing", "campaignAlias": "iFoodPromo",
         "carrierId": 5, "carrierName": "TIM", "source": "5519987565020", "shortCode": "28128",
         "messageText": "Meu hamburguer está chegando?", "receivedAt": 1473088405588,
         "receivedDate": "2016-09-05T12:13:25Z",
         "mt": {"id": "302db832-3527-4e3c-b57b-6a481644d88b", "correlationId": "1893", "username": "iFoodCS",
                "email": "customer.support@ifood.com"}},
    ],
}


def test_polled_replies_are_handed_over_once_though_the_list_repeats_them(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v1/sms/status/list").respond_with_json([])
    httpserver.expect_request("/v1/sms/receive/list", headers=HEADERS).respond_with_json(SEED_REPLIES)
    replies: list[Inbound] = []
    channel = WavySmsHttpChannel(WavySmsHttpSettings(url=httpserver.url_for("/").rstrip("/"), username="loja",
                                                     token="s3cr3t", receipts="poll", poll_interval=0.05))
    channel.open(Callbacks(lambda receipts: None, replies.append))
    try:
        wait_for(lambda: sum(r.path == "/v1/sms/receive/list" for r, _ in httpserver.log) >= 3, timeout=5)
    finally:
        channel.close()

    assert [(r.source, r.destination, r.text, r.message_id, r.mo_id) for r in replies] == [
        ("5516981562820", "28128", "Eu quero pizza", "8be584fd-2554-439b-9ba9-aab507278992",
         "25950050-7362-11e6-be62-001b7843e7d4"),
        ("5519987565020", "28128", "Meu hamburguer está chegando?", "302db832-3527-4e3c-b57b-6a481644d88b",
         "d3afc42a-1fd9-49ff-8b8b-34299c070ef3"),
    ]
