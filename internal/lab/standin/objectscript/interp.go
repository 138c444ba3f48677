// Package objectscript is the stand-in's ObjectScript: a lexer/parser for one
// command line and an interpreter over the engine's globals, covering what
// the harness and the seed scripts send (set, write, zwrite, kill, for, if,
// quit, halt, hang, transactions, $increment, $data, $order, $get, $h, $zts,
// $zdatetime, $zv, $system.INetInfo.LocalHostName() and a few string
// functions). Anything else is a <SYNTAX> error and the session goes on.
package objectscript

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/irischaos/irischaos/internal/lab/standin"
	"github.com/irischaos/irischaos/internal/lab/standin/engine"
)

// ErrHalt is returned by Exec when the line executed HALT.
var ErrHalt = errors.New("halt")

// Error is an ObjectScript runtime or syntax error, printed as IRIS does:
// "<UNDEFINED> *x".
type Error struct {
	Code   string // UNDEFINED, SYNTAX, SUBSCRIPT, ...
	Detail string
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return "<" + e.Code + ">"
	}
	return "<" + e.Code + "> " + e.Detail
}

func rtErr(code, detail string) *Error { return &Error{Code: code, Detail: detail} }

// Version is $ZVERSION: it names the stand-in so no report mistakes it for
// InterSystems IRIS.
var Version = "IRIS for UNIX (" + standin.Product + ") " + standin.Version + " (Build standin)"

// MaxString is IRIS's longest string (3,641,144 characters).
const MaxString = 3641144

// Interp runs lines for one process (one session): it owns the local
// variables, the transaction state and the output column.
type Interp struct {
	db        *engine.DB
	sess      *engine.Session
	locals    *engine.DB
	lsess     *engine.Session
	out       *bufio.Writer
	x         int // $X: output column
	namespace string
	// Hostname is $system.INetInfo.LocalHostName().
	Hostname string
	// License answers $system.License.LUAvailable() and LUConsumed(): the
	// license units free and held now. nil: those methods do not exist.
	License func() (available, consumed int)
	// Now is the clock ($h, $zts); time.Now by default.
	Now func() time.Time
	// Job is $JOB.
	Job int
	// Strict makes the terminal print errors as IRIS does: the whole
	// offending source line, a caret line under the failing command, then
	// the error (see Run).
	Strict bool
	// zerror is $ZERROR: the last error.
	zerror string
	// errCol is the column of the command that raised the last error.
	errCol int
	// ExitCode is the exit status the process asked for: set by
	// %SYSTEM.Process.Terminate(,n) and by Backup.General's freeze and
	// thaw (5 done, 3 failed), -1 when none.
	ExitCode int

	// shapes is the parse cache (see cache.go); nil disables it.
	shapes map[string]*cachedLine
	keyBuf []byte
	valBuf []string
	colBuf []int
}

// New returns an interpreter on db writing to out, in namespace ns.
func New(db *engine.DB, ns string, out *bufio.Writer) *Interp {
	host, _ := os.Hostname()
	locals := engine.Memory()
	return &Interp{
		db: db, sess: db.NewSession(), locals: locals, lsess: locals.NewSession(),
		out: out, namespace: strings.ToUpper(ns), Hostname: host, Now: time.Now, Job: os.Getpid(), ExitCode: -1,
		shapes: map[string]*cachedLine{},
	}
}

// Namespace returns $NAMESPACE.
func (in *Interp) Namespace() string { return in.namespace }

// X returns $X, the output column.
func (in *Interp) X() int { return in.x }

// Close ends the process: a transaction left open is rolled back, as HALT.
func (in *Interp) Close() error { return in.sess.Close() }

