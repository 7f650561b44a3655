"""`remessa sandbox` as an operator runs it: a real process on loopback, reached by remessa's own SMPP
channel and by the daemon through an ``smpp`` provider table."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from conftest import make_certificate, read_report, wait_for, write_config
from remessa.channels.base import Callbacks
from remessa.channels.smpp.channel import SmppChannel
from remessa.channels.smpp.settings import SmppSettings
from remessa.errors import PermanentFailure
from remessa.model import Accepted, OutgoingMessage, Receipt, Rejected

LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+)")
FAST = ("--port", "0", "--sent-delay", "0.02", "--delivery-delay", "0.05")


def remessa(*args: str, **kwargs: Any) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "REMESSA_CONFIG"}  # no stray configuration
    return subprocess.Popen([sys.executable, "-m", "remessa.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kwargs)


class Sandbox:
    """A `remessa sandbox` process; threads collect its output lines as they come."""

    def __init__(self, *options: str, before: tuple[str, ...] = (), listening: re.Pattern[str] = LISTENING) -> None:
        self._listening = listening  # its first line, whose group 1 says where it listens
        self.process = remessa(*before, "sandbox", *options)
        self.out: list[str] = []
        self.err: list[str] = []
        self._readers = [threading.Thread(target=self._collect, args=(stream, lines), daemon=True)
                         for stream, lines in ((self.process.stdout, self.out), (self.process.stderr, self.err))]
        for reader in self._readers:
            reader.start()
        wait_for(lambda: self._where() or self.process.poll() is not None, timeout=20)
        self.where = self._where()
        assert self.where, f"no listening line; stderr: {''.join(self.err)}"

    @staticmethod
    def _collect(stream: IO[str] | None, lines: list[str]) -> None:
        assert stream is not None
        with stream:  # closed at end of file: the process has exited
            for line in stream:
                lines.append(line)

    def _where(self) -> str:
        found = [self._listening.search(line) for line in self.out[:1]]
        return found[0].group(1) if found and found[0] else ""

    @property
    def port(self) -> int:
        return int(self.where)

    @property
    def url(self) -> str:
        return self.where

    def stop(self) -> int:
        """SIGTERM, as systemd or an operator's kill sends it; the exit code once output is all read."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=20)
        for reader in self._readers:
            reader.join(timeout=5)
        return code


@contextlib.contextmanager
def sandboxes() -> Iterator[Callable[..., Sandbox]]:
    """Start `remessa sandbox` processes (Sandbox's arguments); each is stopped at the end."""
    started: list[Sandbox] = []

    def start(*options: str, **kwargs: Any) -> Sandbox:
        started.append(Sandbox(*options, **kwargs))
        return started[-1]

    try:
        yield start
    finally:
        for box in started:
            if box.process.poll() is None:
                box.process.kill()
            box.stop()


@pytest.fixture
def sandbox() -> Iterator[Callable[..., Sandbox]]:
    with sandboxes() as start:
        yield start


def channel_to(box: Sandbox, **overrides: Any) -> SmppChannel:
    values: dict[str, Any] = dict(port=box.port, system_id="remessa", password="secret", binds=1,
                                  allow_short_timers=True, enquire_link=5, response_timeout=2)
    return SmppChannel(SmppSettings(**{**values, **overrides}))


def sms(id: int, destination: str) -> OutgoingMessage:
    return OutgoingMessage(id=id, batch_id=1, destination=destination, text="Oi Ana", correlation_id=f"c{id}")


def test_an_smpp_channel_sends_through_it_and_gets_receipts(sandbox: Callable[..., Sandbox]) -> None:
    box = sandbox(*FAST)
    assert "accepting system_id 'remessa' password 'secret'" in box.out[0]
    receipts: list[Receipt] = []
    channel = channel_to(box)
    channel.open(Callbacks(receipts.extend))
    try:
        ok, refused, lost = channel.send([sms(1, "5511988887777"), sms(2, "5511988880202"),
                                          sms(3, "5511988880104")])
        assert isinstance(ok, Accepted) and isinstance(lost, Accepted)
        assert isinstance(refused, Rejected) and refused.code == 202  # as the embedded sandbox refuses it
        wait_for(lambda: len([r for r in receipts if r.delivered_code is not None]) == 2, timeout=10)
    finally:
        channel.close()
    delivered = {r.provider_id: (r.delivered_code, r.delivered_status) for r in receipts if r.delivered_code}
    assert delivered == {ok.provider_id: (4, "DELIVERED_SUCCESS"), lost.provider_id: (104, "NOT_DELIVERED")}

    assert box.stop() == 0
    assert box.out[-1].strip() == ("remessa sandbox: stopped; submits 3, accepted 2, throttled 0, "
                                   "receipts sent 4, acked 4")
    log = "".join(box.err)
    assert "bind_transceiver as 'remessa' accepted" in log
    accepted = f"connection 1: submit_sm to 5511988887777 accepted as {ok.provider_id}"
    assert f"INFO remessa.simulators.smsc.server: {accepted}" in log
    assert "Oi Ana" not in log  # message bodies stay out of INFO


