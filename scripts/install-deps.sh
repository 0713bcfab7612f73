#!/usr/bin/env bash
# Installs what the tests and benches need on a fresh Debian machine (as root), skipping whatever
# is already in place, so `make test` can run it every time:
# - Debian packages: the reference Pushgateway (differential tests), Prometheus and promtool
#   (client tests), wrk and nginx (benches; nginx with its auth_request module also fronts the
#   shards of tests/shards.rs), python3-venv (for the venv below), chromium
#   (web UI tests, driven by node over the DevTools pipe: no npm packages, no browser download),
#   curl and openssl (HTTPS tests: clients and test certificates), gcc (the `tls` feature's
#   `ring` builds C code), g++ (the fuzz targets, linted by `make lint`, link libFuzzer, which
#   libfuzzer-sys builds from C++), binutils (readelf checks the static binary), systemd (only
#   for `systemd-analyze`, which checks packaging/pushgate.service), and nodejs when the
#   machine has no node;
# - a venv at .venv with a pinned prometheus_client (client tests);
# - cargo-fuzz, pinned, when cargo has none (the fuzz runs of `make test`, scripts/fuzz.sh).
# The packages' init scripts must not start daemons: an upstream Pushgateway left running as a
# service would hold :9091 (and its /var/lib data), so starts are denied during the install and
# any service this run installed is stopped and disabled afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(prometheus prometheus-pushgateway wrk nginx-light python3-venv chromium curl openssl gcc
    g++ binutils systemd)
# Services shipped by those packages.
SERVICES=(prometheus prometheus-pushgateway nginx)
PYTHON_CLIENT_VERSION=0.26.0
CARGO_FUZZ_VERSION=0.13.2
VENV=.venv
PYTHON=${PYTHON:-python3}

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    installed "$pkg" || missing+=("$pkg")
done
# A node of any origin will do (machines may bring their own, not from Debian).
command -v node >/dev/null || installed nodejs || missing+=(nodejs)

policy=/usr/sbin/policy-rc.d
policy_backup=""
restore_policy() {
    if [[ -n $policy_backup ]]; then
        mv -f "$policy_backup" "$policy"
    else
        rm -f "$policy"
    fi
}

if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "install-deps: need root to install: ${missing[*]}" >&2
        exit 1
    fi
    echo "install-deps: installing ${missing[*]}"
    preexisting=()
    for svc in "${SERVICES[@]}"; do
        [[ -e /etc/init.d/$svc || -e /lib/systemd/system/$svc.service ]] && preexisting+=("$svc")
    done
    # invoke-rc.d and deb-systemd-invoke ask policy-rc.d; 101 means "action forbidden".
    if [[ -e $policy ]]; then
        policy_backup=$(mktemp)
        cp -p "$policy" "$policy_backup"
    fi
    trap restore_policy EXIT
    printf '#!/bin/sh\n# Written by pushgate scripts/install-deps.sh for one install.\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    export DEBIAN_FRONTEND=noninteractive
    # Refresh the package lists only when the install cannot do without it (none yet, or stale).
    if ! apt-get install -y -q --no-install-recommends "${missing[@]}"; then
        apt-get update -q
        apt-get install -y -q --no-install-recommends "${missing[@]}"
    fi
    restore_policy
    trap - EXIT
    # Belt and braces: whatever this install registered as a service is neither running nor
    # started at boot. Services that existed before are the machine owner's business.
    for svc in "${SERVICES[@]}"; do
        [[ " ${preexisting[*]} " == *" $svc "* ]] && continue
        if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null; then
            systemctl disable --now "$svc" >/dev/null 2>&1 || true
        elif [[ -x /etc/init.d/$svc ]]; then
            if /etc/init.d/"$svc" status >/dev/null 2>&1; then
                /etc/init.d/"$svc" stop || true
            fi
            update-rc.d "$svc" disable >/dev/null 2>&1 || true
        fi
    done
fi

venv_ok() {
    [[ -x $VENV/bin/python ]] && "$VENV/bin/python" - "$PYTHON_CLIENT_VERSION" <<'EOF' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(version("prometheus_client") != sys.argv[1])
EOF
}

if ! venv_ok; then
    echo "install-deps: setting up $VENV with prometheus_client==$PYTHON_CLIENT_VERSION"
    [[ -x $VENV/bin/python ]] || "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "prometheus_client==$PYTHON_CLIENT_VERSION" "protobuf==6.33.6"
    venv_ok
fi

# Any cargo-fuzz already installed will do: the script uses only `cargo fuzz build`.
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "install-deps: installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install --locked --quiet "cargo-fuzz@$CARGO_FUZZ_VERSION"
fi
