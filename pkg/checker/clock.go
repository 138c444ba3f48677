package checker

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/irischaos/irischaos/pkg/history"
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
// "seq=42 run=r1 t=2026-11-27 10:15:03.123456 host=iris-0".
func markerTime(v string) (time.Time, bool) {
	f := strings.Fields(v)
	for i := 0; i+1 < len(f); i++ {
		if date, ok := strings.CutPrefix(f[i], "t="); ok {
			t, err := time.Parse(markerTimeLayout, date+" "+f[i+1])
			return t, err == nil
		}
	}
	return time.Time{}, false
}

// clock fills Result.Clock from the acknowledged writes whose values carry
// the database's time, and notes an offset large enough to matter.
func (c *check) clock() {
	var offs, halves []time.Duration
	for _, o := range c.ops {
		if o.Result != history.OK || o.Value == "" {
			continue
		}
		dbT, ok := markerTime(o.Value)
		if !ok {
			continue
		}
		half := o.Complete.Sub(o.Invoke) / 2
		offs = append(offs, dbT.Sub(o.Invoke.Add(half)))
		halves = append(halves, half)
	}
	if len(offs) == 0 {
		return
	}
	slices.Sort(offs)
	slices.Sort(halves)
	med, half := offs[len(offs)/2], halves[len(halves)/2]
	c.res.Clock = &Clock{
		Samples:                 len(offs),
		MedianOffsetSeconds:     *secs(med),
		MinOffsetSeconds:        *secs(offs[0]),
		MaxOffsetSeconds:        *secs(offs[len(offs)-1]),
		MedianHalfWindowSeconds: *secs(half),
	}
	if abs(med) > half+100*time.Millisecond {
		dir := "ahead of"
		if med < 0 {
			dir = "behind"
		}
		c.info(fmt.Sprintf("note: the database's clock is %s %s the harness's (median of %d writes); RTO and RPO use the harness's clock only",
			fmtD(abs(med)), dir, len(offs)))
	}
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
