"""Body of tests/projection/test_fedora_output.py, run as root inside the private namespace.

Fedora's update-ca-trust is p11-kit's trust module reading /usr/share/pki/ca-trust-source and
/etc/pki/ca-trust/source, then `trust extract` writing each purpose's bundle.  Here the trust
module's configuration is bound over to read a private distribution directory and the source
directory FedoraOutput writes, and the output's update command is the same `trust extract`
calls; prints one JSON object of what the extracted bundles hold.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pki import PKI, Issued, KeyCache

from trustd.core.certificates import parse_certificate
from trustd.core.evaluate import Evaluator
from trustd.core.policy import Policy, PolicyKind
from trustd.core.trust_settings import SettingsResult, TrustSettingsEntry, UsageConstraint
from trustd.projection.fedora import FedoraLayout, FedoraOutput
from trustd.projection.model import project

MODULES = Path("/usr/share/p11-kit/modules")


def main(base: Path) -> None:
    distribution, source, extracted = base / "dist", base / "source", base / "extracted"
    for directory in (distribution / "anchors", source, extracted, base / "modules"):
        directory.mkdir(parents=True)
    config = (MODULES / "p11-kit-trust.module").read_text().splitlines()
    config = [line for line in config if not line.startswith("x-init-reserved")]
    config.append(f"x-init-reserved: paths={source}:{distribution}")  # as on Fedora
    (base / "modules" / "p11-kit-trust.module").write_text("\n".join(config) + "\n")
    subprocess.run(["mount", "--bind", str(base / "modules"), str(MODULES)], check=True)

    pki = PKI(KeyCache())
    kept, denied_tls, blocked = (
        pki.root(cn=f"Dist {n}") for n in ("Kept", "TLS Denied", "Blocked")
    )
    for issued in (kept, denied_tls, blocked):
        (distribution / "anchors" / f"{issued.sha1}.pem").write_bytes(issued.pem)
    org, mail = pki.root(cn="Org"), pki.root(cn="Mail")

    ssl, smime = Policy(PolicyKind.SSL), Policy(PolicyKind.SMIME)

    def constraint(policy: Policy | None, result: SettingsResult | None = None) -> UsageConstraint:
        return UsageConstraint(
            policy_oid=None if policy is None else policy.oid,
            policy_name=None if policy is None else policy.apple_name,
            result=result,
        )

    settings = [
        (org, constraint(ssl)),
        (mail, constraint(smime)),
        (denied_tls, constraint(ssl, SettingsResult.DENY)),
        (blocked, constraint(None, SettingsResult.DENY)),
    ]
    entries = []
    for issued, one in settings:
        cert = parse_certificate(issued.der)
        entries.append(
            (TrustSettingsEntry(cert.sha1.hex(), b"", b"", cert.not_before, (one,)), cert)
        )
    projection = project(entries, Evaluator().is_self_signed)

    extract = " && ".join(
        f"trust extract --format=pem-bundle --filter=ca-anchors --overwrite --purpose {p} "
        f"{extracted}/{p}.pem"
        for p in ("server-auth", "email")
    )
    layout = FedoraLayout(source=source, distribution=distribution, command=("sh", "-c", extract))
    output = FedoraOutput(base / "pending", layout)
    ran = output.apply(projection)
    again = output.apply(projection)

    def holds(purpose: str, issued: Issued) -> bool:
        return issued.pem.strip() in (extracted / f"{purpose}.pem").read_bytes()

    observed = {
        "ran": ran,
        "again": again,
        "tls": {
            n: holds("server-auth", i)
            for n, i in (
                ("kept", kept),
                ("org", org),
                ("mail", mail),
                ("denied_tls", denied_tls),
                ("blocked", blocked),
            )
        },
        "email": {
            n: holds("email", i)
            for n, i in (
                ("kept", kept),
                ("org", org),
                ("mail", mail),
                ("denied_tls", denied_tls),
                ("blocked", blocked),
            )
        },
        "files": sorted(str(p.relative_to(source)) for p in source.rglob("trustd-*")),
    }
    ran_empty = output.apply(project([], Evaluator().is_self_signed))
    observed["emptied"] = {
        "ran": ran_empty,
        "tls_org": holds("server-auth", org),
        "tls_denied": holds("server-auth", denied_tls),
        "files": sorted(str(p) for p in source.rglob("trustd-*")),
    }
    print(json.dumps(observed))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
