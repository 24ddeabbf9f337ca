"""What one user may store is bounded; administrators are not.

The database belongs to root: without limits, any local user could grow it (and every backup)
without end through their own trust settings and exceptions.  The limits are far above real
use; these tests lower them on the service module to reach them quickly.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from pki import PKI

from trustd import service as service_module
from trustd.api import methods
from trustd.api.varlink import Peer, ServiceInfo, VarlinkServer
from trustd.core import parse_certificate
from trustd.core.exceptions import ExceptionList
from trustd.core.trust_settings import Domain, SettingsResult, TrustSettingsEntry, UsageConstraint
from trustd.plist.exceptions import encode_exceptions
from trustd.service import Caller, TrustService
from trustd.store.engine import migrate, open_engine
from trustd.store.repository import QuotaExceeded, TrustStore

ALICE, ROOT = Caller(uid=1000, pid=1), Caller(uid=0, pid=1)
EMPTY = base64.b64encode(encode_exceptions(ExceptionList())).decode()


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TrustService]:
    monkeypatch.setattr(service_module, "MAX_USER_ENTRIES", 3)
    monkeypatch.setattr(service_module, "MAX_USER_HOSTS", 3)
    monkeypatch.setattr(service_module, "MAX_USER_CONSTRAINTS", 4)
    monkeypatch.setattr(service_module, "MAX_USER_CERTIFICATES", 3)
    engine = open_engine(tmp_path / "trustd.sqlite3")
    migrate(engine)
    yield TrustService(TrustStore(engine))
    engine.dispose()


def test_user_trust_settings_are_bounded(service: TrustService, pki: PKI) -> None:
    roots = [parse_certificate(pki.root(f"User Root {n}").der) for n in range(4)]
    for root in roots[:3]:
        service.set_trust_settings(ALICE, Domain.USER, root, [])
    with pytest.raises(QuotaExceeded, match="at most 3 certificates with trust settings"):
        service.set_trust_settings(ALICE, Domain.USER, roots[3], [])
    service.set_trust_settings(ALICE, Domain.USER, roots[0], [UsageConstraint()])  # a change
    assert len(service.trust_settings(ALICE, Domain.USER)) == 3
    deny = UsageConstraint(result=SettingsResult.DENY)
    with pytest.raises(QuotaExceeded, match="at most 4 usage constraints per certificate"):
        service.set_trust_settings(ALICE, Domain.USER, roots[0], [deny] * 5)
    # Root's own user domain is not limited.
    for root in roots:
        service.set_trust_settings(ROOT, Domain.USER, root, [deny] * 5)
    assert len(service.trust_settings(ROOT, Domain.USER)) == 4


def test_a_user_import_is_bounded(service: TrustService, pki: PKI) -> None:
    when = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    entries = [
        TrustSettingsEntry(parse_certificate(pki.root(f"R{n}").der).sha1.hex().upper(), b"",
                           b"", when)
        for n in range(4)
    ]  # fmt: skip
    with pytest.raises(QuotaExceeded):
        service.import_trust_settings(ALICE, Domain.USER, entries)
    service.import_trust_settings(ALICE, Domain.USER, entries[:3])
    assert len(service.export_trust_settings(ALICE, Domain.USER)) == 3


def test_a_users_own_certificate_store_is_bounded(service: TrustService, pki: PKI) -> None:
    roots = [parse_certificate(pki.root(f"Own Root {n}").der) for n in range(4)]
    service.add_certificates(ALICE, roots[:2], Domain.USER)
    with pytest.raises(QuotaExceeded, match="at most 3 certificates of their own"):
        service.add_certificates(ALICE, roots[2:], Domain.USER)  # nothing of it is stored
    assert len(service.find_certificates(ALICE)) == 2
    service.add_certificates(ALICE, roots[2:3], Domain.USER)
    service.add_certificates(ROOT, roots, Domain.USER)  # administrators are not limited
    assert len(service.find_certificates(ROOT)) == 4


def test_user_exceptions_are_bounded(service: TrustService) -> None:
    for n in range(3):
        service.set_exceptions(ALICE, f"h{n}.example", 443, ExceptionList())
    with pytest.raises(QuotaExceeded, match="at most 3 hosts with exceptions"):
        service.set_exceptions(ALICE, "h3.example", 443, ExceptionList())
    service.set_exceptions(ALICE, "h0.example", 443, ExceptionList())  # replacing is fine
    service.remove_exceptions(ALICE, "h1.example", 443)
    service.set_exceptions(ALICE, "h3.example", 443, ExceptionList())
    for n in range(5):
        service.set_exceptions(ROOT, f"h{n}.example", 443, ExceptionList())


def test_the_wire_answers_quota_exceeded(service: TrustService) -> None:
    server = VarlinkServer(
        ServiceInfo("trustd", "trustd", "test", "https://trustd.invalid/"),
        [methods.interface(service, dict, lambda: None)],
    )
    for n in range(4):
        parameters = {"host": f"h{n}.example", "exceptions": EMPTY, "port": 443}
        call = {"method": "io.trustd.Trust.SetExceptions", "parameters": parameters}
        [reply] = server.replies(Peer(1, 1000, 1000), call)
    assert reply == {
        "error": "io.trustd.Trust.QuotaExceeded",
        "parameters": {"what": "hosts with exceptions", "limit": 3},
    }
