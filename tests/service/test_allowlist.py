"""Which fhirServer values may be called: exact bases, path boundaries, tokenless calls."""

from __future__ import annotations

import pytest

from service.config import Settings
from service.fhir.allowlist import (
    InvalidFhirBase,
    check_fhir_server,
    display_url,
    parse_base,
    url_is_under,
)

BASE = "https://ehr.example.org/fhir"


def make_settings(allow: list[str] | None = None, open_allow: list[str] | None = None) -> Settings:
    return Settings(
        auth_mode="disabled",
        fhir_allowlist=[BASE] if allow is None else allow,
        fhir_open_allowlist=open_allow or [],
        _env_file=None,
    )


@pytest.mark.parametrize(
    "server",
    [
        BASE,
        BASE + "/",
        "https://EHR.example.org/fhir",  # host is case-insensitive
        "https://ehr.example.org:443/fhir",  # default port spelled out
        BASE + "/R4",  # below the base on a path boundary
        BASE + "/tenant-a/R4/",
    ],
)
def test_allowed_with_token(server: str) -> None:
    assert check_fhir_server(server, make_settings(), with_token=True).allowed


@pytest.mark.parametrize(
    "server",
    [
        "https://ehr.example.org/fhir-evil",  # prefix, but not on a path boundary
        "https://ehr.example.org/fhirx/R4",
        "https://ehr.example.org.evil/fhir",  # host suffix
        "https://ehr.evil/fhir",
        "https://evil.example.org/fhir",
        "https://ehr.example.org/",  # above the base
        "https://ehr.example.org/FHIR",  # path is case-sensitive
        "http://ehr.example.org/fhir",  # scheme differs
        "https://ehr.example.org:8443/fhir",  # port differs
        "https://ehr.example.org@evil.example/fhir",  # userinfo trick: host is evil
        "https://user:pw@ehr.example.org/fhir",  # credentials are refused outright
        "https://ehr.example.org/fhir/../admin",
        "https://ehr.example.org/fhir/%2e%2e/admin",
        "https://ehr.example.org/fhir/a%2Fb",
        "https://ehr.example.org/fhir?x=1",
        "https://ehr.example.org/fhir#frag",
        "https://ehr.example.org/fhir\\..\\admin",
        "https://ehr.example.org/fhir /x",
        "https://ehr.example.org:99999/fhir",
        "ftp://ehr.example.org/fhir",
    ],
)
def test_refused_with_token(server: str) -> None:
    decision = check_fhir_server(server, make_settings(), with_token=True)
    assert not decision.allowed
    assert decision.reason


def test_allowlist_entry_with_trailing_slash_matches() -> None:
    assert check_fhir_server(BASE, make_settings([BASE + "/"]), with_token=True).allowed


def test_root_entry_allows_every_path_on_that_origin_only() -> None:
    s = make_settings(["https://ehr.example.org"])
    assert check_fhir_server(BASE, s, with_token=True).allowed
    assert not check_fhir_server("https://ehr.example.org.evil", s, with_token=True).allowed


def test_no_server() -> None:
    decision = check_fhir_server(None, make_settings(), with_token=True)
    assert (decision.allowed, decision.reason) == (False, "no fhirServer was given")


def test_not_on_allowlist_message_names_the_variable() -> None:
    decision = check_fhir_server("https://x.example/fhir", make_settings(), with_token=True)
    assert decision.reason == (
        "fhirServer https://x.example/fhir is not on the allow-list (OIH_FHIR_ALLOWLIST)"
    )
    assert decision.code == "not-allowlisted"


def test_tokenless_needs_the_open_allowlist() -> None:
    sandbox = "https://launch.smarthealthit.org/v/r4/fhir"
    # On the authenticated allow-list only: no tokenless calls.
    refused = check_fhir_server(sandbox, make_settings([sandbox]), with_token=False)
    assert not refused.allowed
    assert "OIH_FHIR_OPEN_ALLOWLIST" in refused.reason
    # On the open allow-list: tokenless allowed, but a bearer token is never sent there.
    open_only = make_settings([], [sandbox])
    assert check_fhir_server(sandbox, open_only, with_token=False).allowed
    assert not check_fhir_server(sandbox, open_only, with_token=True).allowed
    assert not check_fhir_server(sandbox + "-evil", open_only, with_token=False).allowed


def test_extra_allowed_servers_narrow_and_never_widen() -> None:
    other = "https://other.example.org/fhir"
    narrowed = check_fhir_server(
        BASE, make_settings(), with_token=True, extra_allowed_servers={other}
    )
    assert not narrowed.allowed
    assert "issuer" in narrowed.reason
    widened = check_fhir_server(
        other, make_settings(), with_token=True, extra_allowed_servers={other}
    )
    assert not widened.allowed
    both = check_fhir_server(
        BASE + "/R4", make_settings(), with_token=True, extra_allowed_servers={BASE}
    )
    assert both.allowed
    assert not check_fhir_server(
        BASE, make_settings(), with_token=True, extra_allowed_servers=set()
    ).allowed


def test_malformed_allowlist_entry_allows_nothing() -> None:
    s = make_settings(["https://ehr.example.org/fhir?x=1"])
    assert not check_fhir_server(BASE, s, with_token=True).allowed


def test_parse_base_normalises() -> None:
    base = parse_base("https://EHR.example.org:443/fhir/")
    assert (base.scheme, base.host, base.port, base.path) == (
        "https",
        "ehr.example.org",
        443,
        "/fhir",
    )
    assert str(base) == BASE
    assert str(parse_base("http://127.0.0.1:8080/fhir")) == "http://127.0.0.1:8080/fhir"
    with pytest.raises(InvalidFhirBase, match="credentials"):
        parse_base("https://u:p@ehr.example.org/fhir")


def test_url_is_under_allows_queries_but_not_escapes() -> None:
    base = parse_base(BASE)
    assert url_is_under(BASE + "/Observation?patient=1&code=http://loinc.org|1-8", base)
    assert not url_is_under(BASE + "-evil/Observation?patient=1", base)
    assert not url_is_under("https://evil.example.org/fhir/Observation", base)
    assert not url_is_under(BASE + "/Patient/%2E%2E/x", base)


def test_display_url_hides_credentials_and_junk() -> None:
    assert display_url("https://u:secret@ehr.example.org/fhir") == "(an unusable URL)"
    assert len(display_url("https://ehr.example.org/" + "a" * 500)) == 120
