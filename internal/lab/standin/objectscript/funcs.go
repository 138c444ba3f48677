package objectscript

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// horologUnixDay is the $HOROLOG day number of 1970-01-01 (day 0 is 1840-12-31).
const horologUnixDay = 47117

func dayNumber(t time.Time) int64 {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix()/86400 + horologUnixDay
}

// Horolog is $HOROLOG: local days since 1840-12-31 and whole seconds since
// midnight (fractions are truncated, as IRIS).
func Horolog(t time.Time) string {
	t = t.Local()
	b := make([]byte, 0, 16)
	b = strconv.AppendInt(b, dayNumber(t), 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(t.Hour()*3600+t.Minute()*60+t.Second()), 10)
	return string(b)
}

// ZTimestamp is $ZTIMESTAMP: $HOROLOG's format in UTC, with microseconds.
func ZTimestamp(t time.Time) string {
	t = t.UTC()
	b := make([]byte, 0, 24)
	b = strconv.AppendInt(b, dayNumber(t), 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(t.Hour()*3600+t.Minute()*60+t.Second()), 10)
	b = append(b, '.')
	b = appendPad(b, t.Nanosecond()/1000, 6)
	return string(b)
}

// appendPad appends n (non-negative) with at least width digits, zero
// padded: fmt's %0*d without fmt's cost on every marker write.
func appendPad(b []byte, n, width int) []byte {
	var d [20]byte
	digits := strconv.AppendInt(d[:0], int64(n), 10)
	for i := len(digits); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, digits...)
}

var monthAbbr = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// zdatetime implements $ZDATETIME(h, dformat, tformat, precision) for the
// date formats 1 (MM/DD/YYYY, default), 2 (DD Mon YYYY), 3 (ODBC
// YYYY-MM-DD), 4 (DD/MM/YYYY), 8 (YYYYMMDD) and the time formats 1
// (hh:mm:ss, default), 2 (hh:mm), 3 (hh:mm:ssAM), 4 (hh:mmAM). precision
// is the number of fractional digits of the seconds (omitted: truncated).
func zdatetime(a []string, withTime bool) (string, error) {
	h := a[0]
	dayS, secS, _ := strings.Cut(h, ",")
	day := int64(num(dayS))
	if day < 0 || day > 2980013 {
		return "", rtErr("VALUE OUT OF RANGE", "")
	}
	dformat, tformat, precision := 1, 1, -1
	if len(a) > 1 && a[1] != "" {
		dformat = int(num(a[1]))
	}
	if len(a) > 2 && a[2] != "" {
		tformat = int(num(a[2]))
	}
	if len(a) > 3 && a[3] != "" {
		precision = int(num(a[3]))
		if precision > 9 {
			precision = 9
		}
	}
	d := time.Unix((day-horologUnixDay)*86400, 0).UTC()
	b := make([]byte, 0, 40)
	yy, mo, dd := d.Date()
	switch dformat {
	case 1:
		b = appendPad(append(appendPad(append(appendPad(b, int(mo), 2), '/'), dd, 2), '/'), yy, 4)
	case 2:
		b = appendPad(append(append(append(appendPad(b, dd, 2), ' '), monthAbbr[mo-1]...), ' '), yy, 4)
	case 3:
		b = appendPad(append(appendPad(append(appendPad(b, yy, 4), '-'), int(mo), 2), '-'), dd, 2)
	case 4:
		b = appendPad(append(appendPad(append(appendPad(b, dd, 2), '/'), int(mo), 2), '/'), yy, 4)
	case 8:
		b = appendPad(appendPad(appendPad(b, yy, 4), int(mo), 2), dd, 2)
	default:
		return "", rtErr("ILLEGAL VALUE", "")
	}
	if !withTime {
		return string(b), nil
	}
	wholeS, frac, _ := strings.Cut(secS, ".")
	secs := int(num(wholeS))
	if secs < 0 || secs >= 86400 {
		return "", rtErr("ILLEGAL VALUE", "")
	}
	hh, mm, ss := secs/3600, secs/60%60, secs%60
	var fracPart string
	if precision > 0 {
		digits := strings.TrimRight(frac, " ")
		for _, c := range digits {
			if c < '0' || c > '9' {
				digits = ""
				break
			}
		}
		if len(digits) > precision {
			digits = digits[:precision]
		}
		fracPart = digits
	}
	// appendFrac appends the fraction: precision digits, zero padded.
	appendFrac := func(b []byte) []byte {
		if precision <= 0 {
			return b
		}
		b = append(append(b, '.'), fracPart...)
		for i := len(fracPart); i < precision; i++ {
			b = append(b, '0')
		}
		return b
	}
	b = append(b, ' ')
	switch tformat {
	case 1:
		b = appendFrac(appendPad(append(appendPad(append(appendPad(b, hh, 2), ':'), mm, 2), ':'), ss, 2))
	case 2:
		b = appendPad(append(appendPad(b, hh, 2), ':'), mm, 2)
	case 3, 4:
		suffix := "AM"
		h12 := hh % 12
		if hh >= 12 {
			suffix = "PM"
		}
		if h12 == 0 {
			h12 = 12
		}
		b = appendPad(append(appendPad(b, h12, 2), ':'), mm, 2)
		if tformat == 3 {
			b = appendFrac(appendPad(append(b, ':'), ss, 2))
		}
		b = append(b, suffix...)
	default:
		return "", rtErr("ILLEGAL VALUE", "")
	}
	return string(b), nil
}

