package report

import (
	"fmt"
	"html/template"
	"strings"
)

// PrintIdentity is what every printed page of a report says about the run,
// so a single page torn from the PDF still names its evidence.
type PrintIdentity struct {
	// RunDir is the run directory's name, e.g. "20261127T100000Z-local".
	RunDir string
	// ManifestSHA256 is the SHA-256 (hex) of the run's manifest.json, which
	// seals every evidence file; empty when the run has none.
	ManifestSHA256 string
}

// PrintHeader and PrintFooter are the header and footer templates Chromium
// prints on every page of report.pdf: the run, its verdict and time at the
// top; the cluster, the irischaos version, the manifest's SHA-256 and
// "page N of M" at the bottom. Chromium fills the elements of class
// pageNumber and totalPages; its header font size is 0, so each sets one.
func PrintHeader(run Run, id PrintIdentity) string {
	parts := []string{"irischaos report " + orDash(id.RunDir), "verdict " + strings.ToUpper(string(runVerdict(run)))}
	if !run.Started.IsZero() {
		parts = append(parts, "run "+run.Started.UTC().Format("2006-01-02 15:04:05Z"))
	}
	return printBand(strings.Join(parts, " · "), "")
}

// PrintFooter: see PrintHeader.
func PrintFooter(run Run, id PrintIdentity) string {
	var parts []string
	if u := run.Environment.ClusterUID; u != "" {
		parts = append(parts, "cluster "+u)
	}
	if v := run.Environment.Irischaos; v != "" {
		parts = append(parts, "irischaos "+v)
	}
	if id.ManifestSHA256 != "" {
		parts = append(parts, "manifest.json sha256 "+id.ManifestSHA256)
	} else {
		parts = append(parts, "no manifest")
	}
	return printBand(strings.Join(parts, " · "), `Page <span class="pageNumber"></span> of <span class="totalPages"></span>`)
}

func printBand(left string, right template.HTML) string {
	return fmt.Sprintf(`<div style="font-family: sans-serif; font-size: 7px; color: #444; width: 100%%; margin: 0 1.2cm; display: flex; justify-content: space-between;"><span>%s</span><span>%s</span></div>`,
		template.HTMLEscapeString(left), right)
}
