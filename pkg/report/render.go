package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Formats Render knows.
var Formats = []string{"table", "md", "json", "junit", "html"}

// Render writes run in one format: table (report.txt), md (report.md),
// json (result.json), junit (junit.xml) or html (report.html).
func Render(w io.Writer, run Run, format string) error {
	switch format {
	case "table":
		return RenderTable(w, run)
	case "md", "markdown":
		return RenderMarkdown(w, run)
	case "json":
		return RenderJSON(w, run)
	case "junit", "xml":
		return RenderJUnit(w, run)
	case "html":
		return RenderHTML(w, run)
	}
	return fmt.Errorf("unknown report format %q (known: %s)", format, strings.Join(Formats, ", "))
}

// RenderJSON writes the run as result.json holds it.
func RenderJSON(w io.Writer, run Run) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(run)
}