// stringFunction evaluates the functions whose arguments are plain values.
func stringFunction(name string, a []string, now func() time.Time) (string, error) {
	switch name {
	case "zdatetime":
		return zdatetime(a, true)
	case "zdate":
		return zdatetime(a, false)
	case "length":
		if len(a) == 1 {
			return strconv.Itoa(len(a[0])), nil
		}
		if a[1] == "" {
			return "0", nil
		}
		return strconv.Itoa(strings.Count(a[0], a[1]) + 1), nil
	case "piece":
		if a[1] == "" {
			return "", nil
		}
		from := 1
		if len(a) > 2 {
			from = int(num(a[2]))
		}
		to := from
		if len(a) > 3 {
			to = int(num(a[3]))
		}
		parts := strings.Split(a[0], a[1])
		from = max(from, 1)
		to = min(to, len(parts))
		if from > to {
			return "", nil
		}
		return strings.Join(parts[from-1:to], a[1]), nil
	case "extract":
		from := 1
		if len(a) > 1 {
			from = int(num(a[1]))
		}
		to := from
		if len(a) > 2 {
			to = int(num(a[2]))
		}
		from = max(from, 1)
		to = min(to, len(a[0]))
		if from > to {
			return "", nil
		}
		return a[0][from-1 : to], nil
	case "char":
		var b strings.Builder
		for _, s := range a {
			if c := num(s); c >= 0 && c <= 0x10FFFF {
				b.WriteRune(rune(c))
			}
		}
		return b.String(), nil
	case "ascii":
		pos := 1
		if len(a) > 1 {
			pos = int(num(a[1]))
		}
		if pos < 1 || pos > len(a[0]) {
			return "-1", nil
		}
		return strconv.Itoa(int(a[0][pos-1])), nil
	case "justify":
		s := a[0]
		if len(a) == 3 {
			dec := int(num(a[2]))
			if dec < 0 || dec > 20 {
				return "", rtErr("ILLEGAL VALUE", "")
			}
			f := num(s)
			s = strconv.FormatFloat(math.Round(f*math.Pow10(dec))/math.Pow10(dec), 'f', dec, 64)
		}
		w := int(num(a[1]))
		if w > len(s) && w < 1<<16 {
			s = strings.Repeat(" ", w-len(s)) + s
		}
		return s, nil
	}
	return "", &Error{Code: "FUNCTION", Detail: "$" + strings.ToUpper(name)}
}
