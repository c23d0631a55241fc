package bench

import (
	"fmt"
	"html"
	"io"
	"math"
)

// plotColors are the programs' bar colours.
var plotColors = map[string]string{progFloor: "#9e9e9e", progReference: "#1f77b4", progFtpxdp: "#d62728"}

// WritePerPacketSVG draws the per-packet result: one group of bars per
// class, one bar per program, ns/packet on a linear axis.
func WritePerPacketSVG(w io.Writer, p *PerPacketResult, m Machine) error {
	const (
		left, right, top = 130.0, 70.0, 56.0
		width            = 860.0
		bar, gap         = 9.0, 8.0
	)
	group := bar*float64(len(perPacketPrograms)) + gap
	height := top + group*float64(len(p.Classes)) + 40
	maxNs := 0.0
	for _, c := range p.Classes {
		for _, prog := range perPacketPrograms {
			maxNs = math.Max(maxNs, c.Median(prog))
		}
	}
	step := niceStep(maxNs / 6)
	axisMax := math.Ceil(maxNs/step) * step
	plotW := width - left - right
	x := func(ns float64) float64 { return left + plotW*ns/axisMax }

	var err error
	pf := func(format string, a ...any) {
		if err == nil {
			_, err = fmt.Fprintf(w, format, a...)
		}
	}
	pf(`<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="11">`+"\n", width, height)
	pf(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	pf(`<text x="%.0f" y="18" font-size="14" font-weight="bold">ftpxdp per-packet cost (BPF_PROG_TEST_RUN, kernel ns/packet, median of %d runs x %d)</text>`+"\n",
		left-120, p.Rounds, p.Repeat)
	pf(`<text x="%.0f" y="34" fill="#555">%s</text>`+"\n", left-120, html.EscapeString(m.String()))
	for i, prog := range perPacketPrograms {
		lx := left + float64(i)*110
		pf(`<rect x="%.0f" y="42" width="10" height="10" fill="%s"/><text x="%.0f" y="51">%s</text>`+"\n", lx, plotColors[prog], lx+14, prog)
	}
	bottom := height - 30
	for v := 0.0; v <= axisMax+step/2; v += step {
		pf(`<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#ddd"/>`, x(v), top-4, x(v), bottom)
		pf(`<text x="%.1f" y="%.0f" text-anchor="middle" fill="#555">%.0f</text>`+"\n", x(v), bottom+14, v)
	}
	pf(`<text x="%.0f" y="%.0f" text-anchor="middle" fill="#555">ns per packet</text>`+"\n", left+plotW/2, bottom+27)
	for ci, c := range p.Classes {
		y0 := top + float64(ci)*group
		pf(`<text x="%.0f" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, y0+group/2, html.EscapeString(c.Name))
		for pi, prog := range perPacketPrograms {
			ns := c.Median(prog)
			y := y0 + float64(pi)*bar
			pf(`<rect x="%.0f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %.1f ns</title></rect>`,
				left, y, x(ns)-left, bar-1, plotColors[prog], html.EscapeString(c.Name), prog, ns)
			pf(`<text x="%.1f" y="%.1f" font-size="9" fill="#333">%.0f</text>`+"\n", x(ns)+3, y+bar-2, ns)
		}
	}
	pf("</svg>\n")
	return err
}

// niceStep rounds a raw axis step to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}
