// Package bench measures ftpxdp against baselines in the same run: the
// per-packet cost of the kernel program next to an empty program and a
// minimal pinhole checker (BPF_PROG_TEST_RUN), gateway forwarding in a
// namespace lab next to bare forwarding and nftables with conntrack, and
// the pinhole table at a million entries. Benchmarks never fail on time:
// they print figures and one verdict line per target.
package bench
