package objectscript

import (
	"fmt"
	"strings"
)

// The syntax tree of one line. ObjectScript evaluates operators strictly
// left to right, without precedence, so a binary expression is a chain.

type expr interface{}

type (
	strLit  struct{ v string }
	binExpr struct {
		l, r expr
		op   string // "+", "_", "'=", "]]", ...
	}
	unaryExpr struct {
		op byte // '-', '+', '\''
		x  expr
	}
	// ref is a local or global variable reference.
	ref struct {
		global bool
		name   string
		subs   []expr
		// key is the engine's name of a global in namespace keyNS.
		key, keyNS string
	}
	// call is $FUNCTION(args), name in its canonical long lower-case form.
	call struct {
		name string
		args []expr
	}
	// special is a special variable such as $HOROLOG.
	special   struct{ name string }
	classCall struct {
		class, method string // lower-case
		args          []expr
	}
)

type command struct {
	name string // canonical long lower-case name
	post expr   // postconditional, nil if none
	args []any
	col  int // column of the command, for error messages
}

type (
	setArg struct {
		targets []*ref
		value   expr
	}
	// writeArg is a format control (!, #, ?col) or an expression.
	writeArg struct {
		format string // "!" / "#" sequence; "" for an expression or tab
		tab    expr   // ?col
		e      expr
	}
	// tryArg is TRY { body } CATCH { handler }: an ObjectScript error in
	// body sets $ZERROR and runs handler.
	tryArg struct {
		body, handler []command
	}
	forArg struct {
		v                *ref
		start, inc, stop expr // a range when inc != nil
		list             []expr
	}
)

// SyntaxError is a line that does not parse; Col is where parsing stopped.
type SyntaxError struct {
	Col int
	Msg string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("<SYNTAX> at column %d: %s", e.Col+1, e.Msg) }

var commandNames = map[string]string{
	"s": "set", "set": "set", "w": "write", "write": "write", "zw": "zwrite", "zwrite": "zwrite",
	"k": "kill", "kill": "kill", "h": "halt", "halt": "halt", "hang": "hang", "q": "quit", "quit": "quit",
	"f": "for", "for": "for", "i": "if", "if": "if", "ts": "tstart", "tstart": "tstart",
	"tc": "tcommit", "tcommit": "tcommit", "tro": "trollback", "trollback": "trollback",
	"d": "do", "do": "do", "zn": "znspace", "znspace": "znspace", "try": "try",
}

var functionNames = map[string]string{
	"i": "increment", "increment": "increment", "d": "data", "data": "data", "o": "order", "order": "order",
	"g": "get", "get": "get", "l": "length", "length": "length", "p": "piece", "piece": "piece",
	"e": "extract", "extract": "extract", "c": "char", "char": "char", "a": "ascii", "ascii": "ascii",
	"zdt": "zdatetime", "zdatetime": "zdatetime", "zd": "zdate", "zdate": "zdate",
	"j": "justify", "justify": "justify", "s": "select", "select": "select",
}

var specialNames = map[string]string{
	"h": "horolog", "horolog": "horolog", "zts": "ztimestamp", "ztimestamp": "ztimestamp",
	"zv": "zversion", "zversion": "zversion", "j": "job", "job": "job", "tl": "tlevel", "tlevel": "tlevel",
	"zh": "zhorolog", "zhorolog": "zhorolog", "namespace": "namespace", "x": "x", "y": "y",
	"zpi": "zpi", "t": "test", "test": "test", "ze": "zerror", "zerror": "zerror",
}

type parser struct {
	s   string
	pos int
	// lits are the string literals in the order parsed, with the column of
	// their opening quote: the parse cache reuses the tree for lines that
	// differ only in them.
	lits []litAt
}

type litAt struct {
	col int
	lit *strLit
}

func (p *parser) fail(msg string) {
	panic(&SyntaxError{Col: p.pos, Msg: msg})
}

func (p *parser) peek() byte {
	if p.pos < len(p.s) {
		return p.s[p.pos]
	}
	return 0
}

func (p *parser) eat(c byte) bool {
	if p.peek() == c {
		p.pos++
		return true
	}
	return false
}

func (p *parser) expect(c byte) {
	if !p.eat(c) {
		p.fail(fmt.Sprintf("expected %q", c))
	}
}

