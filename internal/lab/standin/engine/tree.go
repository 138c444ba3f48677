package engine

import (
	"sort"
	"strconv"
	"strings"
)

// IsCanonicalNumber reports whether s is an ObjectScript canonical number:
// optional "-", no leading zeros, no trailing fractional zeros, no "+", no
// leading "0" before the point (".5", "-1.25", "42", "0").
func IsCanonicalNumber(s string) bool {
	if s == "0" {
		return true
	}
	if s == "" {
		return false
	}
	i := 0
	if s[0] == '-' {
		i = 1
		if len(s) == 1 {
			return false
		}
	}
	intStart := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	intPart := s[intStart:i]
	if len(intPart) > 0 && intPart[0] == '0' {
		return false
	}
	if i == len(s) {
		return len(intPart) > 0
	}
	if s[i] != '.' {
		return false
	}
	frac := s[i+1:]
	if frac == "" || frac[len(frac)-1] == '0' {
		return false
	}
	for j := 0; j < len(frac); j++ {
		if frac[j] < '0' || frac[j] > '9' {
			return false
		}
	}
	return true
}

// Compare orders two subscripts as IRIS's default collation does: canonical
// numbers first, in numeric order, then strings in byte order.
func Compare(a, b string) int {
	an, bn := IsCanonicalNumber(a), IsCanonicalNumber(b)
	switch {
	case an && bn:
		fa, _ := strconv.ParseFloat(a, 64)
		fb, _ := strconv.ParseFloat(b, 64)
		switch {
		case fa < fb:
			return -1
		case fa > fb:
			return 1
		}
		return strings.Compare(a, b)
	case an:
		return -1
	case bn:
		return 1
	}
	return strings.Compare(a, b)
}

// node is one node of a global: an optional value and ordered children.
type node struct {
	val   string
	has   bool
	kids  map[string]*node
	order []string // keys of kids in collation order
}

func (n *node) empty() bool { return !n.has && len(n.kids) == 0 }

// child returns the child under key, creating it when create is set.
func (n *node) child(key string, create bool) *node {
	if c := n.kids[key]; c != nil || !create {
		return c
	}
	if n.kids == nil {
		n.kids = map[string]*node{}
	}
	c := &node{}
	n.kids[key] = c
	// Appending in increasing order (the usual $increment pattern) is O(1).
	if k := len(n.order); k == 0 || Compare(n.order[k-1], key) < 0 {
		n.order = append(n.order, key)
	} else {
		i := sort.Search(k, func(i int) bool { return Compare(n.order[i], key) >= 0 })
		n.order = append(n.order, "")
		copy(n.order[i+1:], n.order[i:])
		n.order[i] = key
	}
	return c
}

func (n *node) remove(key string) {
	if _, ok := n.kids[key]; !ok {
		return
	}
	delete(n.kids, key)
	i := sort.Search(len(n.order), func(i int) bool { return Compare(n.order[i], key) >= 0 })
	n.order = append(n.order[:i], n.order[i+1:]...)
}

// next returns the key after (dir 1) or before (dir -1) key among n's
// children; key "" starts from the edge. "" means none.
func (n *node) next(key string, dir int) string {
	if n == nil || len(n.order) == 0 {
		return ""
	}
	if dir >= 0 {
		i := 0
		if key != "" {
			i = sort.Search(len(n.order), func(i int) bool { return Compare(n.order[i], key) > 0 })
		}
		if i < len(n.order) {
			return n.order[i]
		}
		return ""
	}
	i := len(n.order) - 1
	if key != "" {
		i = sort.Search(len(n.order), func(i int) bool { return Compare(n.order[i], key) >= 0 }) - 1
	}
	if i >= 0 {
		return n.order[i]
	}
	return ""
}

// walk calls fn for every node holding a value, depth first in collation
// order, with its subscripts.
func (n *node) walk(subs []string, fn func(subs []string, val string)) {
	if n.has {
		fn(subs, n.val)
	}
	for _, k := range n.order {
		n.kids[k].walk(append(subs, k), fn)
	}
}
