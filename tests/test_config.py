"""The configuration: defaults, search order, secrets, and every problem reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from remessa import config
from remessa.cli import main
from remessa.errors import ConfigError


def test_built_in_defaults_without_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REMESSA_CONFIG", raising=False)
    monkeypatch.setattr(config, "SYSTEM_CONFIG", Path("/nonexistent/remessa.toml"))
    settings = config.load(None)
    assert settings.source is None
    assert settings.daemon.spool == Path("spool")
    assert settings.daemon.database_url == f"sqlite:///{Path('spool/remessa.sqlite').resolve()}"
    assert list(settings.profiles) == ["default"] and settings.profiles["default"].provider == "sandbox"
    assert settings.providers["sandbox"].type == "sandbox"
    assert settings.profiles["default"].country == "BR"


def test_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / "env.toml"
    env_file.write_text('[daemon]\nspool = "/from/env"\n')
    explicit = tmp_path / "explicit.toml"
    explicit.write_text('[daemon]\nspool = "/from/flag"\n')
    monkeypatch.setenv("REMESSA_CONFIG", str(env_file))
    assert config.load(explicit).daemon.spool == Path("/from/flag")
    assert config.load(None).daemon.spool == Path("/from/env")


def test_the_documented_example_loads() -> None:
    example = Path(__file__).parent.parent / "config" / "remessa.toml"
    settings = config.load(example)
    assert settings.daemon.timezone == "America/Sao_Paulo"
    assert settings.providers["sandbox"].settings.refuse == {"*0202": 202}


def test_secrets_from_environment_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3nha\n")
    monkeypatch.setenv("SUBACCOUNT", "3486")
    path = tmp_path / "r.toml"
    path.write_text(
        f'[profiles.default]\nsubaccount = "env:SUBACCOUNT"\nmessage_text = "file:{secret}"\n'
    )
    profile = config.load(path).profiles["default"]
    assert profile.subaccount == "3486" and profile.message_text == "s3nha"


def test_every_problem_is_reported_at_once_naming_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text(
        "[daemon]\nspool = 3\ntimezone = \"America/Sao_Paul\"\ncolour = \"blue\"\n"
        "[providers.wavy]\ntype = \"carrier-pigeon\"\n"
        "[providers.sandbox]\ntype = \"sandbox\"\nsent_delay = \"soon\"\n"
        "[profiles.default]\nprovider = \"nope\"\nformat = \"xls\"\nin_flight = \"maybe\"\n"
        "dedupe = \"yes\"\ncountry = \"XX\"\nsubaccount = \"env:REMESSA_TEST_UNSET\"\n"
        "encoding = \"utf8\"\ntransliterate = \"sim\"\n"
    )
    with pytest.raises(ConfigError) as caught:
        config.load(path)
    problems = caught.value.problems
    expected = [
        "daemon.spool: expected a path",
        "daemon.colour: unknown setting",
        "daemon.timezone: unknown time zone 'America/Sao_Paul'",
        "providers.wavy.type: 'carrier-pigeon' is not a provider type",
        "providers.sandbox.sent_delay: expected a number",
        "profiles.default.provider: no provider named 'nope'",
        "profiles.default.format: 'xls' is not one of",
        "profiles.default.in_flight: 'maybe' is not retry or unknown",
        "profiles.default.dedupe: expected true or false",
        "profiles.default.country: 'XX' is not a country code",
        "profiles.default.subaccount: environment variable REMESSA_TEST_UNSET is not set",
        "profiles.default.encoding: 'utf8' is not one of auto, gsm7, latin1, ucs2",
        "profiles.default.transliterate: expected true or false",
    ]
    for words in expected:
        assert any(words in p and p.startswith(str(path)) for p in problems), (words, problems)


def test_bad_toml_and_missing_file_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[daemon\n")
    assert main(["--config", str(bad), "status"]) == 2
    assert "not valid TOML" in capsys.readouterr().err
    assert main(["--config", str(tmp_path / "missing.toml"), "status"]) == 2
    assert "file not found" in capsys.readouterr().err
