#!/usr/bin/env bash
# make demo: the seed article's problem and the fix, in network namespaces.
#
# A client (inside) downloads from vsftpd (outside) through a gateway. With a
# stateless default-deny rule on the gateway (an IOS ACL with "established":
# drop every SYN arriving from outside) active-mode FTP fails, because the
# server opens the data connection. ftpxdp on the gateway is default-deny
# too, but it reads the PORT and opens one exact pinhole for that connection.
#
# Usage: scripts/demo.sh [path/to/ftpxdp]   (default bin/ftpxdp; run as root)
# Everything is torn down on exit, Ctrl-C or failure.
set -euo pipefail

bin=$(realpath "${1:-bin/ftpxdp}")
[ "$(id -u)" -eq 0 ] || { echo "demo: run as root (network namespaces, BPF)" >&2; exit 1; }
[ -x "$bin" ] || { echo "demo: $bin missing: run make build" >&2; exit 1; }
command -v vsftpd >/dev/null || [ -x /usr/sbin/vsftpd ] || { echo "demo: vsftpd missing: run make deps-lab" >&2; exit 1; }

tag=ftpxdp-demo-$$
client=$tag-client gw=$tag-gw server=$tag-server
work=$(mktemp -d /tmp/ftpxdp-demo.XXXXXX)
chmod 755 "$work"
pins=$work/bpffs/ftpxdp
pids=()

bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }
say() { printf '    %s\n' "$*"; }
indent() { sed 's/^/      /'; }