def test_it_runs_whatever_the_daemons_configuration_says(sandbox: Callable[..., Sandbox], tmp_path: Path) -> None:
    broken = tmp_path / "remessa.toml"
    broken.write_text("[daemon\n", encoding="utf-8")  # the simulator reads no configuration

    box = sandbox("--port", "0", before=("--config", str(broken)))

    assert box.port and box.process.poll() is None
    assert box.stop() == 0


def test_wrong_credentials_are_a_permanent_failure(sandbox: Callable[..., Sandbox]) -> None:
    box = sandbox("--port", "0", "--system-id", "loja", "--password", "s3nha")
    with pytest.raises(PermanentFailure, match="ESME_RBINDFAIL"):
        channel_to(box, system_id="loja", password="secret").open(Callbacks([].extend))
    assert box.stop() == 0
    assert "submits 0, accepted 0" in box.out[-1]
    assert "bind_transceiver as 'loja' refused" in "".join(box.err)


def test_it_speaks_smpp_over_tls(sandbox: Callable[..., Sandbox], tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)
    box = sandbox(*FAST, "--tls-cert", str(cert), "--tls-key", str(key))
    assert "SMPP over TLS listening" in box.out[0]
    channel = channel_to(box, host="localhost", tls=True, ca_file=str(cert))
    channel.open(Callbacks([].extend))
    try:
        [outcome] = channel.send([sms(1, "5511988887777")])
    finally:
        channel.close()
    assert isinstance(outcome, Accepted)
    assert box.stop() == 0


@pytest.mark.parametrize(("options", "named"), [
    (["--rate", "fast"], "--rate"),
    (["--port", "70000"], "--port"),
    (["--password", "muito-longa"], "--password"),
    (["--reject", "*0202"], "--reject"),
    (["--reject", "*0202=ESME_NOPE"], "--reject"),
    (["--delivery-delay", "-1"], "--delivery-delay"),
    (["--tls-cert", "cert.pem"], "--tls-key"),
])
def test_a_bad_option_is_a_usage_error_naming_it(options: list[str], named: str, tmp_path: Path) -> None:
    process = remessa("sandbox", "--port", "0", *options, cwd=tmp_path)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 2, (out, err)
    assert named in err and "listening" not in out


def test_a_tls_key_that_does_not_load_is_a_usage_error(tmp_path: Path) -> None:
    cert, _ = make_certificate(tmp_path)
    process = remessa("sandbox", "--port", "0", "--tls-cert", str(cert), "--tls-key", str(tmp_path / "none.pem"))
    out, err = process.communicate(timeout=20)
    assert process.returncode == 2 and "--tls-cert/--tls-key: cannot load" in err


SMS = """numero;texto;correlationId(opcional);
5511987654321;Olá Maria, sua fatura vence amanhã;fatura-1;
2312312;número errado;x;
5511987650202;recusada pelo provedor;;
5511987650104;não entregue;;
EOF
"""


def test_the_daemon_delivers_a_file_through_it_with_an_smpp_provider(
    sandbox: Callable[..., Sandbox], tmp_path: Path
) -> None:
    box = sandbox(*FAST)
    spool = tmp_path / "spool"
    path = write_config(tmp_path / "remessa.toml", {
        "daemon": {"spool": str(spool), "settle_seconds": 0.2, "poll_seconds": 0.05, "idle_seconds": 0.5},
        # the README's table, on the port the sandbox chose
        "providers.wavy": {"type": "smpp", "host": "127.0.0.1", "port": box.port, "system_id": "remessa",
                           "password": "secret", "binds": 2},
        "profiles.default": {"provider": "wavy", "receipt_timeout": 30.0},
    })
    inbox = spool / "default" / "inbox"
    inbox.mkdir(parents=True)
    (inbox / ".3486.20261123.01.txt").write_text(SMS, encoding="utf-8")
    os.rename(inbox / ".3486.20261123.01.txt", inbox / "3486.20261123.01.txt")

    run = remessa("--config", str(path), "run", "--once")
    _, err = run.communicate(timeout=60)
    assert run.returncode == 0, err

    rows = read_report(spool / "default" / "success" / "3486.20261123.01.txt.report.csv")
    assert [(r["line"], r["status"]) for r in rows] == [
        ("2", "DELIVERED"), ("3", "INVALID"), ("4", "REJECTED"), ("5", "UNDELIVERED"),
    ]
    assert (rows[0]["deliveredStatusCode"], rows[0]["deliveredStatus"]) == ("4", "DELIVERED_SUCCESS")
    assert (rows[2]["sentStatusCode"], rows[2]["sentStatus"]) == ("202", "INVALID_DESTINATION_NUMBER")
    assert (rows[3]["deliveredStatusCode"], rows[3]["deliveredStatus"]) == ("104", "NOT_DELIVERED")
    assert box.stop() == 0
    assert "submits 3, accepted 2" in box.out[-1]
