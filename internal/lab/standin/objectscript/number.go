package objectscript

import (
	"math"
	"strconv"
	"strings"
)

// num converts a string to a number as ObjectScript does: the longest
// numeric prefix (signs, digits, one point, an exponent), 0 if none.
func num(s string) float64 {
	i, neg := 0, false
	for i < len(s) && (s[i] == '+' || s[i] == '-') {
		if s[i] == '-' {
			neg = !neg
		}
		i++
	}
	start := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	mant := s[start:i]
	if mant == "" || mant == "." {
		return 0
	}
	if i < len(s) && (s[i] == 'E' || s[i] == 'e') {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		k := j
		for k < len(s) && s[k] >= '0' && s[k] <= '9' {
			k++
		}
		if k > j {
			i = k
		}
	}
	f, err := strconv.ParseFloat(s[start:i], 64)
	if err != nil {
		// Out of range: ParseFloat returns ±Inf with the error.
		if math.IsInf(f, 0) {
			return f
		}
		return 0
	}
	if neg {
		f = -f
	}
	return f
}

// canon formats f in canonical form: no leading zero before the point, no
// trailing fractional zeros, at most 15 significant digits (so 0.1+0.2 is .3).
func canon(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatInt(int64(f), 10)
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'g', 15, 64), 64)
	s := strconv.FormatFloat(r, 'f', -1, 64)
	if strings.HasPrefix(s, "0.") {
		s = s[1:]
	} else if strings.HasPrefix(s, "-0.") {
		s = "-" + s[2:]
	}
	return s
}

// canonStr is +s: the canonical number of a string.
func canonStr(s string) string { return canon(num(s)) }

func truth(s string) bool { return num(s) != 0 }

func boolStr(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