// Parse parses one line of commands. It never panics on bad input: errors
// are *SyntaxError.
func Parse(line string) (cmds []command, err error) {
	return (&parser{s: strings.TrimRight(line, "\r\n")}).parse()
}

func (p *parser) parse() (cmds []command, err error) {
	defer func() {
		if r := recover(); r != nil {
			se, ok := r.(*SyntaxError)
			if !ok {
				panic(r)
			}
			cmds, err = nil, se
		}
	}()
	return p.line(), nil
}

func (p *parser) line() []command {
	var cmds []command
	for {
		p.skipSpaces()
		if p.pos >= len(p.s) || p.peek() == ';' || strings.HasPrefix(p.s[p.pos:], "//") {
			return cmds
		}
		if p.peek() == '}' {
			p.fail("unexpected }")
		}
		cmds = append(cmds, p.command())
	}
}

func (p *parser) skipSpaces() {
	for p.peek() == ' ' || p.peek() == '\t' {
		p.pos++
	}
}

// block parses `{ commands }` on the line.
func (p *parser) block() []command {
	p.skipSpaces()
	p.expect('{')
	var cmds []command
	for {
		p.skipSpaces()
		switch {
		case p.eat('}'):
			return cmds
		case p.pos >= len(p.s):
			p.fail("expected }")
		}
		cmds = append(cmds, p.command())
	}
}

