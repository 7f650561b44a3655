"""The HTTP listener: uvicorn serving an ASGI app (the webhooks) from one background thread of the daemon.

The socket is bound here, before the thread starts, so a port that cannot be had is an exception naming it
and why, not a thread that quietly dies.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

import uvicorn
from starlette.types import ASGIApp

log = logging.getLogger(__name__)

STOP_WAIT = 5.0  # s to wait for the thread after asking it to stop (uvicorn itself gives requests 2 s)


class Listener:
    """Serves `app` on host:port (port 0: any free one, see `port`) until stopped."""

    def __init__(self, app: ASGIApp, host: str, port: int) -> None:
        self.host = host
        self.requested_port = port
        self._server = uvicorn.Server(uvicorn.Config(
            app, host=host, port=port, lifespan="off", log_config=None, access_log=False,
            timeout_graceful_shutdown=2,
        ))
        self._socket: socket.socket | None = None
        self._port: int | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port listened on (the one the system chose when 0 was asked for)."""
        if self._port is None:
            raise RuntimeError("the listener was never started")
        return self._port

    def start(self, timeout: float = 10.0) -> None:
        """Bind and serve (once); returns once requests are accepted. Raises RuntimeError("cannot listen on
        HOST:PORT: why") when the address cannot be bound or the server does not come up within `timeout` s."""
        where = f"{self.host}:{self.requested_port}"
        self._socket = _bind(self.host, self.requested_port, where)
        self._port = int(self._socket.getsockname()[1])
        thread = self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]},
                                                 name="http-listener", daemon=True)
        thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started and thread.is_alive() and time.monotonic() < deadline:
            thread.join(0.01)  # returns at once should the thread die
        if not self._server.started:
            why = "the server stopped at start-up (see the log)" if not thread.is_alive() else (
                f"the server did not start within {timeout:g}s")
            self.stop()
            raise RuntimeError(f"cannot listen on {where}: {why}")
        log.info("listening for webhooks on %s:%d", self.host, self.port)

    def stop(self) -> None:
        """Stop accepting, let requests in progress finish (2 s at most), and wait for the thread."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._server.should_exit = True
            thread.join(STOP_WAIT)
            if thread.is_alive():
                log.warning("the HTTP listener thread did not stop within %gs", STOP_WAIT)
        if self._socket is not None:
            self._socket.close()


def _bind(host: str, port: int, where: str) -> socket.socket:
    """A socket bound to the first address `host` names (IPv4 or IPv6; "" for every interface), not yet
    listening."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as e:
        raise RuntimeError(f"cannot listen on {where}: {e}") from e
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as e:
        sock.close()
        raise RuntimeError(f"cannot listen on {where}: {e}") from e
    return sock