// Exec parses and runs one line. Output goes to the writer given to New.
// It returns ErrHalt after HALT, *Error for syntax and runtime errors (the
// caller prints them and goes on), and ctx's error when cancelled.
func (in *Interp) Exec(ctx context.Context, line string) error {
	in.errCol = 0
	cmds, err := in.parse(line)
	if err != nil {
		var se *SyntaxError
		if errors.As(err, &se) {
			in.errCol = se.Col
		}
		in.zerror = "<SYNTAX>"
		return &Error{Code: "SYNTAX"}
	}
	_, err = in.run(ctx, cmds)
	var oe *Error
	if errors.As(err, &oe) {
		in.zerror = oe.Error()
	}
	return err
}

// flow says how a command sequence ended.
type flow int

const (
	next flow = iota
	quitFlow
	haltFlow
)

func (in *Interp) run(ctx context.Context, cmds []command) (flow, error) {
	for i := range cmds {
		c := &cmds[i]
		if c.post != nil {
			v, err := in.eval(c.post)
			if err != nil {
				return next, err
			}
			if !truth(v) {
				continue
			}
		}
		switch c.name {
		case "for":
			return in.forCmd(ctx, c, cmds[i+1:])
		case "if":
			for _, a := range c.args {
				v, err := in.eval(a)
				if err != nil {
					return next, err
				}
				if !truth(v) {
					return next, nil
				}
			}
			if len(c.args) == 0 {
				return next, &Error{Code: "SYNTAX"}
			}
		case "quit":
			return quitFlow, nil
		case "halt":
			return haltFlow, ErrHalt
		case "try":
			// QUIT in the TRY block leaves the block; an ObjectScript
			// error runs the CATCH block with $ZERROR set. HALT and
			// cancellation are not errors and pass through.
			a := c.args[0].(tryArg)
			_, err := in.run(ctx, a.body)
			var oe *Error
			if errors.As(err, &oe) {
				in.zerror = oe.Error()
				f, err := in.run(ctx, a.handler)
				if err != nil || f == haltFlow {
					return f, err
				}
			} else if err != nil {
				return next, err
			}
		default:
			if err := in.exec(ctx, c); err != nil {
				var oe *Error
				if errors.As(err, &oe) && in.errCol == 0 {
					in.errCol = c.col
				}
				return next, err
			}
		}
	}
	return next, nil
}

func (in *Interp) forCmd(ctx context.Context, c *command, body []command) (flow, error) {
	iter := func() (bool, error) {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		f, err := in.run(ctx, body)
		if f == haltFlow || err != nil {
			return false, err
		}
		return f != quitFlow, nil
	}
	if len(c.args) == 0 {
		for {
			if more, err := iter(); !more || err != nil {
				return next, err
			}
		}
	}
	for _, a := range c.args {
		fa := a.(forArg)
		if fa.inc == nil {
			for _, e := range fa.list {
				v, err := in.eval(e)
				if err != nil {
					return next, err
				}
				if err := in.assign(fa.v, v); err != nil {
					return next, err
				}
				if more, err := iter(); !more || err != nil {
					return next, err
				}
			}
			continue
		}
		start, err := in.eval(fa.start)
		if err != nil {
			return next, err
		}
		incS, err := in.eval(fa.inc)
		if err != nil {
			return next, err
		}
		inc := num(incS)
		var stop float64
		bounded := fa.stop != nil
		if bounded {
			s, err := in.eval(fa.stop)
			if err != nil {
				return next, err
			}
			stop = num(s)
		}
		for v := num(start); !bounded || (inc >= 0 && v <= stop) || (inc < 0 && v >= stop); v += inc {
			if err := in.assign(fa.v, canon(v)); err != nil {
				return next, err
			}
			if more, err := iter(); !more || err != nil {
				return next, err
			}
		}
	}
	return next, nil
}

