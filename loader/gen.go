package loader

// The kernel program lives in bpf/; bpf2go compiles it and emits the shared
// C types (-type) so they are never written twice.
//go:generate go tool bpf2go -tags linux -target bpfel -type pinhole_key -type pinhole_key4 -type pinhole_val -type pt_bucket -type pt_key -type pt_meta -type pt_op -type pt_op_code -type pt_result -type ctrl_key -type ctrl_state -type allow_key -type counter -type role -type pinhole_mode ftpxdp ../bpf/ftpxdp.c -- -I../bpf -I/usr/include/x86_64-linux-gnu -O2 -g -Wall -Werror
