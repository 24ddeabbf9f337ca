"""A user's own certificate store is private, and so are its audit rows.

Two real uids add and delete certificates in their own stores (their login keychains); the
audit log each of them reads shows their own changes and the shared store's, never the other
user's (uid, pid, SHA-1, subject).  Root reads everything.
"""

from __future__ import annotations

from daemons import Daemon
from pki import PKI
from security.clients import NOBODY, OTHER, as_uid, b64, require_root


def _objects(reply: dict[str, object]) -> set[tuple[int, str, str]]:
    entries = reply["parameters"]["entries"]  # type: ignore[index]
    return {(e["uid"], e["operation"], e["object"]) for e in entries}


def test_audit_rows_of_a_users_own_store_are_that_users(daemon: Daemon, pki: PKI) -> None:
    require_root()
    private = pki.root("Someone's Private Root")
    shared = pki.root("Shared Org Root")
    assert "error" not in daemon.call("AddCertificates", certificates=[b64(shared.der)])
    own = {"certificates": [b64(private.der)], "domain": "user"}
    mine = as_uid(daemon.socket, OTHER, [
        ("AddCertificates", own),
        ("DeleteCertificate", {"sha1": private.sha1, "domain": "user"}),
        ("AddCertificates", own),
        ("AuditLog", {}),
        ("AuditLog", {"sha1": private.sha1}),
    ])  # fmt: skip
    assert mine[0]["parameters"]["added"] == [private.sha1.upper()]
    key = private.sha1.upper()
    own_rows = {
        (OTHER, "add-certificate", key),
        (OTHER, "delete-certificate", key),
    }
    assert own_rows <= _objects(mine[3])  # the owner sees its own changes
    assert own_rows <= _objects(mine[4])
    assert (0, "add-certificate", shared.sha1.upper()) in _objects(mine[3])  # and the shared

    theirs = as_uid(daemon.socket, NOBODY, [
        ("AuditLog", {}), ("AuditLog", {"sha1": private.sha1}), ("AuditLog", {"domain": "user"}),
    ])  # fmt: skip
    assert (0, "add-certificate", shared.sha1.upper()) in _objects(theirs[0])
    for reply in theirs:
        leaked = {row for row in _objects(reply) if row[0] == OTHER or row[2] == key}
        assert leaked == set(), leaked

    everything = _objects(daemon.call("AuditLog"))  # root reads every row
    assert own_rows <= everything
