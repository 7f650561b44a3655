"""Sidecar options (NAME.json): the provider's bulk-API keys, every refusal, and the stored round trip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from remessa.errors import BatchFileError
from remessa.intake.formats.sidecar import BatchOptions, read_sidecar
from remessa.spool import sidecar_of

NAME = "3486.20170101.01.txt.json"


def write(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / NAME
    path.write_text(document if isinstance(document, str) else json.dumps(document), encoding="utf-8")
    return path


def refused(tmp_path: Path, document: Any) -> BatchFileError:
    with pytest.raises(BatchFileError) as caught:
        read_sidecar(write(tmp_path, document))
    assert str(caught.value).split(": ")[1] == NAME
    return caught.value


def test_every_option(tmp_path: Path) -> None:
    options = read_sidecar(
        write(
            tmp_path,
            {
                "timeWindow": [18, 11, 12, 11],
                "timeZone": "America/Sao_Paulo",
                "scheduledDate": "2017-01-28T02:30:43",
                "expiresInMinutes": 120,
                "campaignAlias": "iFoodPromo",
                "flashSMS": True,
                "defaultValues": {"messageText": "Olá {nome}"},
                "extraInfo": "lote 7",
            },
        )
    )
    assert options == BatchOptions(
        time_window=(11, 12, 18),
        time_zone="America/Sao_Paulo",
        scheduled_date="2017-01-28T02:30:43",
        expires_in_minutes=120,
        campaign_alias="iFoodPromo",
        flash_sms=True,
        default_message_text="Olá {nome}",
        extra_info="lote 7",
    )


def test_other_start_and_expiry_forms(tmp_path: Path) -> None:
    options = read_sidecar(write(tmp_path, {"scheduledAt": 1_700_000_000, "expiresAt": 1_700_086_400}))
    assert (options.scheduled_at, options.expires_at) == (1_700_000_000, 1_700_086_400)
    options = read_sidecar(write(tmp_path, {"delayedInMinutes": 30, "expiresDate": "2017-01-29T00:00:00"}))
    assert (options.delayed_in_minutes, options.expires_date) == (30, "2017-01-29T00:00:00")


def test_the_providers_example_with_flash_as_a_string_in_default_values(tmp_path: Path) -> None:
    options = read_sidecar(write(tmp_path, {"defaultValues": {"messageText": "Default message", "flashSMS": "true"}}))
    assert (options.default_message_text, options.flash_sms) == ("Default message", True)


def test_empty_object_nulls_and_bom(tmp_path: Path) -> None:
    assert read_sidecar(write(tmp_path, {})) == BatchOptions()
    assert read_sidecar(write(tmp_path, {"timeZone": None, "flashSMS": None})) == BatchOptions()
    assert read_sidecar(write(tmp_path, {"timeZone": "", "campaignAlias": ""})) == BatchOptions()
    path = tmp_path / NAME
    path.write_bytes(b"\xef\xbb\xbf" + b'{"campaignAlias": "x"}')
    assert read_sidecar(path).campaign_alias == "x"


def test_round_trip_for_storage() -> None:
    options = BatchOptions(
        time_window=(8, 9), time_zone="America/Manaus", scheduled_at=1, expires_in_minutes=5, flash_sms=False
    )
    stored = options.to_json()
    assert json.loads(stored)["time_zone"] == "America/Manaus"  # the store and scheduler read these names
    assert json.loads(stored)["time_window"] == [8, 9]
    assert json.loads(stored)["expires_in_minutes"] == 5
    assert json.loads(stored)["flash_sms"] is False


def test_sidecar_path() -> None:
    assert sidecar_of(Path("/spool/inbox/3486.20170101.01.txt")) == Path("/spool/inbox/3486.20170101.01.txt.json")


def test_invalid_json_names_the_line(tmp_path: Path) -> None:
    error = refused(tmp_path, '{\n  "timeZone": "UTC",\n}')
    assert (error.code, error.line) == ("bad_sidecar", 3)
    assert "not valid JSON" in str(error)


def test_not_an_object(tmp_path: Path) -> None:
    assert "must be a JSON object" in str(refused(tmp_path, [1, 2]))


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / NAME
    path.write_bytes(b'{"campaignAlias": "\xe7"}')
    with pytest.raises(BatchFileError) as caught:
        read_sidecar(path)
    assert caught.value.code == "bad_sidecar" and NAME in str(caught.value)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"timewindow": [1]}, 'unknown key "timewindow"'),
        ({"messages": []}, 'unknown key "messages"'),
        ({"timezone": None}, 'unknown key "timezone"'),
        ({"messageText": "x"}, 'unknown key "messageText"'),
        ({"defaultValues": {"flashSMS": "sim"}}, '"defaultValues.flashSMS" must be true or false'),
        ({"defaultValues": {"messageTxt": "x"}}, 'unknown key "defaultValues.messageTxt"'),
        ({"defaultValues": "x"}, '"defaultValues" must be an object'),
        ({"timeWindow": [11, 24]}, '"timeWindow" must be a list of hours 0-23'),
        ({"timeWindow": [-1]}, '"timeWindow" must be a list of hours 0-23'),
        ({"timeWindow": []}, '"timeWindow" must be a list of hours 0-23'),
        ({"timeWindow": 11}, '"timeWindow" must be a list of hours 0-23'),
        ({"timeWindow": ["11"]}, '"timeWindow" must be a list of hours 0-23'),
        ({"timeWindow": [True]}, '"timeWindow" must be a list of hours 0-23'),
        ({"timeZone": 3}, '"timeZone" must be a string'),
        ({"scheduledDate": "2017-01-28 02:30"}, '"scheduledDate" must be a date and time yyyy-MM-ddTHH:mm:ss'),
        ({"expiresDate": "amanhã"}, '"expiresDate" must be a date and time'),
        ({"scheduledAt": "1700000000"}, '"scheduledAt" must be a whole number'),
        ({"expiresAt": 1.5}, '"expiresAt" must be a whole number'),
        ({"delayedInMinutes": -5}, '"delayedInMinutes" must be a whole number, 0 or more'),
        ({"expiresInMinutes": True}, '"expiresInMinutes" must be a whole number'),
        ({"campaignAlias": 7}, '"campaignAlias" must be a string'),
        ({"flashSMS": "sim"}, '"flashSMS" must be true or false'),
        ({"flashSMS": 1}, '"flashSMS" must be true or false'),
        ({"extraInfo": {"a": 1}}, '"extraInfo" must be a string'),
        ({"defaultValues": {"messageText": ["x"]}}, '"defaultValues.messageText" must be a string'),
    ],
)
def test_bad_sidecar(tmp_path: Path, document: dict[str, Any], message: str) -> None:
    error = refused(tmp_path, document)
    assert error.code == "bad_sidecar"
    assert message in str(error)


def test_the_message_of_a_bad_time_window(tmp_path: Path) -> None:
    with pytest.raises(BatchFileError) as caught:
        read_sidecar(write(tmp_path, '{"timeWindow": [25]}'))
    assert str(caught.value) == f'bad_sidecar: {NAME}: "timeWindow" must be a list of hours 0-23'


@pytest.mark.parametrize(
    ("document", "keys"),
    [
        ({"scheduledDate": "2017-01-28T02:30:43", "scheduledAt": 1}, ('"scheduledDate"', '"scheduledAt"')),
        ({"scheduledAt": 1, "delayedInMinutes": 5}, ('"scheduledAt"', '"delayedInMinutes"')),
        ({"expiresDate": "2017-01-28T02:30:43", "expiresInMinutes": 5}, ('"expiresDate"', '"expiresInMinutes"')),
        ({"expiresAt": 1, "expiresInMinutes": 5}, ('"expiresAt"', '"expiresInMinutes"')),
        ({"flashSMS": True, "defaultValues": {"flashSMS": True}}, ('"flashSMS"', '"defaultValues.flashSMS"')),
    ],
)
def test_conflicting_options(tmp_path: Path, document: dict[str, Any], keys: tuple[str, str]) -> None:
    error = refused(tmp_path, document)
    assert error.code == "conflicting_options"
    assert all(key in str(error) for key in keys)


def test_a_start_and_an_expiry_together_are_fine(tmp_path: Path) -> None:
    options = read_sidecar(write(tmp_path, {"scheduledAt": 1, "expiresAt": 2}))
    assert (options.scheduled_at, options.expires_at) == (1, 2)


@pytest.mark.parametrize("zone", ["America/Sao_Paolo", "GMT-3", "../etc/passwd", "/UTC"])
def test_unknown_time_zone(tmp_path: Path, zone: str) -> None:
    error = refused(tmp_path, {"timeZone": zone})
    assert error.code == "unknown_timezone"
    assert '"timeZone"' in str(error)