// tryCmd parses the rest of TRY { ... } CATCH { ... }. Only the
// argumentless CATCH: the stand-in has no exception objects ($ZERROR
// holds the error).
func (p *parser) tryCmd(c command) command {
	a := tryArg{body: p.block()}
	p.skipSpaces()
	if strings.ToLower(p.word()) != "catch" {
		p.fail("TRY needs a CATCH block")
	}
	p.skipSpaces()
	if p.peek() != '{' {
		p.fail("the stand-in supports the argumentless CATCH only (use $ZERROR)")
	}
	a.handler = p.block()
	c.args = []any{a}
	if p.pos < len(p.s) && p.peek() != ' ' && p.peek() != '}' {
		p.fail("unexpected character after CATCH")
	}
	return c
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (p *parser) word() string {
	start := p.pos
	for isAlpha(p.peek()) {
		p.pos++
	}
	return p.s[start:p.pos]
}

func (p *parser) command() command {
	c := command{col: p.pos}
	w := strings.ToLower(p.word())
	name, ok := commandNames[w]
	if !ok {
		p.pos = c.col
		p.fail("unknown command")
	}
	c.name = name
	if name == "try" {
		return p.tryCmd(c)
	}
	if p.eat(':') {
		c.post = p.expr()
	}
	// End of line, end of block or two spaces: an argumentless command.
	if p.pos >= len(p.s) || p.peek() == '}' {
		return c
	}
	if p.peek() != ' ' {
		p.fail("expected a space after the command")
	}
	p.pos++
	if p.pos >= len(p.s) || p.peek() == ' ' || p.peek() == '}' {
		return c
	}
	if name == "halt" {
		c.name = "hang" // H with an argument is HANG
	}
	for {
		c.args = append(c.args, p.arg(c.name))
		if !p.eat(',') {
			break
		}
	}
	if p.pos < len(p.s) && p.peek() != ' ' && p.peek() != '}' {
		p.fail("unexpected character after the arguments")
	}
	return c
}

func (p *parser) arg(cmd string) any {
	switch cmd {
	case "set":
		var a setArg
		if p.eat('(') {
			for {
				a.targets = append(a.targets, p.target())
				if !p.eat(',') {
					break
				}
			}
			p.expect(')')
		} else {
			a.targets = []*ref{p.target()}
		}
		p.expect('=')
		a.value = p.expr()
		return a
	case "write":
		rest := p.s[p.pos:]
		switch c := p.peek(); {
		case c == '#' && len(rest) >= 8 && strings.EqualFold(rest[:8], "##class("):
			// an expression, not two form feeds
		case c == '!', c == '#':
			start := p.pos
			for p.peek() == '!' || p.peek() == '#' {
				p.pos++
			}
			return writeArg{format: p.s[start:p.pos]}
		case c == '?':
			p.pos++
			return writeArg{tab: p.expr()}
		}
		return writeArg{e: p.expr()}
	case "kill", "zwrite":
		return p.target()
	case "for":
		a := forArg{v: p.target()}
		if a.v.global {
			p.fail("FOR needs a local variable")
		}
		p.expect('=')
		first := p.expr()
		if p.eat(':') {
			a.start, a.inc = first, p.expr()
			if p.eat(':') {
				a.stop = p.expr()
			}
			return a
		}
		a.list = []expr{first}
		for p.peek() == ',' {
			p.pos++
			a.list = append(a.list, p.expr())
		}
		return a
	case "do":
		// DO of a class method: ##class(Name).Method(args) or $SYSTEM....
		e := p.expr()
		if _, ok := e.(*classCall); !ok {
			p.fail("DO supports class methods only in the stand-in")
		}
		return e
	case "tstart", "tcommit", "trollback", "quit":
		if cmd == "tstart" && p.eat('(') {
			for p.peek() != ')' && p.pos < len(p.s) {
				p.pos++
			}
			p.expect(')')
			return nil
		}
		return p.expr()
	}
	return p.expr()
}

// target parses a variable reference that can be assigned.
func (p *parser) target() *ref {
	global := p.eat('^')
	name := p.name()
	if name == "" {
		p.fail("expected a variable name")
	}
	r := &ref{global: global, name: name}
	if p.eat('(') {
		for {
			r.subs = append(r.subs, p.expr())
			if !p.eat(',') {
				break
			}
		}
		p.expect(')')
	}
	return r
}

func (p *parser) name() string {
	start := p.pos
	if p.peek() == '%' {
		p.pos++
	}
	for isAlpha(p.peek()) || (p.pos > start && isDigit(p.peek())) {
		p.pos++
	}
	if p.pos == start+1 && p.s[start] == '%' {
		return "%"
	}
	return p.s[start:p.pos]
}

var binops = []string{"]]", "**", "'=", "'<", "'>", "'[", "']]", "']", "&&", "||", "<=", ">=", "+", "-", "*", "/", "\\", "#", "_", "=", "<", ">", "[", "]", "&", "!"}

// binop returns the binary operator at the start of rest, "" if none: the
// longest of binops that matches. It looks at the first byte only to pick
// the candidates, since every line parses several expressions.
func binop(rest string) string {
	if rest == "" {
		return ""
	}
	two := func(ops ...string) string {
		for _, o := range ops {
			if strings.HasPrefix(rest, o) {
				return o
			}
		}
		return ""
	}
	switch rest[0] {
	case '_':
		return "_"
	case ']':
		return two("]]", "]")
	case '*':
		return two("**", "*")
	case '\'':
		return two("'=", "'<", "'>", "'[", "']]", "']")
	case '&':
		return two("&&", "&")
	case '|':
		return two("||")
	case '<':
		return two("<=", "<")
	case '>':
		return two(">=", ">")
	case '+', '-', '/', '\\', '#', '=', '[', '!':
		return rest[:1]
	}
	return ""
}

func (p *parser) expr() expr {
	e := p.unary()
	for {
		op := binop(p.s[p.pos:])
		if op == "" {
			return e
		}
		p.pos += len(op)
		e = &binExpr{l: e, r: p.unary(), op: op}
	}
}

func (p *parser) unary() expr {
	switch c := p.peek(); c {
	case '-', '+', '\'':
		p.pos++
		return &unaryExpr{op: c, x: p.unary()}
	}
	return p.atom()
}

func (p *parser) atom() expr {
	c := p.peek()
	switch {
	case c == '"':
		return p.str()
	case isDigit(c) || c == '.' && p.pos+1 < len(p.s) && isDigit(p.s[p.pos+1]):
		return p.number()
	case c == '(':
		p.pos++
		e := p.expr()
		p.expect(')')
		return e
	case c == '$':
		return p.dollar()
	case c == '^' || c == '%' || isAlpha(c):
		return p.target()
	case c == '#' && strings.HasPrefix(p.s[p.pos:], "##"):
		p.pos += 2
		if strings.ToLower(p.word()) != "class" || !p.eat('(') {
			p.fail("unsupported ## syntax")
		}
		start := p.pos
		for c := p.peek(); isAlpha(c) || isDigit(c) || c == '.' || c == '%'; c = p.peek() {
			p.pos++
		}
		class := strings.ToLower(p.s[start:p.pos])
		p.expect(')')
		p.expect('.')
		method := strings.ToLower(p.word())
		if class == "" || method == "" {
			p.fail("##class(Name).Method() expected")
		}
		return p.methodArgs(&classCall{class: class, method: method})
	case c == 0:
		p.fail("expression expected, end of line found")
	}
	p.fail(fmt.Sprintf("unexpected %q", c))
	return nil
}

func (p *parser) str() expr {
	col := p.pos
	p.pos++ // opening quote
	var b strings.Builder
	for {
		i := strings.IndexByte(p.s[p.pos:], '"')
		if i < 0 {
			p.pos = len(p.s)
			p.fail("unterminated string")
		}
		b.WriteString(p.s[p.pos : p.pos+i])
		p.pos += i + 1
		if p.peek() != '"' {
			l := &strLit{v: b.String()}
			p.lits = append(p.lits, litAt{col, l})
			return l
		}
		b.WriteByte('"')
		p.pos++
	}
}

func (p *parser) number() expr {
	start := p.pos
	for isDigit(p.peek()) {
		p.pos++
	}
	if p.eat('.') {
		for isDigit(p.peek()) {
			p.pos++
		}
	}
	if c := p.peek(); (c == 'E' || c == 'e') && p.pos+1 < len(p.s) {
		save := p.pos
		p.pos++
		p.eat('-')
		p.eat('+')
		if !isDigit(p.peek()) {
			p.pos = save
		}
		for isDigit(p.peek()) {
			p.pos++
		}
	}
	// A numeric literal evaluates to its canonical form.
	return &strLit{v: canonStr(p.s[start:p.pos])}
}

func (p *parser) dollar() expr {
	p.pos++
	if p.eat('$') {
		p.fail("extrinsic functions ($$) are not supported by the stand-in")
	}
	w := strings.ToLower(p.word())
	if w == "" {
		p.fail("function name expected after $")
	}
	if w == "system" {
		// $SYSTEM.Class.Method(args)
		var parts []string
		for p.eat('.') {
			part := strings.ToLower(p.word())
			if part == "" {
				p.fail("name expected after . in $SYSTEM")
			}
			parts = append(parts, part)
		}
		if len(parts) != 2 {
			p.fail("$SYSTEM.Class.Method() expected")
		}
		return p.methodArgs(&classCall{class: "%system." + parts[0], method: parts[1]})
	}
	if p.peek() == '(' {
		name, ok := functionNames[w]
		if !ok {
			p.fail("unknown function $" + w)
		}
		p.pos++
		c := &call{name: name}
		if !p.eat(')') {
			for {
				if name == "select" {
					cond := p.expr()
					p.expect(':')
					c.args = append(c.args, cond, p.expr())
				} else {
					c.args = append(c.args, p.expr())
				}
				if !p.eat(',') {
					break
				}
			}
			p.expect(')')
		}
		if err := checkArity(c); err != "" {
			p.fail(err)
		}
		return c
	}
	name, ok := specialNames[w]
	if !ok {
		p.fail("unknown special variable $" + w)
	}
	return &special{name: name}
}

// arity is the minimum and maximum argument count of each function.
var arity = map[string][2]int{
	"increment": {1, 2}, "data": {1, 1}, "order": {1, 2}, "get": {1, 2}, "length": {1, 2},
	"piece": {2, 4}, "extract": {1, 3}, "char": {1, 255}, "ascii": {1, 2}, "zdatetime": {1, 4},
	"zdate": {1, 2}, "justify": {2, 3}, "select": {2, 510},
}

func checkArity(c *call) string {
	a := arity[c.name]
	if len(c.args) < a[0] || len(c.args) > a[1] {
		return fmt.Sprintf("$%s takes %d to %d arguments, got %d", strings.ToUpper(c.name), a[0], a[1], len(c.args))
	}
	switch c.name {
	case "increment", "data", "order", "get":
		if _, ok := c.args[0].(*ref); !ok {
			return fmt.Sprintf("$%s needs a variable reference", strings.ToUpper(c.name))
		}
	}
	return ""
}

// methodArgs parses the optional argument list of a class method; an
// argument may be empty, as in Terminate(,1).
func (p *parser) methodArgs(cc *classCall) expr {
	if !p.eat('(') {
		return cc
	}
	if p.eat(')') {
		return cc
	}
	for {
		if c := p.peek(); c == ',' || c == ')' {
			cc.args = append(cc.args, &strLit{})
		} else {
			cc.args = append(cc.args, p.expr())
		}
		if !p.eat(',') {
			break
		}
	}
	p.expect(')')
	return cc
}
