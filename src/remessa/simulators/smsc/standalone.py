"""The SMSC simulator run standalone by `remessa sandbox`: its option values, checked as argparse reads
them, and its defaults, which fail the same destinations as the embedded sandbox provider."""

from __future__ import annotations

import argparse
import ssl
from pathlib import Path

from remessa.simulators.smsc import pdu

#: destinations ending in 0202 are refused (202 INVALID_DESTINATION_NUMBER once the channel maps it)
#: and those ending in 0104 accepted but not delivered (104), as by the embedded sandbox provider.
REJECT = {"*0202": pdu.ESME_RINVDSTADR}
UNDELIVERABLE = ("*0104",)


def port(text: str) -> int:
    """A TCP port, 0 for any free one."""
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return int(text)


def password(text: str) -> str:
    if len(text) > 8:
        raise argparse.ArgumentTypeError("SMPP 3.4 allows at most 8 characters")
    return text


def non_negative(text: str) -> float:
    """A finite number of at least 0 (seconds, or submits per second)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of at least 0")
    return value


def rejection(text: str) -> tuple[str, int]:
    """PATTERN=STATUS: a glob on the destination and a command_status, a number (0x0B, 11) or a name
    (ESME_RINVDSTADR, RINVDSTADR)."""
    pattern, _, status = text.rpartition("=")
    name = status.upper() if status.upper().startswith("ESME_") else f"ESME_{status.upper()}"
    try:
        code = int(status, 0) if status[:1].isdigit() else int(getattr(pdu, name))
    except (ValueError, AttributeError):
        code = 0
    if not pattern or not 0 < code <= 0xFFFFFFFF:
        raise argparse.ArgumentTypeError(f"{text!r} is not PATTERN=STATUS with a non-zero command_status, "
                                         "e.g. *0202=0x0B or *0202=ESME_RINVDSTADR")
    return pattern, code


def tls_context(cert: Path | None, key: Path | None) -> ssl.SSLContext | None:
    """The server-side TLS context of --tls-cert and --tls-key, or None; ValueError names what is wrong."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise ValueError("--tls-cert and --tls-key go together")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"--tls-cert/--tls-key: cannot load {cert} with {key}: {exc}") from None
    return context
