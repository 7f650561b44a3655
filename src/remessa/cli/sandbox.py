"""``remessa sandbox``: the SMSC simulator in the foreground, for an ``smpp`` provider to be tried with no
account, or with ``--http`` the simulator of the provider's HTTPS API; SIGINT or SIGTERM stop it and print
its counts."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from remessa.config import Settings
from remessa.simulators.http.server import HttpSimulator, HttpSimulatorConfig
from remessa.simulators.smsc import standalone
from remessa.simulators.smsc.server import Smsc, SmscConfig

SMPP_PORT = 2775
HTTP_PORT = 8088


def add(sub: Any) -> None:
    box = sub.add_parser("sandbox", help="run the SMSC simulator in the foreground, for an smpp provider to use")
    box.add_argument("--host", default="127.0.0.1")
    box.add_argument("--port", type=standalone.port,
                     help=f"0: any free port (default: {SMPP_PORT}, with --http {HTTP_PORT})")
    box.add_argument("--system-id", default="remessa", help="the system_id it accepts (default: %(default)s)")
    box.add_argument("--password", type=standalone.password, default="secret",
                     help="the password it accepts, at most 8 characters (default: %(default)s)")
    box.add_argument("--system-type", help="accept only this system_type (default: any)")
    box.add_argument("--rate", type=standalone.non_negative, default=80.0,
                     help="submit_sm per second per bind, above it ESME_RTHROTTLED; 0: unlimited (default: 80)")
    box.add_argument("--sent-delay", type=standalone.non_negative, default=0.5, metavar="SECONDS",
                     help="from submit to the ACCEPTD receipt (default: %(default)s)")
    box.add_argument("--delivery-delay", type=standalone.non_negative, default=2.0, metavar="SECONDS",
                     help="from submit to the DELIVRD or UNDELIV receipt (default: %(default)s)")
    box.add_argument("--reject", type=standalone.rejection, action="append", metavar="PATTERN=STATUS",
                     help="refuse submit_sm to destinations matching the glob with this command_status "
                          "(0x0B, 11 or ESME_RINVDSTADR); repeatable (default: *0202=ESME_RINVDSTADR)")
    box.add_argument("--undeliverable", action="append", metavar="PATTERN",
                     help="accept, then receipt UNDELIV, destinations matching the glob; repeatable (default: *0104)")
    box.add_argument("--tls-cert", type=Path, help="PEM certificate: speak SMPP over TLS (with --tls-key)")
    box.add_argument("--tls-key", type=Path, help="PEM private key of --tls-cert")
    quirks = box.add_argument_group("quirks of other SMSCs")
    quirks.add_argument("--ids", choices=("uuid", "decimal", "hex"), default="uuid",
                        help="message_id form: UUIDs, decimal 1, 2, 3... or eight hex digits (default: %(default)s)")
    quirks.add_argument("--receipts-first", action="store_true",
                        help="send each receipt at once, before its submit_sm_resp")
    quirks.add_argument("--vendor-tlv", metavar="TEXT",
                        help="TLV 0x1403 carries this text instead of the sent code (e.g. 4412345678)")
    quirks.add_argument("--account-rate", type=standalone.non_negative, default=0.0, metavar="PER_SECOND",
                        help="a quota for the account over all binds, enforced by spacing: a submit_sm sooner than"
                             " 1/PER_SECOND s after the last one accepted gets ESME_RTHROTTLED (default: none)")
    quirks.add_argument("--silent-after", type=int, metavar="N",
                        help="after N accepted submits, answer no submit_sm at all (a full queue)")
    http = box.add_argument_group("the HTTPS API instead (--host, --port, the delays, --undeliverable and "
                                  "--tls-* apply; the other options are SMPP's)")
    http.add_argument("--http", action="store_true", help="simulate the provider's HTTP API instead of its SMSC")
    http.add_argument("--username", default="remessa", help="the username header it accepts (default: %(default)s)")
    http.add_argument("--token", default="secret",
                      help="the authenticationtoken header it accepts (default: %(default)s)")
    http.add_argument("--webhook-url", metavar="URL", help="POST every callback and delivery report here")
    http.add_argument("--whatsapp-webhook-url", metavar="URL",
                      help="POST every WhatsApp status event (sent, delivered, read) and MO message here")
    http.add_argument("--webhook-header", type=_header, action="append", metavar="NAME:VALUE",
                      help="send this header with every webhook, e.g. 'Authorization: Bearer s3'; repeatable")
    box.set_defaults(handler=handle, needs_config=False)  # the simulator reads no configuration


def handle(_settings: Settings | None, args: argparse.Namespace) -> int:
    """Run the SMSC simulator (or the HTTP API's) until SIGINT or SIGTERM, then print its counts."""
    try:
        context = standalone.tls_context(args.tls_cert, args.tls_key)
    except ValueError as exc:
        print(f"remessa sandbox: {exc}", file=sys.stderr)
        return 2
    if not args.http and (args.webhook_url or args.webhook_header or args.whatsapp_webhook_url):
        print("remessa sandbox: --webhook-url and --webhook-header need --http, as does --whatsapp-webhook-url",
              file=sys.stderr)
        return 2
    if args.port is None:
        args.port = HTTP_PORT if args.http else SMPP_PORT
    if args.http:
        return _http(args)
    smsc = Smsc(SmscConfig(
        system_id=args.system_id, password=args.password, system_type=args.system_type, host=args.host,
        port=args.port, max_submits_per_second=args.rate or None, sent_receipt_delay=args.sent_delay,
        delivery_receipt_delay=args.delivery_delay, reject_destinations=dict(args.reject or standalone.REJECT),
        undeliverable_destinations=tuple(args.undeliverable or standalone.UNDELIVERABLE), ssl_context=context,
        submit_log_level=logging.INFO, ids=args.ids, receipts_first=args.receipts_first,
        vendor_tlv_value=args.vendor_tlv, account_rate=args.account_rate or None, silent_after=args.silent_after))
    system_type = f" system_type {args.system_type!r}" if args.system_type else ""

    def banner() -> str:
        return (f"SMPP{' over TLS' if context else ''} listening on {args.host}:{smsc.port}, "
                f"accepting system_id {args.system_id!r} password {args.password!r}{system_type}")

    def counts() -> str:
        s = smsc.stats()
        return (f"submits {s.submits}, accepted {s.accepted}, throttled {s.throttled}, "
                f"receipts sent {s.deliver_sm_sent}, acked {s.deliver_sm_acked}")

    return _serve(smsc, args, banner, counts)


def _http(args: argparse.Namespace) -> int:
    sim = HttpSimulator(HttpSimulatorConfig(
        host=args.host, port=args.port, username=args.username, token=args.token, sent_delay=args.sent_delay,
        delivered_delay=max(args.delivery_delay, args.sent_delay),
        undeliverable=dict.fromkeys(args.undeliverable or standalone.UNDELIVERABLE, 104),
        webhook_url=args.webhook_url, whatsapp_webhook_url=args.whatsapp_webhook_url,
        webhook_headers=dict(args.webhook_header or ()),
        ssl_certfile=args.tls_cert and str(args.tls_cert), ssl_keyfile=args.tls_key and str(args.tls_key),
        request_log_level=logging.INFO))
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)  # its start-up lines repeat ours
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per webhook
    webhook = f", posting status to {args.webhook_url}" if args.webhook_url else ""
    if args.whatsapp_webhook_url:
        webhook += f", posting WhatsApp status and MO to {args.whatsapp_webhook_url}"

    def banner() -> str:
        return f"HTTP API listening on {sim.url}, accepting username {args.username!r} token {args.token!r}{webhook}"

    def counts() -> str:
        s = sim.stats()
        return (f"requests {s.requests}, accepted {s.accepted}, rejected {sum(s.rejected.values())}, "
                f"webhooks sent {s.webhooks_sent}, acked {s.webhooks_acked}, events polled {s.events_polled}")

    return _serve(sim, args, banner, counts)


def _serve(server: Any, args: argparse.Namespace, banner: Callable[[], str], counts: Callable[[], str]) -> int:
    """Start a simulator, say where it listens, run until SIGTERM or SIGINT, then print its counts."""
    try:
        server.start()
    except OSError as exc:
        print(f"remessa sandbox: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    _until_signalled(banner())
    server.stop()
    print(f"remessa sandbox: stopped; {counts()}", flush=True)
    return 0


def _until_signalled(listening: str) -> None:
    """Print the listening line, then wait for SIGTERM or SIGINT."""
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _signum, _frame: stopping.set())
    print(f"remessa sandbox: {listening}", flush=True)
    while not stopping.wait(1.0):
        pass


def _header(text: str) -> tuple[str, str]:
    """NAME:VALUE, a header of the webhooks."""
    name, colon, value = text.partition(":")
    if not colon or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME:VALUE, e.g. 'Authorization: Bearer s3'")
    return name.strip(), value.strip()
