"""Shell completion of option values: what `-r`, `-p`, `-e`, `-u`, `-k`, `-R` and `-d` accept.

Typer completes commands and options for bash, zsh, fish and PowerShell; these functions add
the values of the enumerated options (each with a word of help where the shell shows it).
Install the completion with `trustctl --install-completion [SHELL]`, or write the script
where the system looks: `trustctl --show-completion bash > /usr/share/bash-completion/
completions/trustctl` (zsh: a `_trustctl` file on `$fpath`; fish:
`~/.config/fish/completions/trustctl.fish`).

The values are listed here, not imported from the commands, so that completing stays fast.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

Values = Sequence[tuple[str, str]]

RESULT_TYPES: Values = (
    ("trustRoot", "trust a self-signed root (the default)"),
    ("trustAsRoot", "trust an intermediate or leaf as if it were a root"),
    ("deny", "distrust the certificate"),
    ("unspecified", "no decision (carries allowed errors)"),
)
TRUST_POLICIES: Values = (
    ("ssl", "TLS"),
    ("smime", "S/MIME e-mail"),
    ("codeSign", "code signing"),
    ("IPSec", "IPsec"),
    ("basic", "basic X.509"),
    ("swUpdate", "software update signing"),
    ("pkgSign", "package signing"),
    ("eap", "EAP (802.1X)"),
    ("macappstore", "Mac App Store receipts"),
    ("appleID", "Apple ID"),
    ("timestamping", "time stamping"),
)
ALLOWED_ERRORS: Values = (
    ("certExpired", "CSSMERR_TP_CERT_EXPIRED"),
    ("hostnameMismatch", "Host name mismatch"),
    ("-2147408872", "S/MIME Email address mismatch"),
)
KEY_USAGES: Values = (
    ("-1", "any"),
    ("1", "Signature"),
    ("2", "EnDecryptData"),
    ("4", "EnDecryptKey"),
    ("8", "SignCert"),
    ("16", "SignRevocation"),
    ("32", "KeyExchange"),
)
REVOCATION: Values = (
    ("ocsp", "check revocation (soft fail)"),
    ("crl", "check revocation (deprecated alias of ocsp)"),
    ("require", "require an answer for every certificate"),
    ("offline", "cached answers only"),
    ("online", "ask even when a cached answer is fresh"),
)
DOMAINS: Values = (
    ("user", "your keychains"),
    ("system", "the system's"),
    ("common", "shared (empty)"),
    ("dynamic", "removable (empty)"),
)


def _keychains() -> Values:
    from trustctl.keychains import SYSTEM_KEYCHAIN, SYSTEM_ROOTS_KEYCHAIN, login_keychain

    return (
        (login_keychain(), "your own store"),
        (SYSTEM_KEYCHAIN, "the shared store"),
        (SYSTEM_ROOTS_KEYCHAIN, "the system anchors (read-only)"),
    )


def _completer(values: Values | Callable[[], Values]) -> Callable[[str], list[tuple[str, str]]]:
    def complete(incomplete: str) -> list[tuple[str, str]]:
        listed = values() if callable(values) else values
        return [(value, why) for value, why in listed if value.startswith(incomplete)]

    return complete


result_types = _completer(RESULT_TYPES)
trust_policies = _completer(TRUST_POLICIES)
allowed_errors = _completer(ALLOWED_ERRORS)
key_usages = _completer(KEY_USAGES)
revocation = _completer(REVOCATION)
domains = _completer(DOMAINS)
keychains = _completer(_keychains)


def verify_policies(incomplete: str) -> list[tuple[str, str]]:
    """verify-cert -p: the names of add-trusted-cert's -p (the same set)."""
    return trust_policies(incomplete)


SHELLS = ("bash", "zsh", "fish", "powershell", "pwsh")


def named_shell(args: Sequence[str]) -> int | None:
    """`--show-completion SHELL` and `--install-completion SHELL` (Typer's own options detect
    the shell and take no value): the script printed or installed, and the exit status; None
    when `args` are not one of these."""
    if len(args) != 2 or args[0] not in ("--show-completion", "--install-completion"):
        return None
    import sys

    from typer import _completion_shared as shared

    shell = args[1]
    if shell not in SHELLS:
        print(f'trustctl: {args[0]} "{shell}": use one of {", ".join(SHELLS)}', file=sys.stderr)
        return 2
    names = {"prog_name": "trustctl", "complete_var": "_TRUSTCTL_COMPLETE", "shell": shell}
    if args[0] == "--show-completion":
        try:
            print(shared.get_completion_script(**names), flush=True)
        except BrokenPipeError:  # `| head`: the reader has what it wanted
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    _, path = shared.install(**names)
    print(f"{shell} completion installed in {path}")
    print("Completion will take effect once you restart the terminal")
    return 0
