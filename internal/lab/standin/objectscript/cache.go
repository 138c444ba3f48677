package objectscript

import "strings"

// The harness's write probe sends the same line thousands of times with a
// different number in a string literal ("seq=N"). Parsing is most of the
// interpreter's cost per line, so each process keeps the trees of recent
// lines keyed by their shape: the line with every string literal emptied.
// A line of a known shape reuses the tree with its own literal values.

// maxCachedShapes bounds the cache; a session that keeps sending new
// shapes just parses every line, as without a cache.
const maxCachedShapes = 256

type cachedLine struct {
	cmds []command
	lits []*strLit // in line order
}

// shape scans line lexically: key is the line with the content of every
// string literal removed, vals the literal values ("" unescaped) and cols
// the columns of their opening quotes. ok is false for an unterminated
// literal. The buffers passed in are reused.
func shape(line string, key []byte, vals []string, cols []int) ([]byte, []string, []int, bool) {
	for i := 0; i < len(line); {
		c := line[i]
		if c != '"' {
			key = append(key, c)
			i++
			continue
		}
		start := i
		i++
		escaped := false
		for {
			j := strings.IndexByte(line[i:], '"')
			if j < 0 {
				return key, vals, cols, false
			}
			i += j + 1
			if i < len(line) && line[i] == '"' {
				escaped = true
				i++
				continue
			}
			break
		}
		v := line[start+1 : i-1]
		if escaped {
			v = strings.ReplaceAll(v, `""`, `"`)
		}
		key = append(key, '"', '"')
		vals = append(vals, v)
		cols = append(cols, start)
	}
	return key, vals, cols, true
}

// parse is Parse through the process's cache. The cached tree is only
// reused when the parser consumed exactly the literals the lexical scan
// found (not, say, quotes inside a comment), so its structure cannot
// depend on their content.
func (in *Interp) parse(line string) ([]command, error) {
	line = strings.TrimRight(line, "\r\n")
	if in.shapes == nil {
		return Parse(line)
	}
	key, vals, cols, ok := shape(line, in.keyBuf[:0], in.valBuf[:0], in.colBuf[:0])
	in.keyBuf, in.valBuf, in.colBuf = key, vals[:0], cols[:0]
	if ok {
		if c, hit := in.shapes[string(key)]; hit {
			for i, l := range c.lits {
				l.v = vals[i]
			}
			clear(vals)
			return c.cmds, nil
		}
	}
	clear(vals)
	p := &parser{s: line}
	cmds, err := p.parse()
	if err != nil || !ok || len(p.lits) != len(cols) {
		return cmds, err
	}
	lits := make([]*strLit, len(p.lits))
	for i, l := range p.lits {
		if l.col != cols[i] {
			return cmds, nil
		}
		lits[i] = l.lit
	}
	if len(in.shapes) >= maxCachedShapes {
		clear(in.shapes)
	}
	in.shapes[string(key)] = &cachedLine{cmds: cmds, lits: lits}
	return cmds, nil
}