cleanup() {
  set +e
  for p in "${pids[@]}"; do
    # unshare'd processes: kill their first child, which ends the PID namespace
    for c in $(cat /proc/"$p"/task/"$p"/children 2>/dev/null); do kill -KILL "$c" 2>/dev/null; done
    kill -TERM "$p" 2>/dev/null
  done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  done
  [ -e "$pins" ] && ip netns exec "$gw" "$bin" detach --pin-path "$pins" >/dev/null 2>&1
  mountpoint -q "$work/bpffs" && umount "$work/bpffs"
  for n in "$client" "$gw" "$server"; do
    ip netns del "$n" 2>/dev/null
    rm -rf "/etc/netns/$n"
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for DESCRIPTION COMMAND...: poll a condition for up to 10 seconds.
wait_for() {
  local what=$1
  shift
  for _ in $(seq 200); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "demo: timed out waiting for $what" >&2
  return 1
}

bold "1. The lab: client (inside) -- gateway -- server (outside)"
for n in "$client" "$gw" "$server"; do
  ip netns add "$n"
  ip -n "$n" link set lo up
  # name lookups fail at once inside the lab instead of leaving it
  mkdir -p "/etc/netns/$n" && echo "nameserver 127.0.0.1" >"/etc/netns/$n/resolv.conf"
done
ip -n "$gw" link add in0 type veth peer name eth0 netns "$client"
ip -n "$gw" link add out0 type veth peer name eth0 netns "$server"
ip -n "$gw" addr add 10.0.1.1/24 dev in0
ip -n "$gw" addr add 10.0.2.1/24 dev out0
ip -n "$gw" link set in0 up
ip -n "$gw" link set out0 up
ip netns exec "$gw" sysctl -qw net.ipv4.ip_forward=1
for side in "$client 10.0.1" "$server 10.0.2"; do
  set -- $side
  ip -n "$1" addr add "$2.2/24" dev eth0
  ip -n "$1" link set eth0 up
  ip -n "$1" route add default via "$2.1"
done
mkdir -p "$work/pub" && chmod 755 "$work/pub"
head -c 1048576 /dev/urandom >"$work/pub/file.bin"
sum=$(sha256sum "$work/pub/file.bin" | cut -d' ' -f1)
cat >"$work/vsftpd.conf" <<EOF
listen=YES
listen_port=21
background=NO
anonymous_enable=YES
local_enable=NO
write_enable=NO
no_anon_password=YES
anon_root=$work/pub
secure_chroot_dir=/var/run/vsftpd/empty
seccomp_sandbox=NO
connect_from_port_20=YES
connect_timeout=3
xferlog_enable=NO
EOF
unshare --pid --fork --kill-child=SIGKILL sh -c '"$@" & wait $!' sh \
  ip netns exec "$server" /usr/sbin/vsftpd "$work/vsftpd.conf" >"$work/vsftpd.log" 2>&1 &
pids+=($!)
wait_for "vsftpd" ip netns exec "$client" bash -c 'exec 3<>/dev/tcp/10.0.2.2/21'
say "client 10.0.1.2 -- in0 [gateway] out0 -- server 10.0.2.2 (vsftpd, anonymous)"
say "file.bin: 1 MiB, sha256 ${sum:0:16}..."

# download SECONDS: an active-mode download with the classic ftp client (the
# server connects back to the port in the client's PORT), checksum verified.
download() {
  rm -f "$work/got.bin"
  local start end
  start=$(date +%s.%N)
  printf 'user anonymous demo@\nbinary\nepsv4 off\npassive off\nget file.bin %s\nbye\n' "$work/got.bin" |
    timeout "$1" ip netns exec "$client" ftp -n -i -v 10.0.2.2 >"$work/ftp.out" 2>&1 || true
  end=$(date +%s.%N)
  local took
  took=$(printf '%.2f' "$(echo "$end - $start" | bc)")
  grep -E '^(200 PORT|150|425|226)' "$work/ftp.out" | indent
  if [ -e "$work/got.bin" ] && [ "$(sha256sum "$work/got.bin" | cut -d' ' -f1)" = "$sum" ]; then
    say "-> OK: $(stat -c %s "$work/got.bin") bytes, sha256 verified, ${took}s"
    return 0
  fi
  say "-> FAILED after ${took}s"
  return 1
}

bold "2. The problem: a stateless default-deny gateway"
ip netns exec "$gw" nft -f - <<'EOF'
table netdev demo {
	chain outside {
		type filter hook ingress device "out0" priority 0; policy accept;
		tcp flags & (syn | ack) == syn counter drop
	}
}
EOF
say "nftables on out0, no conntrack:  tcp flags & (syn | ack) == syn drop"
say "(like 'access-list 101 permit tcp any any established' on a router)"
say "active-mode download with the ftp client (passive off): get file.bin"
if download 10; then
  echo "demo: the download should have failed through the deny rule" >&2
  exit 1
fi
say "the server's SYN to the client's PORT was dropped: $(ip netns exec "$gw" nft list table netdev demo | grep -o 'packets [0-9]*') dropped"
ip netns exec "$gw" nft delete table netdev demo

bold "3. The fix: ftpxdp on the gateway (default-deny as well, no conntrack)"
mkdir -p "$work/bpffs" && mount -t bpf bpf "$work/bpffs"
say "ftpxdp run --outside out0 --inside in0"
ip netns exec "$gw" "$bin" run --outside out0 --inside in0 --pin-path "$pins" \
  --ready-file "$work/ready" --web.listen-address 127.0.0.1:9464 --detach-on-exit >"$work/ftpxdp.log" 2>&1 &
pids+=($!)
wait_for "ftpxdp to attach" test -e "$work/ready"
say "attached: $(ip netns exec "$gw" "$bin" status --pin-path "$pins" | awk '/^(out0|in0) /{printf "%s %s %s (%s); ", $1, $2, $4, $5}')"

bold "4. The same download again"
say "active-mode download with the ftp client (passive off): get file.bin"
download 20

say ""
say "and a session paused after its PORT, to look at the pinhole it opened:"
mkfifo "$work/go"
ip netns exec "$client" python3 -c '
import ftplib, sys
f = ftplib.FTP("10.0.2.2", timeout=10)
f.login()
sock = f.makeport()                      # listens, sends PORT
print("PORT sent", flush=True)
open(sys.argv[1]).read()                 # wait for the demo
f.putcmd("RETR file.bin")
f.getresp()
conn, _ = sock.accept()
n = 0
while True:
    b = conn.recv(65536)
    if not b:
        break
    n += len(b)
conn.close()
f.voidresp()
f.quit()
print("received", n, "bytes", flush=True)
' "$work/go" >"$work/py.out" 2>&1 &
py=$!
wait_for "the PORT" grep -q "PORT sent" "$work/py.out"
say "\$ ftpxdp pinholes"
ip netns exec "$gw" "$bin" pinholes --pin-path "$pins" | indent
echo >"$work/go"
wait "$py" || { cat "$work/py.out" >&2; exit 1; }
say "-> $(tail -1 "$work/py.out") through the pinhole"

say ""
say "a connection nobody announced is still dropped: server -> client:2222"
if ip netns exec "$server" timeout 2 bash -c 'exec 3<>/dev/tcp/10.0.1.2/2222' 2>/dev/null; then
  echo "demo: an unannounced connection got through" >&2
  exit 1
fi
say "-> no answer within 2s: dropped at the gateway (the client would have refused it)"

bold "5. What ftpxdp counted (Prometheus metrics)"
ip netns exec "$gw" curl -s http://127.0.0.1:9464/metrics |
  grep -E '^ftpxdp_(pinholes_created_total|syns_total|control_lines_total)' |
  grep -v ' 0$' | indent

bold "Done: tearing the lab down."
