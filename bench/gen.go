package bench

// The benchmark's own kernel programs live in bpf/; bpf2go compiles each one
// into this package (committed, like loader's), so `make bench` needs no clang.
//go:generate go tool bpf2go -tags linux -target bpfel floor bpf/floor.c -- -I/usr/include/x86_64-linux-gnu -O2 -g -Wall -Werror
//go:generate go tool bpf2go -tags linux -target bpfel reference bpf/reference.c -- -I/usr/include/x86_64-linux-gnu -O2 -g -Wall -Werror
//go:generate go tool bpf2go -tags linux -target bpfel trafficgen bpf/trafficgen.c -- -I/usr/include/x86_64-linux-gnu -O2 -g -Wall -Werror
//go:generate go tool bpf2go -tags linux -target bpfel -type tally sink bpf/sink.c -- -I/usr/include/x86_64-linux-gnu -O2 -g -Wall -Werror