func (in *Interp) exec(ctx context.Context, c *command) error {
	switch c.name {
	case "set":
		for _, a := range c.args {
			sa := a.(setArg)
			v, err := in.eval(sa.value)
			if err != nil {
				return err
			}
			for _, t := range sa.targets {
				if err := in.assign(t, v); err != nil {
					return err
				}
			}
		}
	case "write":
		for _, a := range c.args {
			if err := in.write(a.(writeArg)); err != nil {
				return err
			}
		}
	case "zwrite":
		if len(c.args) == 0 {
			in.zwriteAll()
		}
		for _, a := range c.args {
			if err := in.zwrite(a.(*ref)); err != nil {
				return err
			}
		}
	case "kill":
		if len(c.args) == 0 {
			in.locals = engine.Memory()
			in.lsess = in.locals.NewSession()
		}
		for _, a := range c.args {
			_, sess, name, subs, err := in.resolve(a.(*ref))
			if err != nil {
				return err
			}
			if err := dbErr(sess.Kill(name, subs)); err != nil {
				return err
			}
		}
	case "hang":
		for _, a := range c.args {
			v, err := in.eval(a.(expr))
			if err != nil {
				return err
			}
			if d := num(v); d > 0 {
				in.out.Flush()
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(time.Duration(d * float64(time.Second))):
				}
			}
		}
	case "tstart":
		return dbErr(in.sess.TStart())
	case "tcommit":
		if err := in.sess.TCommit(); errors.Is(err, engine.ErrNotInTxn) {
			return rtErr("COMMAND", "")
		} else {
			return dbErr(err)
		}
	case "trollback":
		if err := in.sess.TRollback(); errors.Is(err, engine.ErrNotInTxn) {
			// IRIS: TROLLBACK outside a transaction is a no-op.
			return nil
		} else {
			return dbErr(err)
		}
	case "do":
		for _, a := range c.args {
			if _, err := in.eval(a.(expr)); err != nil {
				return err
			}
		}
	case "znspace":
		if len(c.args) != 1 {
			return &Error{Code: "SYNTAX"}
		}
		v, err := in.eval(c.args[0].(expr))
		if err != nil {
			return err
		}
		ns := strings.ToUpper(v)
		if !ValidNamespace(ns) {
			return rtErr("NAMESPACE", v)
		}
		in.namespace = ns
	default:
		return &Error{Code: "SYNTAX"}
	}
	return nil
}

// ValidNamespace reports whether the stand-in has namespace ns.
func ValidNamespace(ns string) bool {
	switch strings.ToUpper(ns) {
	case "USER", "%SYS":
		return true
	}
	return false
}

// dbErr maps an engine failure to the error IRIS would raise.
func dbErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, engine.ErrJournal):
		return rtErr("FILEFULL", err.Error())
	case errors.Is(err, engine.ErrClosed):
		return rtErr("TERMINATE", "")
	}
	return rtErr("DISKHARD", err.Error())
}

func (in *Interp) emit(s string) {
	in.out.WriteString(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		in.x = len(s) - i - 1
	} else {
		in.x += len(s)
	}
}

// Emit writes s to the output, keeping $X (used for prompts).
func (in *Interp) Emit(s string) { in.emit(s) }

func (in *Interp) write(a writeArg) error {
	switch {
	case a.format != "":
		for _, c := range a.format {
			if c == '!' {
				in.emit("\n")
			} else {
				in.emit("\f")
				in.x = 0
			}
		}
	case a.tab != nil:
		v, err := in.eval(a.tab)
		if err != nil {
			return err
		}
		if col := int(num(v)); col > in.x && col < 1<<16 {
			in.emit(strings.Repeat(" ", col-in.x))
		}
	default:
		v, err := in.eval(a.e)
		if err != nil {
			return err
		}
		in.emit(v)
	}
	return nil
}

// globalKey is the engine's name of global r: namespace-qualified. The
// reference keeps it, since the parse cache runs one tree many times.
func (in *Interp) globalKey(r *ref) string {
	if r.keyNS != in.namespace {
		r.key, r.keyNS = in.namespace+"^"+r.name, in.namespace
	}
	return r.key
}

