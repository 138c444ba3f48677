package checker

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Clock compares the database's clock with the harness's: acknowledged
// markers carry the database's own time (`t=YYYY-MM-DD hh:mm:ss.ffffff`,
// UTC, see docs/history.md) and each must lie within its write's
// invoke..complete window on a shared clock. The offset is the database time
// minus the window's midpoint; the half window bounds each sample's error.
type Clock struct {
	Samples int `json:"samples"`
	// MedianOffsetSeconds > 0: the database's clock is ahead of the harness's.
	MedianOffsetSeconds float64 `json:"median_offset_seconds"`
	MinOffsetSeconds    float64 `json:"min_offset_seconds"`
	MaxOffsetSeconds    float64 `json:"max_offset_seconds"`
	// MedianHalfWindowSeconds: the typical error bound of one sample.
	MedianHalfWindowSeconds float64 `json:"median_half_window_seconds"`
}

// markerTimeLayout is how markers carry the database's time ($zdt($zts,3,1,6)).
const markerTimeLayout = "2006-01-02 15:04:05.999999"

// markerTime reads the database time out of a marker value such as
// "seq=42 run=r1 t=2026-11-27 10:15:03.123456 host=iris-0" (fields
// separated by spaces; no allocation, it runs once per acknowledged write).
func markerTime(v string) (time.Time, bool) {
	for i := 0; i+2 <= len(v); {
		if v[i] == 't' && v[i+1] == '=' && (i == 0 || v[i-1] == ' ') {
			rest := v[i+2:]
			// date, one space, time up to the next space
			if len(rest) < 11 || rest[10] != ' ' {
				return time.Time{}, false
			}
			end := 11
			for end < len(rest) && rest[end] != ' ' {
				end++
			}
			return parseMarkerTime(rest[:end])
		}
		k := strings.IndexByte(v[i:], ' ')
		if k < 0 {
			break
		}
		i += k + 1
	}
	return time.Time{}, false
}

// clock fills Result.Clock from the acknowledged writes whose values carry
// the database's time, and returns a note when the offset is large enough
// to matter. It releases the samples.
func (c *check) clock() string {
	cs := &c.e.clock
	offs, halves := cs.offs, cs.halves
	cs.offs, cs.halves = nil, nil
	if cs.n == 0 {
		return ""
	}
	slices.Sort(offs)
	slices.Sort(halves)
	med, half := offs[len(offs)/2], halves[len(halves)/2]
	c.res.Clock = &Clock{
		Samples:                 cs.n,
		MedianOffsetSeconds:     *secs(med),
		MinOffsetSeconds:        *secs(cs.min),
		MaxOffsetSeconds:        *secs(cs.max),
		MedianHalfWindowSeconds: *secs(half),
	}

	if abs(med) <= half+100*time.Millisecond {
		return ""
	}
	dir := "ahead of"
	if med < 0 {
		dir = "behind"
	}
	return fmt.Sprintf("note: the database's clock is %s %s the harness's (median of %d writes); RTO and RPO use the harness's clock only",
		fmtD(abs(med)), dir, cs.n)
}

// maxClockSamples bounds the samples the medians are taken over: beyond
// it, every other sample is dropped and then only every 2nd, 4th... write
// is sampled (deterministic and evenly spread over the run). Min and max
// and the count are over every write.
const maxClockSamples = 1 << 16

type clockSamples struct {
	offs, halves []time.Duration
	n            int // writes seen
	stride, skip int
	min, max     time.Duration
}

func (cs *clockSamples) add(off, half time.Duration) {
	if cs.n == 0 || off < cs.min {
		cs.min = off
	}
	if cs.n == 0 || off > cs.max {
		cs.max = off
	}
	cs.n++
	if cs.stride == 0 {
		cs.stride = 1
	}
	if cs.skip > 0 {
		cs.skip--
		return
	}
	cs.skip = cs.stride - 1
	if len(cs.offs) == maxClockSamples {
		for i := 0; i < maxClockSamples/2; i++ {
			cs.offs[i], cs.halves[i] = cs.offs[2*i], cs.halves[2*i]
		}
		cs.offs, cs.halves = cs.offs[:maxClockSamples/2], cs.halves[:maxClockSamples/2]
		cs.stride *= 2
		cs.skip = cs.stride - 1 // this write is on the new grid too
	}
	cs.offs = append(cs.offs, off)
	cs.halves = append(cs.halves, half)
}

// parseMarkerTime is time.Parse(markerTimeLayout, s), by hand: it runs once
// per acknowledged write. Anything unusual is left to time.Parse.
func parseMarkerTime(s string) (time.Time, bool) {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' || s[16] != ':' {
		return slowMarkerTime(s)
	}
	num := func(a string) int {
		n := 0
		for i := 0; i < len(a); i++ {
			c := a[i]
			if c < '0' || c > '9' {
				return -1
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	y, mo, d, h, mi, sec := num(s[0:4]), num(s[5:7]), num(s[8:10]), num(s[11:13]), num(s[14:16]), num(s[17:19])
	if y < 0 || mo < 1 || mo > 12 || d < 1 || d > 28 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59 {
		return slowMarkerTime(s) // days 29-31 checked by time.Parse
	}
	ns := 0
	if frac := s[19:]; frac != "" {
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 7 {
			return slowMarkerTime(s)
		}
		n := num(frac[1:])
		if n < 0 {
			return slowMarkerTime(s)
		}
		for k := len(frac) - 1; k < 9; k++ {
			n *= 10
		}
		ns = n
	}
	return time.Date(y, time.Month(mo), d, h, mi, sec, ns, time.UTC), true
}

func slowMarkerTime(s string) (time.Time, bool) {
	t, err := time.Parse(markerTimeLayout, s)
	return t, err == nil
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
