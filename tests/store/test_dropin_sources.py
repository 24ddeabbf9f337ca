"""The store's side of drop-in files: listing sources, replacing their rows in one transaction,
and what happens when the store refuses one source's rows."""

from __future__ import annotations

from pki import PKI

from trustd.core import Domain, SettingsResult, UsageConstraint, parse_certificate
from trustd.core.certificates import Certificate
from trustd.store.repository import Actor, SourceContents, SourceRecord, TrustStore

DIR = "/etc/trustd/distrust/"
DENY = (UsageConstraint(result=SettingsResult.DENY),)
TRUST = (UsageConstraint(result=SettingsResult.TRUST_AS_ROOT),)


def actor(source: str) -> Actor:
    return Actor(uid=0, source=source)


def contents(
    name: str, certificates: list[Certificate], constraints: tuple[UsageConstraint, ...] = DENY
) -> SourceContents:
    return SourceContents(
        DIR + name,
        f"fingerprint of {name} {len(certificates)}",
        certificates,
        [(c.sha1, c, constraints) for c in certificates],
    )


def admin(store: TrustStore) -> dict[str, tuple[str, tuple[UsageConstraint, ...]]]:
    """Admin settings: key -> (the certificate's subject, constraints)."""
    return {
        entry.key: ("" if cert is None else cert.subject_summary, entry.constraints)
        for entry, cert in store.trust_settings(Domain.ADMIN, 0)
    }


def test_sources_are_listed_and_replaced_with_their_records(store: TrustStore, pki: PKI) -> None:
    x, y = (parse_certificate(pki.root(n).der) for n in ("X", "Y"))
    done = store.replace_sources([], [contents("a.pem", [x, y])], actor=actor)
    assert done.stored == {DIR + "a.pem": frozenset()} and done.failed == {}
    assert store.sources_under([DIR]) == {DIR + "a.pem": SourceRecord("fingerprint of a.pem 2")}
    assert store.sources_under(["/etc/trustd/distrus/"]) == {}  # a prefix, not a substring
    assert store.admin_settings_by_source(DIR) == {DIR + "a.pem": frozenset({x.sha1, y.sha1})}

    done = store.replace_sources([DIR + "a.pem"], [contents("a.pem", [x])], actor=actor)
    assert {s.certificate.sha1 for s in store.find_certificates()} == {x.sha1}
    assert store.admin_settings_by_source(DIR) == {DIR + "a.pem": frozenset({x.sha1})}
    assert store.sources_under([DIR]) == {DIR + "a.pem": SourceRecord("fingerprint of a.pem 1")}

    store.replace_sources([DIR + "a.pem"], [], actor=actor)
    assert store.sources_under([DIR]) == {} and store.find_certificates() == []


def test_entries_wait_for_their_certificate_and_links_survive_a_re_add(
    store: TrustStore, pki: PKI
) -> None:
    """A settings-only source names a certificate no source holds: pending.  Once another
    source adds it, the entry is stored, linked; when that source is re-applied (its rows
    removed and added again), the link is restored."""
    x = parse_certificate(pki.root("X").der)
    plist = SourceContents(DIR + "p.plist", "p", [], [(x.sha1, None, TRUST)])
    assert store.replace_sources([], [plist], actor=actor).stored == {
        DIR + "p.plist": frozenset({x.sha1})
    }
    holder = SourceContents(DIR + "x.pem", "x", [x], [])
    done = store.replace_sources([DIR + "p.plist"], [holder, plist], actor=actor)
    assert done.stored == {DIR + "x.pem": frozenset(), DIR + "p.plist": frozenset()}
    assert admin(store) == {x.sha1.hex().upper(): ("X", TRUST)}
    store.replace_sources([DIR + "x.pem"], [SourceContents(DIR + "x.pem", "x2", [x], [])],
                          actor=actor)  # fmt: skip
    assert admin(store) == {x.sha1.hex().upper(): ("X", TRUST)}  # linked again


def test_a_source_the_store_refuses_is_left_out_and_keeps_its_old_rows(
    store: TrustStore, pki: PKI
) -> None:
    """Two sources setting the same certificate's array (which reconcile never asks for)
    break a unique constraint: the later one is refused, the other is stored."""
    x, y = (parse_certificate(pki.root(n).der) for n in ("X", "Y"))
    store.replace_sources([], [contents("b.pem", [y], TRUST)], actor=actor)
    done = store.replace_sources(
        [DIR + "b.pem"],
        [contents("a.pem", [x]), contents("b.pem", [x, y], TRUST)],
        actor=actor,
    )
    assert set(done.stored) == {DIR + "a.pem"}
    assert set(done.failed) == {DIR + "b.pem"} and "UNIQUE" in done.failed[DIR + "b.pem"]
    # b.pem's old version stays whole, with its old record: the next reconcile tries again
    assert admin(store) == {x.sha1.hex().upper(): ("X", DENY), y.sha1.hex().upper(): ("Y", TRUST)}
    assert store.sources_under([DIR]) == {
        DIR + "a.pem": SourceRecord("fingerprint of a.pem 1"),
        DIR + "b.pem": SourceRecord("fingerprint of b.pem 1"),
    }
