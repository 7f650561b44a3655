"""The daemon over SMPP, with no fault: what a profile asks for reaches the SMSC."""

from __future__ import annotations

from pathlib import Path

import pytest

from remessa.simulators.smsc.server import Smsc
from smpp_rig import batch, check_batch, drop, report, run_daemon, settled, smpp_settings, smsc  # noqa: F401


@pytest.mark.parametrize(("profile", "coding", "text"), [
    ({}, 8, "Promoção até sábado".encode("utf-16-be")),  # the provider's auto: not all GSM7, so UCS2
    ({"transliterate": True}, 0, b"Promocao at\x05 sabado"),  # folds what GSM7 lacks (é is GSM7 0x05)
    ({"encoding": "latin1"}, 1, "Promoção até sábado".encode("latin-1")),
])
def test_the_profiles_coding_reaches_the_smsc(tmp_path: Path, smsc: Smsc, run_daemon, profile: dict[str, object],
                                             coding: int, text: bytes) -> None:
    settings = smpp_settings(tmp_path, smsc.port, profile=profile)
    content, lines = batch(3)
    drop(settings, content.replace("mensagem ", "Promoção até sábado "))

    folder, _ = settled(run_daemon(settings))

    rows = report(settings, folder)
    check_batch(rows, lines, [smsc])
    assert {r["status"] for r in rows} == {"DELIVERED"}
    submits = smsc.received("submit_sm")
    assert len(submits) == 3
    assert all(p.number("data_coding") == coding and p.octets("short_message").startswith(text) for p in submits)
