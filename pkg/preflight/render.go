package preflight

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Formats the preflight command writes.
var Formats = []string{"table", "json", "md"}

// Write renders the report in one of Formats.
func Write(w io.Writer, r Report, format string) error {
	switch format {
	case "", "table":
		return writeTable(w, r)
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case "md":
		return writeMarkdown(w, r)
	}
	return fmt.Errorf("preflight: unknown output format %q: use one of %s", format, strings.Join(Formats, ", "))
}

// FormatRTO prints a predicted RTO ("never" when the cluster would not recover by itself).
func FormatRTO(d time.Duration) string {
	if d < 0 {
		return "never (needs a human)"
	}
	return d.Round(time.Second).String()
}

func verdictLine(r Report) string {
	switch r.ExitCode() {
	case 0:
		return fmt.Sprintf("READY for the HA scenarios (%s)", r.Worst())
	case 1:
		return "NOT READY: fix every FAIL first"
	}
	return "COULD NOT TELL: see UNKNOWN checks"
}

func writeTable(w io.Writer, r Report) error {
	fmt.Fprintf(w, "Preflight of deployment %s/%s", r.Namespace, r.Deployment)
	if r.Storage != "" {
		fmt.Fprintf(w, " on %s", r.Storage)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tCHECK\tREASON")
	for _, c := range r.Checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Status, c.ID, c.Reason)
		if c.Fix != "" {
			fmt.Fprintf(tw, "\t\tfix: %s\n", c.Fix)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Predictions) > 0 {
		fmt.Fprintln(w, "\nPredicted RTO per failure domain:")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, p := range r.Predictions {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", p.Domain, FormatRTO(p.RTO), terms(p))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintln(w, "\n"+verdictLine(r))
	return err
}

func terms(p Prediction) string {
	parts := make([]string, 0, len(p.Terms))
	for _, t := range p.Terms {
		parts = append(parts, fmt.Sprintf("%s %s", t.What, t.D.Round(time.Second)))
	}
	return strings.Join(parts, " + ")
}

func writeMarkdown(w io.Writer, r Report) error {
	fmt.Fprintf(w, "## Preflight: %s/%s\n\n", r.Namespace, r.Deployment)
	if r.Storage != "" {
		fmt.Fprintf(w, "Storage: %s\n\n", r.Storage)
	}
	fmt.Fprintln(w, "| status | check | reason | fix |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, c := range r.Checks {
		fmt.Fprintf(w, "| %s | `%s` | %s | %s |\n", c.Status, c.ID, mdEscape(c.Reason), mdEscape(c.Fix))
	}
	if len(r.Predictions) > 0 {
		fmt.Fprintln(w, "\n| failure domain | predicted RTO | made of |")
		fmt.Fprintln(w, "|---|---|---|")
		for _, p := range r.Predictions {
			fmt.Fprintf(w, "| %s | %s | %s |\n", p.Domain, FormatRTO(p.RTO), mdEscape(terms(p)))
		}
	}
	_, err := fmt.Fprintf(w, "\n**%s**\n", verdictLine(r))
	return err
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
