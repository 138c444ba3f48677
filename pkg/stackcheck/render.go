package stackcheck

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/irischaos/irischaos/pkg/preflight"
)

// Write renders the report in one of preflight.Formats. JSON carries every
// probe's raw transcript; table and md give the findings.
func Write(w io.Writer, r Report, format string) error {
	switch format {
	case "", "table":
		return writeTable(w, r)
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		// Transcripts are full of IRIS's <ERRORS> and prompts: keep them readable.
		enc.SetEscapeHTML(false)
		return enc.Encode(r)
	case "md":
		return WriteMarkdown(w, r, "##")
	}
	return fmt.Errorf("stack check: unknown output format %q: use one of %s", format, strings.Join(preflight.Formats, ", "))
}

// FileName is the stack check's report (JSON, with every transcript) in a
// run's directory.
const FileName = "stack-check.json"

// Line sums the report up in one line: "WARN: 5 PASS, 1 WARN, 0 FAIL, 0 UNKNOWN".
func (r Report) Line() string {
	n := map[preflight.Status]int{}
	for _, p := range r.Probes {
		n[p.Status]++
	}
	return fmt.Sprintf("%s: %d PASS, %d WARN, %d FAIL, %d UNKNOWN", r.Worst(), n[preflight.Pass], n[preflight.Warn], n[preflight.Fail], n[preflight.Unknown])
}

func verdictLine(r Report) string {
	switch r.ExitCode() {
	case 0:
		return fmt.Sprintf("IRIS answers every probe irischaos relies on (%s)", r.Worst())
	case 1:
		return "NOT USABLE: fix every FAIL first"
	}
	return "COULD NOT TELL: see UNKNOWN probes"
}

func writeTable(w io.Writer, r Report) error {
	fmt.Fprintf(w, "Stack check of pod %s/%s, instance %s, %d stream(s)\n", r.Namespace, r.Pod, r.Instance, r.Streams)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tPROBE\tREASON")
	for _, p := range r.Probes {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Status, p.ID, p.Reason)
		if p.Fix != "" {
			fmt.Fprintf(tw, "\t\tfix: %s\n", p.Fix)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, "\n"+verdictLine(r)+" (transcripts: -o json or --out)")
	return err
}

// WriteMarkdown writes the findings under a heading of level h ("##").
func WriteMarkdown(w io.Writer, r Report, h string) error {
	fmt.Fprintf(w, "%s Stack check: %s/%s\n\n", h, r.Namespace, r.Pod)
	fmt.Fprintf(w, "Instance %s, %d stream(s).\n\n", r.Instance, r.Streams)
	fmt.Fprintln(w, "| status | probe | reason | fix |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, p := range r.Probes {
		fmt.Fprintf(w, "| %s | `%s` | %s | %s |\n", p.Status, p.ID, mdEscape(p.Reason), mdEscape(p.Fix))
	}
	_, err := fmt.Fprintf(w, "\n**%s**\n", verdictLine(r))
	return err
}

// WriteTranscript writes every probe's command, input and output as text.
func WriteTranscript(w io.Writer, r Report) error {
	for _, p := range r.Probes {
		fmt.Fprintf(w, "== %s %s (%s): %s\n$ %s\n", p.ID, p.Status, p.Duration.Round(1e6), p.Reason, p.Command)
		if p.Input != "" {
			fmt.Fprintf(w, "-- input --\n%s", ensureNL(p.Input))
		}
		if _, err := fmt.Fprintf(w, "-- output --\n%s\n", ensureNL(p.Output)); err != nil {
			return err
		}
	}
	return nil
}

func ensureNL(s string) string {
	if s != "" && !strings.HasSuffix(s, "\n") {
		return s + "\n"
	}
	return s
}

func mdEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}
