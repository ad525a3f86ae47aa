package views

import (
	"strconv"
	"time"
)

// The chart's drawing, in SVG user units: the browser scales it to the
// page's width (the viewBox), so one drawing serves a phone and a desk.
const (
	chartLeft   = 40  // room for the count axis
	chartTop    = 12  // room for the top label
	chartPlotH  = 200 // the tallest bar
	chartBottom = 36  // room for the week labels
	chartSlot   = 50  // one week
	chartBarW   = 32
)

// chartBar is one week's bar: its segments from the bottom up.
type chartBar struct {
	Label     string // "1 Dec"
	Long      string // "the week of 1 December"
	X, LabelX string
	Odd       bool // every other label hides on narrow screens
	Segments  []chartSegment
}

// chartSegment is one kind's part of a bar, a link to its keys.
type chartSegment struct {
	Kind, URL, Name string
	X, Y, W, H      string
}

// chartTick is a line across the plot with its count.
type chartTick struct {
	Y, TextY, Label string
}

// chartGeometry is the drawing of c.
type chartGeometry struct {
	Width, Height string
	ViewBox       string
	Left, Right   string
	Base          string // the y of the zero line
	Bars          []chartBar
	Ticks         []chartTick
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

// niceMax is the top of the count axis: max rounded up to 2, 4 or 10
// times a power of ten, so that its half is a round number too.
func niceMax(max int) int {
	for p := 1; ; p *= 10 {
		for _, m := range []int{2, 4, 10} {
			if n := m * p; n >= max {
				return n
			}
		}
	}
}

// geometry lays the chart out.
func (c ExpiryChart) geometry() chartGeometry {
	most := 0
	for _, w := range c.Weeks {
		most = max(most, w.Total.N)
	}
	top := niceMax(most)
	width := chartLeft + chartSlot*len(c.Weeks) + 8
	height := chartTop + chartPlotH + chartBottom
	base := float64(chartTop + chartPlotH)
	g := chartGeometry{
		Width: strconv.Itoa(width), Height: strconv.Itoa(height),
		ViewBox: "0 0 " + strconv.Itoa(width) + " " + strconv.Itoa(height),
		Left:    strconv.Itoa(chartLeft), Right: strconv.Itoa(width - 8), Base: num(base),
	}
	for _, n := range []int{0, top / 2, top} {
		y := base - float64(n)*chartPlotH/float64(top)
		g.Ticks = append(g.Ticks, chartTick{Y: num(y), TextY: num(y + 4), Label: FormatCount(n)})
	}
	for i, w := range c.Weeks {
		x := float64(chartLeft + i*chartSlot + (chartSlot-chartBarW)/2)
		b := chartBar{Label: w.Start.Format("2 Jan"), Long: "the week of " + w.Start.Format("2 January"),
			X: num(x), LabelX: num(x + chartBarW/2), Odd: i%2 == 1}
		y := base
		for k, cnt := range w.ByKind {
			if cnt.N == 0 {
				continue
			}
			h := float64(cnt.N) * chartPlotH / float64(top)
			y -= h
			kind := c.Kinds[k]
			b.Segments = append(b.Segments, chartSegment{Kind: kind, URL: cnt.URL,
				Name: keysCount(cnt.N, kind) + " expiring in " + b.Long,
				X:    b.X, Y: num(y), W: strconv.Itoa(chartBarW), H: num(h)})
		}
		g.Bars = append(g.Bars, b)
	}
	return g
}

// keysCount is "1 user key", "3 device keys".
func keysCount(n int, kind string) string {
	s := FormatCount(n) + " " + kind + " key"
	if n != 1 {
		s += "s"
	}
	return s
}

// WeekLabel is how the text alternative names a week: its first and
// last day.
func WeekLabel(start time.Time) string {
	end := start.AddDate(0, 0, 6)
	if start.Month() == end.Month() {
		return start.Format("2") + "–" + end.Format("2 Jan")
	}
	return start.Format("2 Jan") + " – " + end.Format("2 Jan")
}
