package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/irischaos/irischaos/pkg/fault"
	"github.com/irischaos/irischaos/pkg/mitigation"
)

// Error is a problem in a scenario file, at a line (0 when not known).
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Load reads one scenario file, or every *.yaml and *.yml file of a
// directory in name order. Names must be unique across what is loaded.
func Load(path string) ([]Scenario, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load scenarios: %w", err)
	}
	files := []string{path}
	if st.IsDir() {
		files = nil
		ents, err := os.ReadDir(path)
		if err != nil {
			return nil, fmt.Errorf("load scenarios: %w", err)
		}
		for _, e := range ents {
			ext := filepath.Ext(e.Name())
			if !e.IsDir() && (ext == ".yaml" || ext == ".yml") {
				files = append(files, filepath.Join(path, e.Name()))
			}
		}
		sort.Strings(files)
		if len(files) == 0 {
			return nil, fmt.Errorf("load scenarios: no *.yaml files in %s", path)
		}
	}
	var out []Scenario
	var errs []error
	byName := map[string]string{}
	for _, f := range files {
		s, err := LoadFile(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, s := range s.Expand() {
			if prev, dup := byName[s.Name]; dup {
				errs = append(errs, &Error{File: f, Msg: fmt.Sprintf("scenario name %q is already used by %s", s.Name, prev)})
				continue
			}
			byName[s.Name] = f
			out = append(out, s)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// LoadFile reads and validates one scenario file.
func LoadFile(path string) (Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Scenario{}, fmt.Errorf("load scenario: %w", err)
	}
	return Parse(path, b)
}

// Parse decodes and validates one scenario; file names it in errors and
// gives the default name. All problems found are returned, joined.
func Parse(file string, data []byte) (Scenario, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return Scenario{}, yamlError(file, err)
	}
	if root.Kind == 0 || len(root.Content) == 0 || root.Content[0].Kind == yaml.ScalarNode && root.Content[0].Tag == "!!null" {
		return Scenario{}, &Error{File: file, Msg: "empty scenario: it needs at least fault.type and budgets.rto"}
	}
	if root.Content[0].Kind != yaml.MappingNode {
		return Scenario{}, &Error{File: file, Line: root.Content[0].Line, Msg: "a scenario is a mapping of fields (name, fault, budgets, ...)"}
	}

	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var s Scenario
	if err := dec.Decode(&s); err != nil {
		return Scenario{}, yamlError(file, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		return Scenario{}, &Error{File: file, Line: extra.Line, Msg: "more than one YAML document: write one scenario per file"}
	}
	s.File = file
	v := &validator{file: file, root: root.Content[0]}
	v.validate(&s)
	if err := errors.Join(v.errs...); err != nil {
		return Scenario{}, err
	}
	return s, nil
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

type validator struct {
	file string
	root *yaml.Node
	errs []error
}

// errf records a problem at the line of the YAML path (or its nearest
// present ancestor).
func (v *validator) errf(path string, format string, args ...any) {
	v.errs = append(v.errs, &Error{File: v.file, Line: v.line(path), Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) line(path string) int {
	n := v.root
	line := n.Line
	if path == "" {
		return line
	}
	for _, key := range strings.Split(path, ".") {
		if n.Kind != yaml.MappingNode {
			return line
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				line = n.Content[i].Line
				next = n.Content[i+1]
			}
		}
		if next == nil {
			return line
		}
		n = next
	}
	return line
}

func (v *validator) has(path string) bool {
	n := v.root
	for _, key := range strings.Split(path, ".") {
		var next *yaml.Node
		for i := 0; n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
			}
		}
		if next == nil {
			return false
		}
		n = next
	}
	return true
}

func (v *validator) validate(s *Scenario) {
	if s.Name == "" {
		base := filepath.Base(v.file)
		s.Name = strings.TrimSuffix(base, filepath.Ext(base))
	}
	if !nameRE.MatchString(s.Name) || len(s.Name) > 63 {
		v.errf("name", "name %q: use lower-case letters, digits and dashes (at most 63), it names the run's directories", s.Name)
	}

	f := &s.Fault
	switch {
	case f.Type == "":
		v.errf("fault", "fault.type is required (one of %s)", faultList())
	case !knownFault(f.Type):
		v.errf("fault.type", "unknown fault type %q (known: %s)", f.Type, faultList())
	}
	if f.GracePeriod != nil {
		switch {
		case f.Type != fault.PodDelete:
			v.errf("fault.gracePeriod", "fault.gracePeriod applies to pod-delete only, not %s", f.Type)
		case f.GracePeriod.D() < 0:
			v.errf("fault.gracePeriod", "fault.gracePeriod %s is negative", f.GracePeriod)
		case f.GracePeriod.D()%time.Second != 0:
			v.errf("fault.gracePeriod", "fault.gracePeriod %s: Kubernetes takes whole seconds", f.GracePeriod)
		}
	}
	if f.DrainTimeout != nil {
		switch {
		case f.Type != fault.NodeDrain:
			v.errf("fault.drainTimeout", "fault.drainTimeout applies to node-drain only, not %s", f.Type)
		case f.DrainTimeout.D() <= 0:
			v.errf("fault.drainTimeout", "fault.drainTimeout must be positive, got %s", f.DrainTimeout)
		}
	}
	if f.PowerOn != nil && f.Type != fault.VMPowerOff {
		v.errf("fault.powerOn", "fault.powerOn applies to vm-poweroff only, not %s", f.Type)
	}
	if s.Targets.Node != "" && knownFault(f.Type) && !f.Type.Info().Kind.OnNode() {
		v.errf("targets.node", "targets.node applies to node faults (node-drain, vm-*, node-partition), not %s: it always hits the IRIS pod", f.Type)
	}
	if s.Targets.Zone != "" && f.Type != fault.ZoneOutage {
		v.errf("targets.zone", "targets.zone applies to zone-outage only, not %s", f.Type)
	}
	if v.has("fault.method") {
		if f.Type != fault.ZoneOutage {
			v.errf("fault.method", "fault.method applies to zone-outage only, not %s", f.Type)
		} else if _, err := fault.ParseZoneMethod(string(f.Method)); err != nil {
			v.errf("fault.method", "fault.method: %v", err)
		}
	}
	partOpts := []string{"fault.direction", "fault.peers", "fault.storage", "fault.duration", "fault.via"}
	if f.partitions() {
		if err := f.Partition().Validate(); err != nil {
			v.errf(firstPresent(v, partOpts, "fault"), "%v", err)
		}
		switch f.Via {
		case "", "auto", "agent", "provider":
		default:
			v.errf("fault.via", "fault.via %q: auto, agent or provider", f.Via)
		}
		if f.Duration != nil && f.Duration.D() <= 0 {
			v.errf("fault.duration", "fault.duration must be positive, got %s", f.Duration)
		}
	} else if knownFault(f.Type) {
		for _, o := range partOpts {
			if v.has(o) {
				v.errf(o, "%s applies to node-partition and zone-outage by partition only, not %s", o, f.Type)
			}
		}
	}

	if s.FailureDomain == "" && knownFault(f.Type) {
		s.FailureDomain = f.Type.Info().Domain
	}
	if s.FailureDomain != "" && !contains(Domains, s.FailureDomain) {
		v.errf("failureDomain", "unknown failure domain %q (known: %q)", s.FailureDomain, Domains)
	}
	if s.MitigatedBy == "" {
		s.MitigatedBy = MitigatedBy[s.FailureDomain]
	}

	if s.Budgets.RTO == nil {
		v.errf("budgets", "budgets.rto is required: the longest recovery this failure domain may take, e.g. rto: 60s")
	} else if s.Budgets.RTO.D() <= 0 {
		v.errf("budgets.rto", "budgets.rto must be positive, got %s", s.Budgets.RTO)
	}
	if s.Budgets.RPO == nil {
		d := Duration(DefaultRPO)
		s.Budgets.RPO = &d
	} else if s.Budgets.RPO.D() < 0 {
		v.errf("budgets.rpo", "budgets.rpo must not be negative, got %s", s.Budgets.RPO)
	}

	switch {
	case !v.has("iterations"):
		s.Iterations = DefaultIterations
	case s.Iterations < 1 || s.Iterations > MaxIterations:
		v.errf("iterations", "iterations must be between 1 and %d, got %d", MaxIterations, s.Iterations)
	}
	s.Warmup = def(s.Warmup, DefaultWarmup)
	if s.Warmup.D() < 0 {
		v.errf("warmup", "warmup must not be negative, got %s", s.Warmup)
	}
	o := &s.Observation
	if o.MaxRecovery == nil && s.Budgets.RTO != nil {
		// Never stop waiting before the budget is spent: twice the budget at least.
		o.MaxRecovery = def(nil, max(DefaultMaxRecovery, 2*s.Budgets.RTO.D()))
	}
	o.MaxRecovery = def(o.MaxRecovery, DefaultMaxRecovery)
	o.AfterRecovery = def(o.AfterRecovery, DefaultAfterRecovery)
	switch {
	case o.MaxRecovery.D() <= 0:
		v.errf("observation.maxRecovery", "observation.maxRecovery must be positive, got %s", o.MaxRecovery)
	case s.Budgets.RTO != nil && o.MaxRecovery.D() < s.Budgets.RTO.D():
		v.errf("observation.maxRecovery", "observation.maxRecovery %s is shorter than budgets.rto %s: the run would stop waiting before the budget is spent", o.MaxRecovery, s.Budgets.RTO)
	}
	if o.AfterRecovery.D() < 0 {
		v.errf("observation.afterRecovery", "observation.afterRecovery must not be negative, got %s", o.AfterRecovery)
	}
	v.validateMitigations(s)
	w := &s.Workload
	w.Interval = def(w.Interval, DefaultInterval)
	if w.Interval.D() < time.Millisecond {
		v.errf("workload.interval", "workload.interval must be at least 1ms, got %s", w.Interval)
	}
	switch {
	case !v.has("workload.streams"):
		w.Streams = DefaultStreams
	case w.Streams < 1 || w.Streams > MaxStreams:
		v.errf("workload.streams", "workload.streams must be between 1 and %d, got %d", MaxStreams, w.Streams)
	}
}

func (v *validator) validateMitigations(s *Scenario) {
	v.validateExpect("expect", s.Expect)
	seen := map[mitigation.Name]bool{}
	for i, m := range s.Mitigations {
		path := "mitigations"
		info, err := mitigation.Lookup(m.Name)
		switch {
		case m.Name == "":
			v.errf(path, "mitigations[%d]: name is required (one of %s)", i, strings.Join(mitigation.Names(), ", "))
			continue
		case err != nil:
			v.errf(path, "mitigations[%d]: %v", i, err)
			continue
		case seen[m.Name]:
			v.errf(path, "mitigations[%d]: %s is listed twice", i, m.Name)
		}
		seen[m.Name] = true
		if info.When == mitigation.NodeIsDown && s.Fault.Type.Info().Kind != fault.KindVM {
			v.errf(path, "mitigations[%d]: %s acts on a node whose VM is off: it needs a vm-* fault, not %s", i, m.Name, s.Fault.Type)
		}
		if m.Name != mitigation.None && len(s.Name)+1+len(m.Name) > 63 {
			v.errf("name", "name %q with mitigation %s is longer than 63 characters", s.Name, m.Name)
		}
		v.validateExpect(path, m.Expect)
	}
	if s.Expect != nil && len(s.Mitigations) > 0 {
		v.errf("expect", "expect: with mitigations: goes into each mitigations entry, whose outcomes differ")
	}
}

func (v *validator) validateExpect(path string, e *Expect) {
	if e == nil {
		return
	}
	if e.Verdict != ExpectFail {
		v.errf(path, "expect.verdict %q: only %q can be expected (a pass needs no expectation)", e.Verdict, ExpectFail)
	}
	if strings.TrimSpace(e.Why) == "" {
		v.errf(path, "expect.why is required: say what the known finding is, the report shows it")
	}
}

func def(d *Duration, v time.Duration) *Duration {
	if d != nil {
		return d
	}
	x := Duration(v)
	return &x
}

// UnmarshalYAML parses a duration string, naming the line on error.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: a duration is a string such as 30s, not a %s", n.Line, kindName(n.Kind))}}
	}
	x, err := parseDuration(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*d = x
	return nil
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	}
	return "YAML node"
}

