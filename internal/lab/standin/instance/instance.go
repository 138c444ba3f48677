// Package instance runs and controls the stand-in's instances: the instance
// daemon (engine + sessions over a unix socket), and the client side of
// `iris session|qlist|start|stop|force`. An instance's container-local files
// live in the run directory: NAME.conf (data directory and merge file, the
// registry written by iris-main), NAME.state (status and times), NAME.pid
// and NAME.sock.
package instance

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/irischaos/irischaos/internal/lab/standin"
)

// DefaultRunDir is the run directory when IRISCHAOS_RUN_DIR is unset.
const DefaultRunDir = "/run/irissys"

// InstallDir is qlist's installation directory.
const InstallDir = "/usr/irissys"

// RunDir returns the run directory: $IRISCHAOS_RUN_DIR or DefaultRunDir.
func RunDir() string {
	if d := os.Getenv("IRISCHAOS_RUN_DIR"); d != "" {
		return d
	}
	return DefaultRunDir
}

// Instance names one instance in a run directory. Names are
// case-insensitive, as IRIS's.
type Instance struct {
	RunDir string
	Name   string // lower case
}

// New returns the instance name in runDir.
func New(runDir, name string) Instance {
	return Instance{RunDir: runDir, Name: strings.ToLower(name)}
}

func (i Instance) path(ext string) string { return filepath.Join(i.RunDir, i.Name+ext) }

// SocketPath is where the running instance listens.
func (i Instance) SocketPath() string { return i.path(".sock") }

// Conf is an instance's registration.
type Conf struct {
	DataDir   string `json:"dataDir"`
	MergeFile string `json:"mergeFile,omitempty"`
}

// Register records the instance's data directory and merge file (what
// `iris start` will use).
func (i Instance) Register(c Conf) error {
	if c.DataDir == "" {
		return fmt.Errorf("instance %s: no data directory (set ISC_DATA_DIRECTORY)", i.Name)
	}
	if err := os.MkdirAll(i.RunDir, 0o755); err != nil {
		return fmt.Errorf("instance %s: create run directory: %w", i.Name, err)
	}
	return writeJSON(i.path(".conf"), c)
}

// Conf reads the registration.
func (i Instance) Conf() (Conf, error) {
	var c Conf
	b, err := os.ReadFile(i.path(".conf"))
	if errors.Is(err, os.ErrNotExist) {
		return c, fmt.Errorf("instance '%s' not found in %s (known: %s)", i.Name, i.RunDir, strings.Join(Names(i.RunDir), ", "))
	}
	if err != nil {
		return c, err
	}
	return c, json.Unmarshal(b, &c)
}

// Names lists the registered instances of runDir.
func Names(runDir string) []string {
	m, _ := filepath.Glob(filepath.Join(runDir, "*.conf"))
	var names []string
	for _, p := range m {
		names = append(names, strings.TrimSuffix(filepath.Base(p), ".conf"))
	}
	return names
}

// State is what the daemon says about itself in NAME.state.
type State struct {
	Status   string    `json:"status"` // starting, running, stopping, down
	Detail   string    `json:"detail,omitempty"`
	PID      int       `json:"pid"`
	Since    time.Time `json:"since"`
	LastUsed time.Time `json:"lastUsed"`
	DataDir  string    `json:"dataDir"`
}

func (i Instance) writeState(s State) error { return writeJSON(i.path(".state"), s) }

// State returns the instance's state, with a daemon that died without
// saying so (killed, crashed) reported as down.
func (i Instance) State() State {
	var s State
	b, err := os.ReadFile(i.path(".state"))
	if err != nil || json.Unmarshal(b, &s) != nil {
		s = State{Status: "down"}
		if fi, err := os.Stat(i.path(".conf")); err == nil {
			s.LastUsed = fi.ModTime()
		}
		return s
	}
	if s.Status != "down" && !alive(s.PID) {
		s.Status, s.Detail = "down", ""
		if fi, err := os.Stat(i.path(".state")); err == nil {
			s.LastUsed = fi.ModTime()
		}
	}
	return s
}

// alive reports whether pid is a live (not zombie) process.
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return syscall.Kill(pid, 0) == nil
	}
	// The state follows the parenthesized command name.
	s := string(b)
	if j := strings.LastIndexByte(s, ')'); j >= 0 && j+2 < len(s) {
		return s[j+2] != 'Z' && s[j+2] != 'X'
	}
	return true
}

// StrictEnv names the environment variable that puts the stand-in in strict
// mode ("1"): it then behaves as InterSystems IRIS is documented to where the
// default stand-in is lenient: sessions echo a failing line before the error
// (source, caret, error) and show "TL1:" prompts, qlist prints the CPF file's
// name only and an empty state field when the instance is down, and
// LicenseUnitsEnv limits concurrent sessions.
const StrictEnv = "IRISCHAOS_STANDIN_STRICT"

// LicenseUnitsEnv is the number of license units (concurrent sessions) in
// strict mode; unset or 0 is unlimited. A session beyond it gets
// "<LICENSE LIMIT EXCEEDED>" and exit status 1; a unit is released about a
// second after its session ends, as IRIS's.
const LicenseUnitsEnv = "IRISCHAOS_STANDIN_LICENSE_UNITS"

// PasswordLoginEnv, "1" in strict mode, makes the terminal service want a
// password, as IRIS's does when OS authentication is off for it: a session
// prints the banner and "Username: " (no line end) and reads a line, then
// "Password: " and another, then denies access and ends with exit status 1
// (the stand-in has no users). The license unit is taken first, as IRIS
// takes it for the process before the login.
const PasswordLoginEnv = "IRISCHAOS_STANDIN_PASSWORD_LOGIN"

// Strict reports whether strict mode is on (see StrictEnv).
func Strict() bool { return os.Getenv(StrictEnv) == "1" }

// qlistTime is the time format of qlist's status field.
const qlistTime = "Mon Jan _2 15:04:05 2006"

// Qlist returns the instance's `iris qlist` line: IRIS's ^-separated fields
// (1 name, 2 install dir, 3 version, 4 status, 5 cpf, 6 superserver port,
// 7 web port, 8 JDBC port, 9 state, 10 product, 11-12 mirror, 13 data dir).
// Fields 3 and 10 name the stand-in.
func (i Instance) Qlist() (string, error) {
	c, err := i.Conf()
	if err != nil {
		return "", err
	}
	s := i.State()
	var status string
	switch s.Status {
	case "running":
		status = "running, since " + s.Since.Local().Format(qlistTime)
	case "down":
		status = "down, last used " + s.LastUsed.Local().Format(qlistTime)
	default:
		status = s.Status
		if s.Detail != "" {
			status += ", " + s.Detail
		}
	}
	cpf, state := filepath.Join(c.DataDir, "iris.cpf"), "ok"
	if Strict() {
		// IRIS prints the CPF's file name only, and no state when down.
		cpf = "iris.cpf"
		if s.Status == "down" {
			state = ""
		}
	}
	fields := []string{
		strings.ToUpper(i.Name), InstallDir, standin.Version + " (" + standin.Product + ")", status,
		cpf, "1972", "52773", "1972", state, standin.Product, "", "",
		c.DataDir,
	}
	return strings.Join(fields, "^"), nil
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := path + ".tmp" + strconv.Itoa(os.Getpid())
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