// resolve evaluates a reference's subscripts and picks its store.
func (in *Interp) resolve(r *ref) (*engine.DB, *engine.Session, string, []string, error) {
	var subs []string
	if len(r.subs) > 0 {
		subs = make([]string, len(r.subs))
		for i, e := range r.subs {
			v, err := in.eval(e)
			if err != nil {
				return nil, nil, "", nil, err
			}
			if v == "" {
				return nil, nil, "", nil, rtErr("SUBSCRIPT", refName(r, append(subs[:i:i], "")))
			}
			subs[i] = v // "01" stays a string subscript, "1" is the number 1, as IRIS
		}
	}
	if r.global {
		return in.db, in.sess, in.globalKey(r), subs, nil
	}
	return in.locals, in.lsess, r.name, subs, nil
}

func (in *Interp) assign(r *ref, v string) error {
	_, sess, name, subs, err := in.resolve(r)
	if err != nil {
		return err
	}
	return dbErr(sess.Set(name, subs, v))
}

// refName prints a reference as IRIS error messages and ZWRITE do.
func refName(r *ref, subs []string) string {
	var b strings.Builder
	if r.global {
		b.WriteByte('^')
	}
	b.WriteString(r.name)
	if len(subs) > 0 {
		b.WriteByte('(')
		for i, s := range subs {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(Quote(s))
		}
		b.WriteByte(')')
	}
	return b.String()
}

func (in *Interp) get(r *ref) (string, bool, error) {
	store, _, name, subs, err := in.resolve(r)
	if err != nil {
		return "", false, err
	}
	v, ok := store.Get(name, subs)
	return v, ok, nil
}

func (in *Interp) eval(e expr) (string, error) {
	switch e := e.(type) {
	case *strLit:
		return e.v, nil
	case *ref:
		v, ok, err := in.get(e)
		if err != nil {
			return "", err
		}
		if !ok {
			_, _, _, subs, _ := in.resolve(e)
			return "", rtErr("UNDEFINED", "*"+refName(e, subs))
		}
		return v, nil
	case *unaryExpr:
		v, err := in.eval(e.x)
		if err != nil {
			return "", err
		}
		switch e.op {
		case '-':
			return canon(-num(v)), nil
		case '+':
			return canonStr(v), nil
		default:
			return boolStr(!truth(v)), nil
		}
	case *binExpr:
		return in.binary(e)
	case *call:
		return in.function(e)
	case *special:
		return in.specialVar(e.name)
	case *classCall:
		return in.classMethod(e)
	}
	return "", &Error{Code: "SYNTAX"}
}

func (in *Interp) binary(e *binExpr) (string, error) {
	l, err := in.eval(e.l)
	if err != nil {
		return "", err
	}
	// Short-circuit forms.
	switch e.op {
	case "&&":
		if !truth(l) {
			return "0", nil
		}
	case "||":
		if truth(l) {
			return "1", nil
		}
	}
	r, err := in.eval(e.r)
	if err != nil {
		return "", err
	}
	op := e.op
	negate := false
	if len(op) > 1 && op[0] == '\'' {
		negate, op = true, op[1:]
	}
	var res string
	switch op {
	case "_":
		if len(l)+len(r) > MaxString {
			return "", rtErr("MAXSTRING", "")
		}
		return l + r, nil
	case "+":
		return canon(num(l) + num(r)), nil
	case "-":
		return canon(num(l) - num(r)), nil
	case "*":
		return canon(num(l) * num(r)), nil
	case "**":
		return canon(math.Pow(num(l), num(r))), nil
	case "/", "\\", "#":
		d := num(r)
		if d == 0 {
			return "", rtErr("DIVIDE", "")
		}
		n := num(l)
		switch op {
		case "/":
			return canon(n / d), nil
		case "\\":
			return canon(math.Trunc(n / d)), nil
		}
		m := math.Mod(n, d)
		if m != 0 && (m < 0) != (d < 0) {
			m += d
		}
		return canon(m), nil
	case "=":
		res = boolStr(l == r)
	case "<":
		res = boolStr(num(l) < num(r))
	case ">":
		res = boolStr(num(l) > num(r))
	case "<=":
		res = boolStr(num(l) <= num(r))
	case ">=":
		res = boolStr(num(l) >= num(r))
	case "[":
		res = boolStr(strings.Contains(l, r))
	case "]":
		res = boolStr(l > r)
	case "]]":
		res = boolStr(engine.Compare(l, r) > 0)
	case "&", "&&":
		res = boolStr(truth(l) && truth(r))
	case "!", "||":
		res = boolStr(truth(l) || truth(r))
	default:
		return "", &Error{Code: "SYNTAX"}
	}
	if negate {
		res = boolStr(res == "0")
	}
	return res, nil
}

