package loader

import (
	"net/netip"
	"testing"

	"github.com/ftpxdp/ftpxdp/internal/testutil"
)

func TestSmokeActivePORT(t *testing.T) {
	testutil.RequireKernel(t)
	dp, err := New(DefaultConfig(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer dp.Close()
	in, err := dp.Instance(HookXDP, Outside, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	client := netip.MustParseAddrPort("10.0.0.2:40000")
	server := netip.MustParseAddrPort("192.0.2.10:21")
	v, err := in.Run(testutil.TCP{Src: client, Dst: server, ACK: true, PSH: true, Seq: 100, Payload: []byte("PORT 10,0,0,2,4,1\r\n")}.Frame())
	if err != nil || v != Pass {
		t.Fatal(v, err)
	}
	for p, err := range dp.Pinholes() {
		t.Log(p, err)
	}
	c, _ := dp.Counters()
	t.Log(c.NonZero())
	v, err = in.Run(testutil.TCP{Src: netip.MustParseAddrPort("192.0.2.10:20"), Dst: netip.MustParseAddrPort("10.0.0.2:1025"), SYN: true}.Frame())
	t.Log(v, err)
	v, err = in.Run(testutil.TCP{Src: netip.MustParseAddrPort("192.0.2.10:20"), Dst: netip.MustParseAddrPort("10.0.0.2:1026"), SYN: true}.Frame())
	t.Log(v, err)
	c, _ = dp.Counters()
	t.Log(c.NonZero())
}
