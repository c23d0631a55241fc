package pinhole

import (
	"net/netip"
	"testing"
)

func TestParse(t *testing.T) {
	a4 := netip.MustParseAddr("10.0.0.2")
	tests := []struct {
		name string
		kind Kind
		text string
		v6   bool
		want Arg    // when reason is ""
		r    Reason // "" for success
	}{
		// PORT
		{"port", KindPORT, "PORT 10,0,0,2,4,1", false, Arg{a4, 1025}, ""},
		{"port lower case", KindPORT, "port 10,0,0,2,4,1", false, Arg{a4, 1025}, ""},
		{"port trailing spaces", KindPORT, "PORT 10,0,0,2,4,1   ", false, Arg{a4, 1025}, ""},
		{"port eight spaces", KindPORT, "PORT        10,0,0,2,4,1", false, Arg{a4, 1025}, ""},
		{"port nine spaces", KindPORT, "PORT         10,0,0,2,4,1", false, Arg{}, ReasonMalformed},
		{"port trailing nine spaces", KindPORT, "PORT 10,0,0,2,4,1         ", false, Arg{}, ReasonMalformed},
		{"port leading zeros", KindPORT, "PORT 010,000,000,002,004,001", false, Arg{a4, 1025}, ""},
		{"port four digits", KindPORT, "PORT 0010,0,0,2,4,1", false, Arg{}, ReasonRange},
		{"port octet 256", KindPORT, "PORT 10,0,0,256,4,1", false, Arg{}, ReasonRange},
		{"port p1 256", KindPORT, "PORT 10,0,0,2,256,1", false, Arg{}, ReasonRange},
		{"port range before syntax", KindPORT, "PORT 300,x", false, Arg{}, ReasonRange},
		{"port five numbers", KindPORT, "PORT 10,0,0,2,4", false, Arg{}, ReasonMalformed},
		{"port seven numbers", KindPORT, "PORT 10,0,0,2,4,1,1", false, Arg{}, ReasonMalformed},
		{"port empty number", KindPORT, "PORT 10,,0,2,4,1", false, Arg{}, ReasonMalformed},
		{"port space in list", KindPORT, "PORT 10, 0,0,2,4,1", false, Arg{}, ReasonMalformed},
		{"port trailing garbage", KindPORT, "PORT 10,0,0,2,4,1x", false, Arg{}, ReasonMalformed},
		{"port no argument", KindPORT, "PORT ", false, Arg{}, ReasonMalformed},
		{"port tab", KindPORT, "PORT\t10,0,0,2,4,1", false, Arg{}, ReasonMalformed},
		{"port zero port parses", KindPORT, "PORT 10,0,0,2,0,0", false, Arg{a4, 0}, ""},
		{"port max port", KindPORT, "PORT 10,0,0,2,255,255", false, Arg{a4, 65535}, ""},
		// 227
		{"227 parentheses", Kind227, "227 Entering Passive Mode (10,0,0,2,4,1).", false, Arg{a4, 1025}, ""},
		{"227 no parentheses", Kind227, "227 Entering passive mode. 10,0,0,2,4,1", false, Arg{a4, 1025}, ""},
		{"227 equals", Kind227, "227 =10,0,0,2,4,1", false, Arg{a4, 1025}, ""},
		{"227 bare", Kind227, "227 10,0,0,2,4,1", false, Arg{a4, 1025}, ""},
		{"227 anything after", Kind227, "227 x (10,0,0,2,4,1) and 1,2,3", false, Arg{a4, 1025}, ""},
		{"227 first digit wins", Kind227, "227 Mode 2 (10,0,0,2,4,1)", false, Arg{}, ReasonMalformed},
		{"227 no digits", Kind227, "227 Entering Passive Mode", false, Arg{}, ReasonMalformed},
		{"227 octet range", Kind227, "227 (10,0,0,999,4,1)", false, Arg{}, ReasonRange},
		{"227 short", Kind227, "227 (10,0,0,2,4)", false, Arg{}, ReasonMalformed},
		{"227 on v6 parses as v4", Kind227, "227 (10,0,0,2,4,1)", true, Arg{a4, 1025}, ""},
		// 229
		{"229", Kind229, "229 Entering Extended Passive Mode (|||50000|)", false, Arg{Port: 50000}, ""},
		{"229 other delimiter", Kind229, "229 ok (!!!1025!)", false, Arg{Port: 1025}, ""},
		{"229 digit delimiter", Kind229, "229 (555105)", false, Arg{}, ReasonMalformed},
		{"229 digit delimiter eats port", Kind229, "229 (111655351)", false, Arg{}, ReasonRange},
		{"229 trailing text", Kind229, "229 x (|||1025|) more", false, Arg{Port: 1025}, ""},
		{"229 no paren", Kind229, "229 |||1025|", false, Arg{}, ReasonMalformed},
		{"229 close missing", Kind229, "229 (|||1025|", false, Arg{}, ReasonMalformed},
		{"229 mixed delimiters", Kind229, "229 (|!|1025|)", false, Arg{}, ReasonMalformed},
		{"229 space delimiter", Kind229, "229 (   1025 )", false, Arg{}, ReasonMalformed},
		{"229 DEL delimiter", Kind229, "229 (\x7f\x7f\x7f1025\x7f)", false, Arg{}, ReasonMalformed},
		{"229 port 65536", Kind229, "229 (|||65536|)", false, Arg{}, ReasonRange},
		{"229 port six digits", Kind229, "229 (|||010250|)", false, Arg{}, ReasonRange},
		{"229 port five digits padded", Kind229, "229 (|||01025|)", false, Arg{Port: 1025}, ""},
		{"229 no port", Kind229, "229 (||||)", false, Arg{}, ReasonMalformed},
		{"229 wrong end delimiter", Kind229, "229 (|||1025!)", false, Arg{}, ReasonMalformed},
		{"229 short after paren", Kind229, "229 (||", false, Arg{}, ReasonMalformed},
		{"229 first paren wins", Kind229, "229 (x) (|||1025|)", false, Arg{}, ReasonMalformed},
		// EPRT |1|
		{"eprt v4", KindEPRT, "EPRT |1|10.0.0.2|1025|", false, Arg{a4, 1025}, ""},
		{"eprt v4 lower", KindEPRT, "eprt |1|10.0.0.2|1025|", false, Arg{a4, 1025}, ""},
		{"eprt v4 delimiter !", KindEPRT, "EPRT !1!10.0.0.2!1025!", false, Arg{a4, 1025}, ""},
		{"eprt v4 delimiter ~", KindEPRT, "EPRT ~1~10.0.0.2~1025~", false, Arg{a4, 1025}, ""},
		{"eprt v4 trailing spaces", KindEPRT, "EPRT |1|10.0.0.2|1025|  ", false, Arg{a4, 1025}, ""},
		{"eprt v4 octet range", KindEPRT, "EPRT |1|10.0.0.256|1025|", false, Arg{}, ReasonRange},
		{"eprt v4 three octets", KindEPRT, "EPRT |1|10.0.2|1025|", false, Arg{}, ReasonMalformed},
		{"eprt v4 port range", KindEPRT, "EPRT |1|10.0.0.2|70000|", false, Arg{}, ReasonRange},
		{"eprt v4 no end delimiter", KindEPRT, "EPRT |1|10.0.0.2|1025", false, Arg{}, ReasonMalformed},
		{"eprt v4 garbage", KindEPRT, "EPRT |1|10.0.0.2|1025|x", false, Arg{}, ReasonMalformed},
		{"eprt family 3", KindEPRT, "EPRT |3|10.0.0.2|1025|", false, Arg{}, ReasonMalformed},
		{"eprt v4 on v6", KindEPRT, "EPRT |1|10.0.0.2|1025|", true, Arg{}, ReasonFamilyMismatch},
		{"eprt v6 on v4", KindEPRT, "EPRT |2|::1|1025|", false, Arg{}, ReasonFamilyMismatch},
		{"eprt space delimiter", KindEPRT, "EPRT  1 10.0.0.2 1025 ", false, Arg{}, ReasonMalformed},
		{"eprt mismatched delimiter", KindEPRT, "EPRT |1!10.0.0.2|1025|", false, Arg{}, ReasonMalformed},
		{"eprt short", KindEPRT, "EPRT |1", false, Arg{}, ReasonMalformed},
		// EPRT |2|
		{"eprt v6 full", KindEPRT, "EPRT |2|2001:db8:0:0:0:0:0:2|1025|", true, Arg{netip.MustParseAddr("2001:db8::2"), 1025}, ""},
		{"eprt v6 compressed", KindEPRT, "EPRT |2|2001:db8::2|1025|", true, Arg{netip.MustParseAddr("2001:db8::2"), 1025}, ""},
		{"eprt v6 leading ::", KindEPRT, "EPRT |2|::2|1025|", true, Arg{netip.MustParseAddr("::2"), 1025}, ""},
		{"eprt v6 trailing ::", KindEPRT, "EPRT |2|2001:db8::|1025|", true, Arg{netip.MustParseAddr("2001:db8::"), 1025}, ""},
		{"eprt v6 only ::", KindEPRT, "EPRT |2|::|1025|", true, Arg{netip.IPv6Unspecified(), 1025}, ""},
		{"eprt v6 upper hex", KindEPRT, "EPRT |2|2001:DB8::A:b|1025|", true, Arg{netip.MustParseAddr("2001:db8::a:b"), 1025}, ""},
		{"eprt v6 seven groups and ::", KindEPRT, "EPRT |2|1:2:3:4:5:6:7::|1025|", true, Arg{netip.MustParseAddr("1:2:3:4:5:6:7:0"), 1025}, ""},
		{"eprt v6 :: then seven", KindEPRT, "EPRT |2|::2:3:4:5:6:7:8|1025|", true, Arg{netip.MustParseAddr("0:2:3:4:5:6:7:8"), 1025}, ""},
		{"eprt v6 middle ::", KindEPRT, "EPRT |2|fe80::1:2|1025|", true, Arg{netip.MustParseAddr("fe80::1:2"), 1025}, ""},
		{"eprt v6 delimiter !", KindEPRT, "EPRT !2!2001:db8::2!1025!", true, Arg{netip.MustParseAddr("2001:db8::2"), 1025}, ""},
		{"eprt v6 two ::", KindEPRT, "EPRT |2|1::2::3|1025|", true, Arg{}, ReasonMalformed},
		{"eprt v6 nine groups", KindEPRT, "EPRT |2|1:2:3:4:5:6:7:8:9|1025|", true, Arg{}, ReasonMalformed},
		{"eprt v6 eight groups and ::", KindEPRT, "EPRT |2|1:2:3:4:5:6:7:8::|1025|", true, Arg{}, ReasonMalformed},
		{"eprt v6 :: with seven after", KindEPRT, "EPRT |2|1::2:3:4:5:6:7:8|1025|", true, Arg{}, ReasonMalformed},
		{"eprt v6 seven groups", KindEPRT, "EPRT |2|1:2:3:4:5:6:7|1025|", true, Arg{}, ReasonMalformed},
		{"eprt v6 five hex digits", KindEPRT, "EPRT |2|2001:0db80::2|1025|", true, Arg{}, ReasonMalformed},
		{"eprt v6 single colon start", KindEPRT, "EPRT |2|:1::2|1025|", true, Arg{}, ReasonMalformed},
		{"eprt v6 embedded v4", KindEPRT, "EPRT |2|::ffff:10.0.0.2|1025|", true, Arg{}, ReasonMalformed},
		{"eprt v6 zone", KindEPRT, "EPRT |2|fe80::1%eth0|1025|", true, Arg{}, ReasonMalformed},
		{"eprt v6 trailing colon", KindEPRT, "EPRT |2|1:2:3:4:5:6:7:|1025|", true, Arg{}, ReasonMalformed},
		{"eprt v6 empty", KindEPRT, "EPRT |2||1025|", true, Arg{}, ReasonMalformed},
		{"eprt v6 colon delimiter", KindEPRT, "EPRT :2:::1:1025:", true, Arg{netip.MustParseAddr("::1"), 1025}, ""},
		{"eprt v6 hex delimiter a", KindEPRT, "EPRT a2a::1a1025a", true, Arg{}, ReasonMalformed},
		{"eprt v6 hex delimiter g", KindEPRT, "EPRT g2g::1g1025g", true, Arg{netip.MustParseAddr("::1"), 1025}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, r := Parse(tt.kind, []byte(tt.text), tt.v6)
			if r != tt.r {
				t.Fatalf("Parse(%s, %q) reason = %q, want %q", tt.kind, tt.text, r, tt.r)
			}
			if r == "" && got != tt.want {
				t.Fatalf("Parse(%s, %q) = %v, want %v", tt.kind, tt.text, got, tt.want)
			}
		})
	}
}

