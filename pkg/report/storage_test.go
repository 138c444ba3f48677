package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/irischaos/irischaos/pkg/checker"
)

func TestStorageRowsInReports(t *testing.T) {
	tf := time.Date(2026, 12, 2, 11, 57, 59, 0, time.UTC)
	at := func(s float64) *time.Time { x := tf.Add(time.Duration(s * float64(time.Second))); return &x }
	deg := 283.4
	res := checker.Result{Verdict: checker.Fail, Fault: &checker.Fault{Name: "vm-poweroff", T: tf},
		Storage: &checker.Storage{DetachedAt: at(336.6), DetachedFrom: "node-1", AttachedAt: at(337.3), AttachedTo: "node-3",
			RedundancyLostAt: at(25.3), RedundancyLost: "unavailable", RedundancyRestoredAt: at(308.7), DegradedSeconds: &deg}}
	want := []string{"Volume detached from node-1 | 12:03:35.600 (+336.6", "Volume attached to node-3 | 12:03:36.300 (+337.3",
		"Redundancy lost (unavailable) | 11:58:24.300 (+25.3", "Redundancy restored | 12:03:07.700 (+308.7", "Time without full redundancy | 283.4"}
	var md bytes.Buffer
	if err := RenderMarkdown(&md, Run{Name: "r", Iterations: []Iteration{{Scenario: "node-lost", Iteration: 1, Result: res}}}); err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		if !strings.Contains(md.String(), w) {
			t.Errorf("report.md lacks %q", w)
		}
	}
	var table bytes.Buffer
	if err := RenderResult(&table, res, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "Redundancy restored") || !strings.Contains(table.String(), "Volume attached to node-3") {
		t.Errorf("analyze's table lacks the storage rows:\n%s", table.String())
	}
	var html bytes.Buffer
	if err := RenderHTML(&html, Run{Name: "r", Iterations: []Iteration{{Scenario: "node-lost", Iteration: 1, Result: res}}}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(html.String(), "<th>Redundancy restored</th><td>12:03:07.700 (&#43;308.7") {
		i := strings.Index(html.String(), "Redundancy")
		t.Errorf("report.html lacks the storage rows: %q", html.String()[max(i-20, 0):min(i+120, len(html.String()))])
	}
	// Longhorn's copies per zone, and the time to full redundancy.
	full := 702.5
	lh := checker.Result{Fault: &checker.Fault{Name: "vm-poweroff", T: tf}, Storage: &checker.Storage{
		RedundancyLostAt: at(41), RedundancyLost: "degraded", RedundancyRestoredAt: at(702.5), DegradedSeconds: &deg, FullRedundancySeconds: &full,
		ZonesBefore: map[string]int{"zone-a": 1, "zone-b": 1, "zone-c": 1}, ZonesAfter: map[string]int{"zone-a": 2, "zone-c": 1}}}
	md.Reset()
	if err := RenderMarkdown(&md, Run{Name: "r", Iterations: []Iteration{{Scenario: "node-lost", Iteration: 1, Result: lh}}}); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"Time to full redundancy (from the fault) | 702.5", "Replicas per zone before | zone-a 1, zone-b 1, zone-c 1", "Replicas per zone after | zone-a 2, zone-c 1"} {
		if !strings.Contains(md.String(), w) {
			t.Errorf("report.md lacks %q", w)
		}
	}
	lh.Storage.RedundancyRestoredAt, lh.Storage.FullRedundancySeconds = nil, nil
	if rows := storageRows(lh); rows[len(rows)-1][0] != "Replicas per zone after (last reading, not restored)" {
		t.Errorf("not restored: %v", rows)
	}
	// Without storage evidence: no rows.
	if rows := storageRows(checker.Result{}); rows != nil {
		t.Errorf("rows without storage evidence: %v", rows)
	}
}