var (
	lineRE    = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	unknownRE = regexp.MustCompile(`^field (\S+) not found in type scenario\.(\w+)$`)
	intoRE    = regexp.MustCompile(`into scenario\.\w+`)
)

// yamlError turns the YAML library's errors into file:line messages, and
// "field x not found in type scenario.Fault" into an unknown-field message
// that lists the fields that exist there.
func yamlError(file string, err error) error {
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	var errs []error
	for _, m := range msgs {
		e := &Error{File: file, Msg: strings.TrimPrefix(m, "yaml: ")}
		if sm := lineRE.FindStringSubmatch(m); sm != nil {
			e.Line, _ = strconv.Atoi(sm[1])
			e.Msg = sm[2]
		}
		if sm := unknownRE.FindStringSubmatch(e.Msg); sm != nil {
			section, known := fieldsOf(sm[2])
			e.Msg = fmt.Sprintf("unknown field %q%s (known: %s)", sm[1], section, strings.Join(known, ", "))
		}
		e.Msg = intoRE.ReplaceAllStringFunc(e.Msg, func(m string) string {
			section, known := fieldsOf(strings.TrimPrefix(m, "into scenario."))
			if section == "" {
				section = " a scenario"
			}
			return fmt.Sprintf("into%s (a mapping of %s)", strings.Replace(section, " in ", " ", 1), strings.Join(known, ", "))
		})
		// One error per line: a quoted multi-line value must not break that.
		e.Msg = strings.ReplaceAll(e.Msg, "\n", `\n`)
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

// fieldsOf names the YAML section of a schema type and its fields.
func fieldsOf(typeName string) (section string, fields []string) {
	types := map[string]struct {
		section string
		t       reflect.Type
	}{
		"Scenario":      {"", reflect.TypeFor[Scenario]()},
		"Fault":         {" in fault", reflect.TypeFor[Fault]()},
		"Targets":       {" in targets", reflect.TypeFor[Targets]()},
		"Budgets":       {" in budgets", reflect.TypeFor[Budgets]()},
		"Observation":   {" in observation", reflect.TypeFor[Observation]()},
		"Workload":      {" in workload", reflect.TypeFor[Workload]()},
		"MitigationRun": {" in a mitigations entry", reflect.TypeFor[MitigationRun]()},
		"Expect":        {" in expect", reflect.TypeFor[Expect]()},
	}
	t, ok := types[typeName]
	if !ok {
		return "", nil
	}
	for i := range t.t.NumField() {
		if tag := t.t.Field(i).Tag.Get("yaml"); tag != "" && tag != "-" {
			fields = append(fields, tag)
		}
	}
	return t.section, fields
}

// firstPresent is the first of paths the file has, else def: where to
// point an error about several fields.
func firstPresent(v *validator, paths []string, def string) string {
	for _, p := range paths {
		if v.has(p) {
			return p
		}
	}
	return def
}

func knownFault(t FaultType) bool { return t.Info().Domain != "" }

func faultList() string { return fault.List(fault.Scenario()) }

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
