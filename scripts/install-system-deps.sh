#!/usr/bin/env bash
# Install the Debian packages that trustd's test suite needs beyond Python, when missing.
#
#   systemd  systemd-analyze (tests/test_systemd.py verifies the unit files) and
#            systemd-socket-activate (socket activation tests)
#   openssl  the openssl command line tool
#   ca-certificates, curl, gnutls-bin, p11-kit, default-jre-headless (which brings
#            ca-certificates-java and keytool): the trust store projection tests
#            (tests/projection) run update-ca-certificates and p11-kit's trust, then check
#            curl, gnutls-cli and Java's cacerts
#   man-db   man (tests/test_packaging.py and tests/test_install.py render the manual pages;
#            groff-base comes with it)
#
# Idempotent: when every command is present it changes nothing, asks no registry and exits 0.
# As root it runs `apt-get update` (only then, once) and installs the missing packages
# non-interactively.  As any other user it prints the command to run and exits 1.
set -euo pipefail

# command:package pairs; a package is installed when any of its commands is missing.
REQUIRED=(
    "systemd-analyze:systemd"
    "systemd-socket-activate:systemd"
    "openssl:openssl"
    "update-ca-certificates:ca-certificates"
    "curl:curl"
    "gnutls-cli:gnutls-bin"
    "trust:p11-kit"
    "keytool:default-jre-headless"
    "man:man-db"
)

missing_packages() {
    local pair command package seen=" "
    for pair in "${REQUIRED[@]}"; do
        command=${pair%%:*}
        package=${pair#*:}
        if ! command -v "$command" >/dev/null 2>&1 && [[ $seen != *" $package "* ]]; then
            seen+="$package "
            printf '%s\n' "$package"
        fi
    done
}

mapfile -t missing < <(missing_packages)
if ((${#missing[@]} == 0)); then
    echo "install-system-deps: all system dependencies are present"
    exit 0
fi

echo "install-system-deps: missing Debian packages: ${missing[*]}"
if ((EUID != 0)); then
    echo "install-system-deps: not root; install them with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-system-deps: apt-get not found; install the equivalent of: ${missing[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"

mapfile -t still_missing < <(missing_packages)
if ((${#still_missing[@]} != 0)); then
    echo "install-system-deps: still missing after installing: ${still_missing[*]}" >&2
    exit 1
fi
echo "install-system-deps: installed ${missing[*]}"
