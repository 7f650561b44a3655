"""Opening and closing one SMPP session: TCP or TLS connect and bind_transceiver through smpplib.

smpplib does these two steps well enough; its TLS socket lacks server_hostname, so hostname verification needs
the subclass below. Failures come out as BindRefused, permanent when retrying cannot help.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass

import smpplib.consts
import smpplib.exceptions
from smpplib.client import Client

from remessa.channels.smpp.wire import BAD_CREDENTIALS, status_name


class BindRefused(Exception):
    """The SMSC or TLS refused us; `permanent` when retrying cannot help (credentials, certificate)."""

    def __init__(self, message: str, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class BindConfig:
    """What a bind needs from SmppSettings (kept apart so this module does not import the channel)."""

    host: str
    port: int
    system_id: str
    password: str
    system_type: str
    window: int
    rate: float
    enquire_link: float
    response_timeout: float
    reconnect_min: float
    reconnect_max: float
    ssl_context: ssl.SSLContext | None


def _client_class(tls: bool) -> type[Client]:
    if not tls:
        return Client  # type: ignore[no-any-return]  # smpplib is untyped

    class TlsClient(Client):  # type: ignore[misc]
        """smpplib wraps the socket without server_hostname (so verification cannot work); pass it."""

        def _create_socket(self) -> socket.socket:
            raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            raw.settimeout(self.timeout)
            return self._ssl_context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[no-any-return]

    return TlsClient


def open_session(cfg: BindConfig, logger_name: str) -> Client:
    """A bound transceiver session; raises BindRefused."""
    client = _client_class(cfg.ssl_context is not None)(
        cfg.host, cfg.port, timeout=cfg.response_timeout, ssl_context=cfg.ssl_context,
        allow_unknown_opt_params=True, logger_name=logger_name)
    try:
        client.connect()
    except smpplib.exceptions.ConnectionError as exc:
        client.disconnect()
        cause = exc.__context__
        if isinstance(cause, ssl.SSLCertVerificationError):
            raise BindRefused(f"TLS certificate of {cfg.host} not trusted: {cause.verify_message}",
                              permanent=True) from None
        raise BindRefused(f"cannot connect to {cfg.host}:{cfg.port}: {cause or exc}", permanent=False) from None
    try:
        client.bind_transceiver(system_id=cfg.system_id, password=cfg.password, system_type=cfg.system_type,
                                addr_ton=0, addr_npi=0)
    except smpplib.exceptions.PDUError as exc:
        client.disconnect()
        status = int(exc.args[1]) if len(exc.args) > 1 else 0
        raise BindRefused(f"bind_transceiver as {cfg.system_id!r} refused with {status_name(status)}",
                          permanent=status in BAD_CREDENTIALS) from None
    except (smpplib.exceptions.ConnectionError, OSError) as exc:
        client.disconnect()
        why = str(exc).strip() or f"none within {cfg.response_timeout:g} s"
        raise BindRefused(f"no bind_transceiver_resp from {cfg.host}:{cfg.port} ({why})", permanent=False) from None
    client._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # noqa: SLF001 - a window of
    # small PDUs must not wait for the SMSC's delayed ACK (Nagle)
    return client

def close_session(client: Client) -> None:
    """Drop the connection, bound or not."""
    client.state = smpplib.consts.SMPP_CLIENT_STATE_OPEN  # unbound or dead: no smpplib warning
    client.disconnect()
