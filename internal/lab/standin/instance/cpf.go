package instance

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Settings are what the stand-in takes from a CPF merge file. Everything
// else in the file (globals=, gmheap=, ...) is accepted and ignored.
type Settings struct {
	// [Miscellaneous] SynchCommit=1: TCOMMIT waits for the journal write.
	SynchCommit bool
	// [config] jrnbufs=MB: journal buffer size (default 64).
	JournalBufferMB int
	// [Journal] StandinFlushInterval=seconds: the journal write cycle
	// (default 2; fractions allowed). Not an IRIS setting: IRIS's cycle is
	// fixed at 2 s.
	FlushInterval time.Duration
	// [Journal] StandinCheckpointInterval=seconds: how often the database
	// file is rewritten (default 30).
	CheckpointInterval time.Duration
}

// DefaultSettings are IRIS's defaults.
func DefaultSettings() Settings {
	return Settings{JournalBufferMB: 64, FlushInterval: 2 * time.Second, CheckpointInterval: 30 * time.Second}
}

// ParseMerge reads a CPF merge file ("[Section]" headers, "Key=Value"
// lines, ";" comments) on top of DefaultSettings. Sections and keys are
// case-insensitive, as in IRIS.
func ParseMerge(r io.Reader) (Settings, error) {
	s := DefaultSettings()
	sc := bufio.NewScanner(r)
	section, lineNo := "", 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, ";") || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "[") {
			if !strings.HasSuffix(line, "]") {
				return s, fmt.Errorf("CPF merge line %d: section header %q lacks ']'", lineNo, line)
			}
			section = strings.ToLower(strings.TrimSpace(line[1 : len(line)-1]))
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			return s, fmt.Errorf("CPF merge line %d: %q is neither [Section] nor Key=Value", lineNo, line)
		}
		if section == "" {
			return s, fmt.Errorf("CPF merge line %d: %q comes before any [Section]", lineNo, line)
		}
		key, val = strings.ToLower(strings.TrimSpace(key)), strings.TrimSpace(val)
		bad := func(want string) error {
			return fmt.Errorf("CPF merge line %d: [%s] %s=%q: want %s", lineNo, section, key, val, want)
		}
		switch section + "." + key {
		case "miscellaneous.synchcommit":
			switch val {
			case "0":
				s.SynchCommit = false
			case "1":
				s.SynchCommit = true
			default:
				return s, bad("0 or 1")
			}
		case "config.jrnbufs":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 || n > 1024 {
				return s, bad("a size in MB from 1 to 1024")
			}
			s.JournalBufferMB = n
		case "journal.standinflushinterval", "journal.standincheckpointinterval":
			f, err := strconv.ParseFloat(val, 64)
			if err != nil || f < 0.01 || f > 3600 {
				return s, bad("seconds from 0.01 to 3600")
			}
			d := time.Duration(f * float64(time.Second))
			if key == "standinflushinterval" {
				s.FlushInterval = d
			} else {
				s.CheckpointInterval = d
			}
		}
	}
	return s, sc.Err()
}

// CPF renders the effective settings as the instance's iris.cpf.
func (s Settings) CPF() string {
	sync := 0
	if s.SynchCommit {
		sync = 1
	}
	return fmt.Sprintf(`; iris.cpf of the irischaos IRIS stand-in: the settings in effect.
[config]
jrnbufs=%d
[Journal]
StandinFlushInterval=%g
StandinCheckpointInterval=%g
[Miscellaneous]
SynchCommit=%d
`, s.JournalBufferMB, s.FlushInterval.Seconds(), s.CheckpointInterval.Seconds(), sync)
}
