#!/usr/bin/env bash
# Records the captures replay's tests run: real vsftpd, lftp and curl in
# network namespaces of their own (ftpxdp-cli-rec-*), nothing outside them.
#
#   client 10.78.1.2 --- 10.78.1.1 router 198.51.100.1 --- 198.51.100.10 server
#
#   lftp-active.pcap   lftp, active mode (PORT), on the client's interface
#   lftp-passive.pcap  lftp, passive mode (PASV), on the client's interface
#   gateway-any.pcap   on the router with tcpdump -i any (Linux cooked v2):
#                      lftp active, then curl passive (EPSV), then curl
#                      active (EPRT); each forwarded packet twice
#
# Needs root, vsftpd, lftp, curl, tcpdump. Usage: record.sh [OUTDIR]
set -euo pipefail
out=$(realpath "${1:-$(dirname "$0")}")
work=$(mktemp -d /tmp/ftpxdp-cli-rec.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for n in cl rt srv; do ip netns del "ftpxdp-cli-rec-$n" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

for n in cl rt srv; do ip netns add "ftpxdp-cli-rec-$n"; ip -n "ftpxdp-cli-rec-$n" link set lo up; done
ip -n ftpxdp-cli-rec-cl link add c0 type veth peer name r0 netns ftpxdp-cli-rec-rt
ip -n ftpxdp-cli-rec-srv link add s0 type veth peer name r1 netns ftpxdp-cli-rec-rt
ip -n ftpxdp-cli-rec-cl addr add 10.78.1.2/24 dev c0
ip -n ftpxdp-cli-rec-rt addr add 10.78.1.1/24 dev r0
ip -n ftpxdp-cli-rec-rt addr add 198.51.100.1/24 dev r1
ip -n ftpxdp-cli-rec-srv addr add 198.51.100.10/24 dev s0
ip -n ftpxdp-cli-rec-cl link set c0 up; ip -n ftpxdp-cli-rec-rt link set r0 up
ip -n ftpxdp-cli-rec-rt link set r1 up; ip -n ftpxdp-cli-rec-srv link set s0 up
ip -n ftpxdp-cli-rec-cl route add default via 10.78.1.1
ip -n ftpxdp-cli-rec-srv route add default via 198.51.100.1
ip netns exec ftpxdp-cli-rec-rt sysctl -qw net.ipv4.ip_forward=1

mkdir -p "$work/root" "$work/empty"
echo "hello from vsftpd" >"$work/root/file.txt"
chmod -R 755 "$work/root" "$work/empty"
cat >"$work/vsftpd.conf" <<CONF
listen=YES
listen_ipv6=NO
listen_address=198.51.100.10
anonymous_enable=YES
local_enable=NO
write_enable=NO
anon_root=$work/root
no_anon_password=YES
seccomp_sandbox=NO
isolate=NO
isolate_network=NO
background=NO
connect_from_port_20=YES
pasv_min_port=50000
pasv_max_port=50010
secure_chroot_dir=$work/empty
xferlog_enable=NO
CONF
ip netns exec ftpxdp-cli-rec-srv vsftpd "$work/vsftpd.conf" &
pids+=($!)
for _ in $(seq 100); do
	ip netns exec ftpxdp-cli-rec-cl bash -c 'exec 3<>/dev/tcp/198.51.100.10/21' 2>/dev/null && break
	sleep 0.05
done

# capture NS IFACE FILE: starts tcpdump and waits until it listens.
capture() {
	ip netns exec "$1" tcpdump --immediate-mode -U -i "$2" -w "$3" tcp >"$work/tcpdump.log" 2>&1 &
	tcpdump_pid=$!
	pids+=("$tcpdump_pid")
	for _ in $(seq 100); do grep -q listening "$work/tcpdump.log" && return; sleep 0.05; done
	echo "tcpdump did not start" >&2; exit 1
}
stop_capture() {
	sleep 0.5 # let the last FIN/ACKs arrive
	kill "$tcpdump_pid"; wait "$tcpdump_pid" 2>/dev/null || true
}
lftp_get() { # passive-mode on|off
	rm -f "$work/got"
	ip netns exec ftpxdp-cli-rec-cl timeout 20 lftp -e "set ftp:passive-mode $1; set ftp:ssl-allow no; get file.txt -o $work/got; bye" ftp://anonymous:x@198.51.100.10
	grep -q hello "$work/got"
}
curl_get() { # extra curl flags
	ip netns exec ftpxdp-cli-rec-cl timeout 20 curl -sS "$@" ftp://198.51.100.10/file.txt | grep -q hello
}

capture ftpxdp-cli-rec-cl c0 "$work/lftp-active.pcap"; lftp_get off; stop_capture
capture ftpxdp-cli-rec-cl c0 "$work/lftp-passive.pcap"; lftp_get on; stop_capture
capture ftpxdp-cli-rec-rt any "$work/gateway-any.pcap"
lftp_get off
curl_get --ftp-pasv
curl_get --ftp-port 10.78.1.2
stop_capture
cp "$work"/*.pcap "$out/"
echo "recorded $(ls "$work"/*.pcap | wc -l) captures in $out"
