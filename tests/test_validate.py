"""Row validation: every reason code with its exact sentence, the order of checks, blocklists, dedupe."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from remessa.config import ProfileSettings
from remessa.errors import ConfigError
from remessa.intake.formats import Row, RowProblem
from remessa.intake.validate import Validator, Verdict, read_blocklist
from remessa.model import Status

MOBILE = "5519997712322"


def row(destination: str = "+55 (19) 99771-2322", text: str = "Oi", line: int = 2, **fields: Any) -> Row:
    return Row(line=line, destination=destination, text=text, **fields)


def profile(**fields: Any) -> ProfileSettings:
    return ProfileSettings(name="default", **fields)


@pytest.mark.parametrize("kind, given, expected", [
    ("sms", row(), Verdict(Status.QUEUED, MOBILE, "")),
    ("sms", row(" 19997712322 ", text="x" * 1280, correlation_id="c" * 64, extra_info="e" * 255),
     Verdict(Status.QUEUED, MOBILE)),
    ("sms", row(" 19 9977 ", problem=RowProblem("too_few_fields", "the row has 1 field, 2 are needed")),
     Verdict(Status.INVALID, "19 9977", "too_few_fields: the row has 1 field, 2 are needed")),
    ("sms", row("2312312"),
     Verdict(Status.INVALID, "2312312", 'invalid_destination: "2312312" is not a mobile number')),
    ("sms", row(" (19) 3333-4444 "),
     Verdict(Status.INVALID, "(19) 3333-4444",
             'invalid_destination: "(19) 3333-4444" is a landline, not a mobile number')),
    ("sms", row("abc"), Verdict(Status.INVALID, "abc", 'invalid_destination: "abc" is not a phone number')),
    ("sms", row("  "), Verdict(Status.INVALID, "", "invalid_destination: destination is empty")),
    ("sms", row(text=""), Verdict(Status.INVALID, MOBILE, "empty_text: text is empty")),
    ("sms", row(text=" \t "), Verdict(Status.INVALID, MOBILE, "empty_text: text is empty")),
    ("sms", row(text="x" * 1301),
     Verdict(Status.INVALID, MOBILE, "text_too_long: text has 1301 characters, the limit is 1280")),
    ("sms", row(correlation_id="c" * 65), Verdict(
        Status.INVALID, MOBILE, "correlation_id_too_long: correlationId has 65 characters, the limit is 64")),
    ("sms", row(extra_info="e" * 256), Verdict(
        Status.INVALID, MOBILE, "extra_info_too_long: extraInfo has 256 characters, the limit is 255")),
    # WhatsApp template rows carry parameters, not text; a template may have no parameters at all.
    ("whatsapp", row(text="", params=("Ana", "12/03")), Verdict(Status.QUEUED, MOBILE)),
    ("whatsapp", row(text=""), Verdict(Status.QUEUED, MOBILE)),
    ("whatsapp", row(text="x" * 1000), Verdict(Status.QUEUED, MOBILE)),
    ("whatsapp", row(text="x" * 1001),
     Verdict(Status.INVALID, MOBILE, "text_too_long: text has 1001 characters, the limit is 1000")),
    ("whatsapp", row(correlation_id="c" * 65), Verdict(
        Status.INVALID, MOBILE, "correlation_id_too_long: correlationId has 65 characters, the limit is 64")),
])
def test_check(kind: str, given: Row, expected: Verdict) -> None:
    assert Validator(profile(), kind=kind).check(given) == expected


@pytest.mark.parametrize("given, reason", [
    (row("2312312", text="", correlation_id="c" * 65),
     'invalid_destination: "2312312" is not a mobile number'),
    (row(text="", correlation_id="c" * 65, extra_info="e" * 256), "empty_text: text is empty"),
    (row(correlation_id="c" * 65, extra_info="e" * 256),
     "correlation_id_too_long: correlationId has 65 characters, the limit is 64"),
    (row("abc", problem=RowProblem("template_missing_column", 'column "nome" is empty')),
     'template_missing_column: column "nome" is empty'),
])
def test_first_failure_wins(given: Row, reason: str) -> None:
    assert Validator(profile()).check(given).reason == reason


def test_blocklist_from_profile_file_and_argument(tmp_path: Path) -> None:
    listed = tmp_path / "blocklist.txt"
    listed.write_text("# opted out\n+55 (21) 98888-7777  # SAIR 2026-03-01\n\n  11 97777-6666\n", "utf-8")
    validator = Validator(profile(blocklist=("019 99771-2322",), blocklist_file=str(listed)),
                          blocklist=["5531966665555"])
    for destination, number in [("5519997712322", "5519997712322"), ("(21) 98888-7777", "5521988887777"),
                                ("+55 11 97777 6666", "5511977776666"), ("31966665555", "5531966665555")]:
        assert validator.check(row(destination)) == Verdict(
            Status.BLOCKED, number, f"blocked: {number} is on the blocklist")
    assert validator.check(row("11 98888-7777")).status == Status.QUEUED


def test_blocked_wins_over_duplicate_and_text() -> None:
    validator = Validator(profile(blocklist=(MOBILE,), dedupe=True))
    assert validator.check(row(line=2)).status == Status.BLOCKED
    assert validator.check(row(line=3, text="")) == Verdict(
        Status.BLOCKED, MOBILE, f"blocked: {MOBILE} is on the blocklist")


def test_blocklist_entries_that_are_not_mobile_numbers_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="remessa.intake.validate"):
        numbers = read_blocklist(profile(blocklist=("SAIR", "1933334444", MOBILE)))
    assert numbers == {MOBILE}
    assert caplog.messages == [
        'profile default: 2 blocklist entries ignored, e.g. "SAIR" is not a phone number']


def test_unreadable_blocklist_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"profiles\.default\.blocklist_file: cannot read .*missing\.txt"):
        Validator(profile(blocklist_file=str(tmp_path / "missing.txt")))


def test_duplicate_destination_names_the_first_line() -> None:
    validator = Validator(profile(dedupe=True))
    assert validator.check(row("5519997712322", line=3)).status == Status.QUEUED
    assert validator.check(row("(19) 99771-2322", line=7)) == Verdict(
        Status.INVALID, MOBILE, f"duplicate_destination: {MOBILE} already appears on line 3")
    assert validator.check(row("+55 19 99771 2322", line=9, text="")).reason == (
        f"duplicate_destination: {MOBILE} already appears on line 3")


def test_only_rows_that_pass_count_for_dedupe() -> None:
    validator = Validator(profile(dedupe=True))
    assert validator.check(row(line=2, text="")).status == Status.INVALID
    assert validator.check(row(line=3)).status == Status.QUEUED
    assert validator.check(row(line=4)).reason == f"duplicate_destination: {MOBILE} already appears on line 3"


def test_without_dedupe_repeats_are_queued() -> None:
    validator = Validator(profile())
    assert [validator.check(row(line=n)).status for n in (2, 3)] == [Status.QUEUED, Status.QUEUED]


def test_remember_seeds_dedupe_when_resuming() -> None:
    validator = Validator(profile(dedupe=True))
    validator.remember(MOBILE, 40)
    validator.remember("abc", 41)  # an invalid destination as stored: ignored
    validator.remember(MOBILE, 42)  # the first line is kept
    reason = validator.check(row(line=43)).reason
    assert reason == f"duplicate_destination: {MOBILE} already appears on line 40"


def test_destinations_take_the_profile_country() -> None:
    verdict = Validator(profile(country="PT")).check(row("912 345 678"))
    assert verdict == Verdict(Status.QUEUED, "351912345678")


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="kind must be one of sms, whatsapp, not 'rcs'"):
        Validator(profile(), kind="rcs")


def test_verdict_is_immutable() -> None:
    verdict = Validator(profile()).check(row())
    with pytest.raises(AttributeError):
        verdict.status = Status.INVALID  # type: ignore[misc]