func (in *Interp) args(c *call) ([]string, error) {
	vals := make([]string, len(c.args))
	for i, a := range c.args {
		v, err := in.eval(a)
		if err != nil {
			return nil, err
		}
		vals[i] = v
	}
	return vals, nil
}

func (in *Interp) function(c *call) (string, error) {
	switch c.name {
	case "increment":
		by := 1.0
		if len(c.args) == 2 {
			v, err := in.eval(c.args[1])
			if err != nil {
				return "", err
			}
			by = num(v)
		}
		_, sess, name, subs, err := in.resolve(c.args[0].(*ref))
		if err != nil {
			return "", err
		}
		v, err := sess.Update(name, subs, func(old string, _ bool) (string, error) {
			return canon(num(old) + by), nil
		})
		return v, dbErr(err)
	case "data":
		store, _, name, subs, err := in.resolve(c.args[0].(*ref))
		if err != nil {
			return "", err
		}
		return strconv.Itoa(store.Data(name, subs)), nil
	case "order":
		dir := 1
		if len(c.args) == 2 {
			v, err := in.eval(c.args[1])
			if err != nil {
				return "", err
			}
			if dir = int(num(v)); dir != 1 && dir != -1 {
				return "", rtErr("FUNCTION", "")
			}
		}
		r := c.args[0].(*ref)
		if len(r.subs) == 0 {
			return "", rtErr("FUNCTION", "")
		}
		var subs []string
		for i, e := range r.subs {
			v, err := in.eval(e)
			if err != nil {
				return "", err
			}
			if v == "" && i < len(r.subs)-1 {
				return "", rtErr("SUBSCRIPT", "")
			}
			subs = append(subs, v)
		}
		name, store := r.name, in.locals
		if r.global {
			name, store = in.globalKey(r), in.db
		}
		return store.Order(name, subs, dir), nil
	case "get":
		v, ok, err := in.get(c.args[0].(*ref))
		if err != nil || ok {
			return v, err
		}
		if len(c.args) == 2 {
			return in.eval(c.args[1])
		}
		return "", nil
	case "select":
		for i := 0; i+1 < len(c.args); i += 2 {
			v, err := in.eval(c.args[i])
			if err != nil {
				return "", err
			}
			if truth(v) {
				return in.eval(c.args[i+1])
			}
		}
		return "", rtErr("SELECT", "")
	}
	a, err := in.args(c)
	if err != nil {
		return "", err
	}
	return stringFunction(c.name, a, in.Now)
}

func (in *Interp) specialVar(name string) (string, error) {
	switch name {
	case "horolog":
		return Horolog(in.Now()), nil
	case "ztimestamp":
		return ZTimestamp(in.Now()), nil
	case "zhorolog":
		return canon(float64(in.Now().UnixNano()%(1<<40)) / 1e9), nil
	case "zversion":
		return Version, nil
	case "job":
		return strconv.Itoa(in.Job), nil
	case "tlevel":
		return strconv.Itoa(in.sess.TLevel()), nil
	case "namespace":
		return in.namespace, nil
	case "x":
		return strconv.Itoa(in.x), nil
	case "y":
		return "0", nil
	case "zpi":
		return canon(math.Pi), nil
	case "zerror":
		return in.zerror, nil
	case "test":
		return "1", nil
	}
	return "", &Error{Code: "SYNTAX"}
}

