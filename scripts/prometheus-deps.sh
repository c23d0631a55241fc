#!/usr/bin/env bash
# Installs the Debian prometheus package (the server and promtool) when
# missing, without letting the install start the packaged service: the tests
# run their own server on a loopback port with a temporary storage dir, and a
# stray system Prometheus would only scrape nothing and fill a disk.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dpkg-query -W -f='${Status}' prometheus 2>/dev/null | grep -q "ok installed" && exit 0

# invoke-rc.d and deb-systemd-invoke ask policy-rc.d whether to start a
# service; 101 means "no". Install a temporary one unless one is in place.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ] && [ "$(id -u)" -eq 0 ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 0755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi
"$here/apt-ensure.sh" prometheus