// FuzzParse checks the grammar never panics and that what it accepts is
// well formed.
func FuzzParse(f *testing.F) {
	f.Add(uint8(KindPORT), []byte("PORT 10,0,0,2,4,1"), false)
	f.Add(uint8(KindEPRT), []byte("EPRT |2|2001:db8::2|1025|"), true)
	f.Add(uint8(KindEPRT), []byte("EPRT |1|10.0.0.2|1025|"), false)
	f.Add(uint8(Kind227), []byte("227 Entering Passive Mode (10,0,0,2,4,1)."), false)
	f.Add(uint8(Kind229), []byte("229 (|||1025|)"), false)
	f.Fuzz(func(t *testing.T, k uint8, text []byte, v6 bool) {
		kind := Kind((k-1)%4 + 1)
		a, r := Parse(kind, text, v6)
		if r != "" {
			if !r.IsReject() {
				t.Fatalf("reason %q is not a reject", r)
			}
			return
		}
		if kind == Kind229 {
			if a.Addr.IsValid() {
				t.Fatalf("229 gave an address %v", a.Addr)
			}
			return
		}
		if kind == KindEPRT && a.Addr.Is4() == v6 {
			t.Fatalf("EPRT on v6=%v gave %v", v6, a.Addr)
		}
	})
}