func (in *Interp) classMethod(c *classCall) (string, error) {
	switch c.class + "." + c.method {
	case "%system.inetinfo.localhostname":
		return in.Hostname, nil
	case "%system.version.getversion":
		return standin.Version, nil
	case "%system.process.terminate":
		// Terminate(,status) ends the process with that exit status, the
		// way scripts piped into iris session report failure.
		code := 0
		if len(c.args) > 1 {
			v, err := in.eval(c.args[1])
			if err != nil {
				return "", err
			}
			code = int(num(v))
		}
		in.ExitCode = code
		return "", ErrHalt
	case "backup.general.externalfreeze", "backup.general.externalthaw":
		// IRIS sets the exit status of `iris session` to 5 on success and 3
		// on failure, which backup scripts test.
		var err error
		if c.method == "externalfreeze" {
			err = in.db.Freeze()
		} else {
			err = in.db.Thaw()
		}
		if err != nil {
			in.ExitCode = 3
			return "0", nil
		}
		in.ExitCode = 5
		return "1", nil
	case "backup.general.isexternallyfrozen":
		return boolStr(in.db.Frozen()), nil
	case "%system.license.luavailable", "%system.license.luconsumed":
		if in.License == nil {
			break
		}
		avail, used := in.License()
		if c.method == "luavailable" {
			return strconv.Itoa(avail), nil
		}
		return strconv.Itoa(used), nil
	case "%system.license.keycustomername":
		// IRIS names the key's customer; the stand-in names itself.
		return standin.Product, nil
	}
	if strings.HasPrefix(c.class, "%system.") || c.class == "backup.general" {
		return "", rtErr("METHOD DOES NOT EXIST", fmt.Sprintf("*%s,%s", c.method, c.class))
	}
	return "", rtErr("CLASS DOES NOT EXIST", "*"+c.class)
}

// zwrite prints r and its descendants in IRIS's ZWRITE format.
func (in *Interp) zwrite(r *ref) error {
	store, _, name, subs, err := in.resolve(r)
	if err != nil {
		return err
	}
	store.Walk(name, subs, func(s []string, v string) {
		in.emit(refName(r, s) + "=" + Quote(v) + "\n")
	})
	return nil
}

func (in *Interp) zwriteAll() {
	for _, n := range in.locals.Names() {
		in.zwrite(&ref{name: n})
	}
}

// Quote formats a value as ZWRITE does: canonical numbers bare, strings in
// quotes with "" doubled, non-printing characters as $c(n).
func Quote(v string) string {
	if engine.IsCanonicalNumber(v) {
		return v
	}
	var b strings.Builder
	inStr := false
	var codes []string
	flushCodes := func() {
		if len(codes) > 0 {
			if b.Len() > 0 {
				b.WriteByte('_')
			}
			b.WriteString("$c(" + strings.Join(codes, ",") + ")")
			codes = codes[:0]
		}
	}
	for _, r := range v {
		if r < 32 || r == 127 {
			if inStr {
				b.WriteByte('"')
				inStr = false
			}
			codes = append(codes, strconv.Itoa(int(r)))
			continue
		}
		if !inStr {
			flushCodes()
			if b.Len() > 0 {
				b.WriteByte('_')
			}
			b.WriteByte('"')
			inStr = true
		}
		if r == '"' {
			b.WriteString(`""`)
		} else {
			b.WriteRune(r)
		}
	}
	if inStr {
		b.WriteByte('"')
	}
	flushCodes()
	if b.Len() == 0 {
		return `""`
	}
	return b.String()
}
