"""Patient keys: stable per (server, patient), secret-dependent, and where the secret comes from."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from service.config import Environment, Settings
from service.patient_key import DEV_KEY_FILE, PatientKeyer, namespace, patient_keyer

SECRET = "s" * 32
SERVER = "https://ehr.example/fhir"


def test_the_same_patient_on_the_same_server_gets_the_same_key() -> None:
    keyer = PatientKeyer(SECRET)
    key = keyer.key(SERVER, "123")
    assert len(key) == 64
    assert int(key, 16) >= 0
    assert keyer.key(SERVER + "/", "123") == key  # trailing slash ignored
    assert PatientKeyer(SECRET).key(SERVER, "123") == key  # another replica


@pytest.mark.parametrize(
    ("server", "patient"),
    [
        (SERVER, "124"),
        ("https://other.example/fhir", "123"),
        (None, "123"),
        (SERVER + '","', "123"),  # no separator trick makes two pairs collide
    ],
)
def test_other_patients_or_servers_get_other_keys(server: str | None, patient: str) -> None:
    keyer = PatientKeyer(SECRET)
    assert keyer.key(server, patient) != keyer.key(SERVER, "123")


def test_without_a_fhir_server_the_calling_ehr_is_the_namespace() -> None:
    assert namespace(SERVER, "https://ehr.example", "t1") == SERVER
    by_ehr = {
        namespace(None, "https://ehr-a.example", "t1"),
        namespace(None, "https://ehr-a.example", "t2"),
        namespace(None, "https://ehr-b.example", "t1"),
        namespace(None, None, None),
    }
    assert len(by_ehr) == 4
    assert namespace(None, None, None) == ""


def test_the_key_depends_on_the_secret_and_never_shows_it_or_the_id() -> None:
    a, b = PatientKeyer(SECRET), PatientKeyer("t" * 32)
    assert a.key(SERVER, "123") != b.key(SERVER, "123")
    assert "123" not in a.key(SERVER, "123")
    assert SECRET not in repr(a)


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        PatientKeyer("short")
    with pytest.raises(ValidationError, match="OIH_PATIENT_KEY_SECRET must be at least 32"):
        Settings(auth_mode="disabled", patient_key_secret="short", _env_file=None)


def test_the_configured_secret_wins(tmp_path: Path) -> None:
    settings = Settings(
        auth_mode="disabled", patient_key_secret=SECRET, data_dir=tmp_path, _env_file=None
    )
    keyer = patient_keyer(settings)
    assert keyer is not None
    assert keyer.key(SERVER, "1") == PatientKeyer(SECRET).key(SERVER, "1")
    assert not (tmp_path / DEV_KEY_FILE).exists()
    assert SECRET not in repr(settings)


def test_development_generates_a_private_secret_file_once(tmp_path: Path) -> None:
    settings = Settings(auth_mode="disabled", data_dir=tmp_path / "data", _env_file=None)
    first = patient_keyer(settings)
    path = tmp_path / "data" / DEV_KEY_FILE
    assert first is not None
    assert path.is_file()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = patient_keyer(settings)  # a restart reads the same secret
    assert again is not None
    assert again.key(SERVER, "1") == first.key(SERVER, "1")
    assert [p.name for p in path.parent.iterdir()] == [DEV_KEY_FILE]  # no temporary left


def test_production_without_a_secret_turns_snoozing_off(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings.model_construct(
        environment=Environment.PRODUCTION, patient_key_secret=None, data_dir=tmp_path
    )
    with caplog.at_level(logging.WARNING):
        assert patient_keyer(settings) is None
    assert "OIH_PATIENT_KEY_SECRET" in caplog.text
    assert not (tmp_path / DEV_KEY_FILE).exists()
