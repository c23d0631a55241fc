#!/usr/bin/env bash
# Installs what the namespace lab (internal/lab) needs, only when missing:
#   - vsftpd and the clients (lftp, curl, ftp, tnftp, python3) from apt;
#   - proftpd and pure-ftpd, which conflict with vsftpd (all provide
#     ftp-server), fetched with `apt-get download` and unpacked with `dpkg -x`
#     into $FTPXDP_LAB_ROOT (default /var/lib/ftpxdp-lab), their shared
#     libraries installed from apt (they conflict with nothing);
#   - the users the servers expect: `ftp` (anonymous, its home is the
#     anonymous root of pure-ftpd) and `_pure-ftpd` (pure-ftpd's privsep user).
# Then it checks that every server binary starts from where it lies.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=${FTPXDP_LAB_ROOT:-/var/lib/ftpxdp-lab}

"$here/apt-ensure.sh" \
  iproute2 nftables tcpdump procps \
  vsftpd lftp curl ftp tnftp python3 \
  libhiredis0.14 libmemcached11 libmemcachedutil2 libpcre2-posix3 libsodium23 libcap2 libssl3

# unpack PKG: extract PKG's current candidate into $root once per version.
unpack() {
  local pkg=$1 want have tmp
  want=$(apt-cache policy "$pkg" | awk '/Candidate:/ {print $2}')
  if [ -z "$want" ] || [ "$want" = "(none)" ]; then
    apt-get update -qq
    want=$(apt-cache policy "$pkg" | awk '/Candidate:/ {print $2}')
  fi
  have=$(cat "$root/.pkg-$pkg" 2>/dev/null || true)
  [ -n "$want" ] && [ "$want" = "$have" ] && return 0
  echo "unpacking $pkg $want into $root"
  tmp=$(mktemp -d)
  chmod 755 "$tmp" # apt's _apt user writes the download here
  (cd "$tmp" && apt-get download -qq "$pkg=$want" 2>/dev/null)
  mkdir -p "$root"
  dpkg -x "$tmp"/*.deb "$root"
  rm -rf "$tmp"
  echo "$want" >"$root/.pkg-$pkg"
}
unpack proftpd-core
unpack pure-ftpd

getent group ftp >/dev/null || groupadd --system ftp
getent passwd ftp >/dev/null ||
  useradd --system --gid ftp --home-dir /srv/ftp --shell /usr/sbin/nologin ftp
ftphome=$(getent passwd ftp | cut -d: -f6)
mkdir -p "$ftphome"
getent passwd _pure-ftpd >/dev/null ||
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin _pure-ftpd
mkdir -p /var/run/vsftpd/empty

# Every server must start from where it lies (shared libraries present).
for bin in /usr/sbin/vsftpd "$root/usr/sbin/proftpd" "$root/usr/sbin/pure-ftpd"; do
  if ldd "$bin" | grep -q "not found"; then
    echo "error: $bin misses shared libraries:" >&2
    ldd "$bin" | grep "not found" >&2
    exit 1
  fi
done
"$root/usr/sbin/proftpd" -v >/dev/null
"$root/usr/sbin/pure-ftpd" --help 2>&1 | grep -q "pure-ftpd" || {
  echo "error: $root/usr/sbin/pure-ftpd does not run" >&2
  exit 1
}
