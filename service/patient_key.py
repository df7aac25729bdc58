"""Patient keys: recognise a patient again without storing who the patient is.

A snooze must find the same patient on a later hook call, but the store holds no patient
identifiers. The key is HMAC-SHA256 over a namespace and the patient id under a secret
the operator supplies. The namespace is the FHIR server's base URL (resource ids are
unique per server, so the pair names one patient), or, for a call without
``fhirServer``, the caller's JWT issuer and tenant, so that two EHRs sending the same id
never share a snooze. Patient ids are often short numbers: a plain hash could be reversed
by trying them all, the keyed hash cannot without the secret, which lives outside the
database (an environment variable from a Kubernetes Secret).

Where the secret comes from (``patient_key_secret``):

* ``OIH_PATIENT_KEY_SECRET`` when set (at least 32 characters);
* in development only, a random secret kept in ``<OIH_DATA_DIR>/patient-key.secret``
  (mode 0600), so that ``make run`` remembers snoozes across restarts;
* otherwise none: snoozing is off, and the cards do not promise it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
from pathlib import Path

from service.config import PATIENT_KEY_MIN_LENGTH, Environment, Settings

log = logging.getLogger(__name__)

DEV_KEY_FILE = "patient-key.secret"
SNOOZE_DISABLED_WARNING = (
    "snoozing is off: set OIH_PATIENT_KEY_SECRET (32+ characters, from a Secret) so that "
    "'Document: OIH evaluated, not suspected' can hide the OIH card for a while"
)


class PatientKeyer:
    """Turns (namespace, patient id) into a 64-character hex key; holds the secret."""

    __slots__ = ("_secret",)

    def __init__(self, secret: str | bytes) -> None:
        raw = secret.encode("utf-8") if isinstance(secret, str) else secret
        if len(raw) < PATIENT_KEY_MIN_LENGTH:
            raise ValueError(
                f"the patient-key secret needs at least {PATIENT_KEY_MIN_LENGTH} bytes"
            )
        self._secret = raw

    def __repr__(self) -> str:
        return "PatientKeyer(<secret>)"

    def key(self, namespace: str | None, patient_id: str) -> str:
        """The same patient in the same namespace (FHIR server) always gets the same key.

        A server URL is compared without a trailing slash; the pair is JSON-encoded so
        that no choice of id can make two different pairs collide.
        """
        space = (namespace or "").strip().rstrip("/")
        material = json.dumps([space, patient_id], separators=(",", ":"), ensure_ascii=False)
        return hmac.new(self._secret, material.encode("utf-8"), hashlib.sha256).hexdigest()


def patient_keyer(settings: Settings) -> PatientKeyer | None:
    """The keyer this deployment uses, or None when snoozing is off (see the module doc)."""
    if settings.patient_key_secret is not None:
        return PatientKeyer(settings.patient_key_secret.get_secret_value())
    if settings.environment is Environment.DEVELOPMENT:
        return PatientKeyer(_development_secret(settings.data_dir))
    log.warning(SNOOZE_DISABLED_WARNING)
    return None


def _development_secret(data_dir: Path) -> str:
    """Read or create the development secret file (0600) under the data directory.

    Written to a temporary file and linked into place, so a worker starting at the same
    moment reads either nothing or the whole secret, never half of it.
    """
    path = data_dir / DEV_KEY_FILE
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = data_dir / f".{DEV_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    try:
        os.link(tmp, path)  # fails if another worker got there first: use theirs
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_text(encoding="utf-8").strip()


def namespace(fhir_server: str | None, issuer: str | None, tenant: str | None) -> str:
    """Where a patient id is unique: the FHIR server, else the calling EHR (JWT iss, tenant)."""
    if fhir_server:
        return fhir_server
    if issuer:
        return json.dumps(["jwt", issuer, tenant or ""], separators=(",", ":"))
    return ""
