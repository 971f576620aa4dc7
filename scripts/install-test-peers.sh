#!/usr/bin/env bash
# Installs the Debian test peers (SIPp, Kamailio, Chromium, Compose) when they are missing and we may.
set -euo pipefail
missing=()
command -v sipp >/dev/null 2>&1 || missing+=(sip-tester)
command -v kamailio >/dev/null 2>&1 || [ -x /usr/sbin/kamailio ] || missing+=(kamailio)
# SIP over TLS at the edge (tests/test_sip_admission.py).
# Any architecture's module directory (Debian multiarch, RPM and source layouts).
compgen -G '/usr/lib/*/kamailio/modules/tls.so' >/dev/null \
    || compgen -G '/usr/lib*/kamailio/modules/tls.so' >/dev/null \
    || compgen -G '/usr/local/lib*/kamailio/modules/tls.so' >/dev/null \
    || missing+=(kamailio-tls-modules)
# The dashboard test drives headless Chromium; a CJK font makes the Chinese screenshots legible.
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing+=(fonts-wqy-microhei)
# Checks docker/compose.yaml the way Docker reads it (no engine needed; Debian has Compose v1).
command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || missing+=(docker-compose)
# Request Tracker 5 for the help desk connector's test (tests/test_helpdesk_rt.py): the
# test sets up its own database and server, so the package is told to set none up.
for package in request-tracker5 rt5-standalone rt5-db-sqlite; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "test peers missing (${missing[*]}); install them as root: apt-get install ${missing[*]}" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
echo "request-tracker5 request-tracker5/dbconfig-install boolean false" | debconf-set-selections
apt-get update -q
apt-get install -y -q "${missing[@]}"
