package objectscript

import (
	"bufio"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/irischaos/irischaos/internal/lab/standin/engine"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fixedNow is 2021-01-14 14:13:19.123456 UTC (the seed README's marker time).
var fixedNow = time.Date(2021, 1, 14, 14, 13, 19, 123456000, time.UTC)

func newInterp(t testing.TB) (*Interp, *strings.Builder, *bufio.Writer) {
	var sb strings.Builder
	w := bufio.NewWriter(&sb)
	in := New(engine.Memory(), "USER", w)
	in.Now = func() time.Time { return fixedNow }
	in.Hostname = "iris-6d8896d584-8lzn5"
	return in, &sb, w
}

func TestExec(t *testing.T) {
	time.Local = time.UTC
	tests := []struct {
		name  string
		lines []string
		want  string
	}{
		{"write literals", []string{`write "a",1,"b""c",!`}, "a1b\"c\n"},
		{"left to right", []string{`w 1+2*3,!`}, "9\n"},
		{"parens", []string{`w 1+(2*3),!`}, "7\n"},
		{"canonical numbers", []string{`w 0.50," ",-0.5," ",1.0," ",007," ",.1+.2,!`}, ".5 -.5 1 7 .3\n"},
		{"string to number", []string{`w +"12abc"," ","abc"+1," ",--3,!`}, "12 1 3\n"},
		{"integer division and modulo", []string{`w 7\2," ",-7#3," ",7#-3,!`}, "3 2 -2\n"},
		{"comparisons", []string{`w 2>10," ","2"="2"," ",3'=3," ","b"]"a"," ",10]]9," ","abc"["b",!`}, "0 1 0 1 1 1\n"},
		{"concat", []string{`set x="a"_"b"_1 w x,!`}, "ab1\n"},
		{"increment", []string{`w $i(^c),$increment(^c),$i(^c,10),!`, `zw ^c`}, "1212\n^c=12\n"},
		{"marker line", []string{`set ^k8stest($i(^k8stest))="seq=42 t="_$zdt($zts,3,1,6)_" host="_$system.INetInfo.LocalHostName() write "##ACK:42:",^k8stest,!`},
			"##ACK:42:1\n"},
		{"seed marker", []string{`set ^k8stest($i(^k8stest))=$zdt($h)_" running on "_$system.INetInfo.LocalHostName() write ^k8stest(^k8stest)`},
			"01/14/2021 14:13:19 running on iris-6d8896d584-8lzn5"},
		{"zwrite", []string{`s ^g=1,^g(1)="x",^g(2,"a")="q""uote",^g("b")=2.5,^g(-1)=-3`, `zw ^g`},
			"^g=1\n^g(-1)=-3\n^g(1)=\"x\"\n^g(2,\"a\")=\"q\"\"uote\"\n^g(\"b\")=2.5\n"},
		{"zwrite subtree", []string{`s ^g(1)=1,^g(1,2)=2,^g(2)=3`, `zw ^g(1)`}, "^g(1)=1\n^g(1,2)=2\n"},
		{"zwrite control chars", []string{`s ^g=$c(10)_"a"_$c(13,10)`, `zw ^g`}, "^g=$c(10)_\"a\"_$c(13,10)\n"},
		{"collation", []string{`s ^o("b")=1,^o(10)=1,^o(2)=1,^o("a")=1,^o(-5)=1,^o(1.5)=1,^o("01")=1`,
			`s k="" for  s k=$o(^o(k)) q:k=""  w k,";"`}, "-5;1.5;2;10;01;a;b;"},
		{"order reverse", []string{`s ^o(1)=1,^o(2)=1,^o(3)=1`, `w $o(^o(""),-1),$o(^o(2),-1),$o(^o(1),-1),"|",!`}, "31|\n"},
		{"readback loop", []string{`s ^k(1)="a",^k(2)="b"`, `set k="" for  set k=$order(^k8stest(k)) quit:k=""  write "x"`,
			`set k="" for  set k=$order(^k(k)) quit:k=""  write "##RB:",k,":",^k(k),!`}, "##RB:1:a\n##RB:2:b\n"},
		{"for range", []string{`for i=1:1:3 write i`, `for i=10:-5:0 w " ",i`, `f i=1:2 q:i>5  w "*"`}, "123 10 5 0***"},
		{"for list", []string{`f x="a",2,"c" w x`}, "a2c"},
		{"if", []string{`if 1 write "y"`, `if 0 write "n"`, `i 1,0 w "n"`}, "y"},
		{"postconditional", []string{`w:1 "a" w:0 "b" s:1 x=5 w x`}, "a5"},
		{"data", []string{`s ^d(1)=1,^d(1,1)=1,^d(2,1)=1`, `w $d(^d),$d(^d(1)),$d(^d(2)),$d(^d(3)),!`}, "1011100\n"},
		{"get", []string{`w $g(^nope),$g(^nope,"def"),$g(x,7),!`}, "def7\n"},
		{"kill", []string{`s ^k(1)=1,^k(2)=2,^k(2,1)=3`, `k ^k(2)`, `zw ^k`, `k ^k`, `w $d(^k),!`}, "^k(1)=1\n0\n"},
		{"transactions", []string{`ts  s ^t(1)=1 tc`, `ts  s ^t(2)=2,x=$i(^t) tro`, `zw ^t`, `w $tl,!`}, "^t=1\n^t(1)=1\n0\n"},
		{"nested transaction", []string{`ts  ts  s ^n=1 tc  w $tl tc  w $tl,!`}, "10\n"},
		{"tcommit outside", []string{`tc`}, "<COMMAND>\n"},
		{"undefined", []string{`w x`, `w ^nope(1,"a")`}, "<UNDEFINED> *x\n<UNDEFINED> *^nope(1,\"a\")\n"},
		{"syntax", []string{`foo bar`, `w "unterminated`, `s x=`, `d 1`, `w ##foo`}, "<SYNTAX>\n<SYNTAX>\n<SYNTAX>\n<SYNTAX>\n<SYNTAX>\n"},
		{"classes", []string{`w ##class(Foo.Bar).Baz()`, `d $system.Nope.X()`, `w ##class(%SYSTEM.Process).Nope()`, `w ##class(Backup.General).IsExternallyFrozen(),!`},
			"<CLASS DOES NOT EXIST> *foo.bar\n<METHOD DOES NOT EXIST> *x,%system.nope\n<METHOD DOES NOT EXIST> *nope,%system.process\n0\n"},
		{"form feeds", []string{`w "a",##,"b"`}, "a\f\fb"},
		{"divide", []string{`w 1/0`}, "<DIVIDE>\n"},
		{"empty subscript", []string{`s ^x("")=1`}, "<SUBSCRIPT> ^x(\"\")\n"},
		{"globals are per namespace", []string{`s ^g=1`, `w $d(^g),!`, `zn "%SYS"`, `w $d(^g),!`, `zn "USER"`, `w $d(^g),!`}, "1\n0\n1\n"},
		{"zdt date and time formats", []string{`w $zdt("65750,3599",2),"|",$zdt("65758,51199",4),"|",$zdt("65758,51199",8),"|",$zdt("65758,51199",3,2),"|",$zdt("65758,51199.5",3,3,2),"|",$zdt("65758,51199",3,4),"|",$zdt("65758,59",1,3),"|",$zd("65758",8),!`},
			"06 Jan 2021 00:59:59|14/01/2021 14:13:19|20210114 14:13:19|2021-01-14 14:13|2021-01-14 02:13:19.50PM|2021-01-14 02:13PM|01/14/2021 12:00:59AM|20210114\n"},
		{"zdt formats", []string{`w $zdt("65758,51199"),"|",$zdt("65758,51199",3),"|",$zdt("65758,51199.5",3,1,3),"|",$zdt("65758,51199.123456",3,1,6),"|",$zdt("65758,51199.9",3,1),!`},
			"01/14/2021 14:13:19|2021-01-14 14:13:19|2021-01-14 14:13:19.500|2021-01-14 14:13:19.123456|2021-01-14 14:13:19\n"},
		{"h and zts", []string{`w $h,"|",$zts,!`}, "65758,51199|65758,51199.123456\n"},
		{"zv", []string{`w $zv,!`}, "IRIS for UNIX (irischaos IRIS stand-in) 0.1.0 (Build standin)\n"},
		{"string functions", []string{`w $l("abc"),$l("a,b",","),$p("a,b,c",",",2),$e("hello",2,3),$a("A"),$j(5,3),$j(1.5,6,2),!`}, "32bel65  5  1.50\n"},
		{"comment", []string{`w 1 ; comment`, `// whole line`}, "1"},
		{"tab", []string{`w "ab",?5,"c",!`}, "ab   c\n"},
		{"hang", []string{`h 0 w "ok"`}, "ok"},
		{"locals zwrite", []string{`s b=2,a(1)="x"`, `zw`}, "a(1)=\"x\"\nb=2\n"},
		{"multiple set", []string{`s (a,b)=3 w a+b`}, "6"},
		{"try ok", []string{`try { set a=1 write a } catch { write "no" } write "|"`}, "1|"},
		{"try catch", []string{`try { set a=1 write q } catch { write "E:",$zerror } write "|"`}, "E:<UNDEFINED> *q|"},
		{"try quit", []string{`try { write 1 quit  write 2 } catch { write "no" } write 3`}, "13"},
		{"try for", []string{`try { for i=1:1:3 { } } catch { } write "x"`}, "<SYNTAX>\n"},
		{"try nested for", []string{`try { for i=1:1:3 write i } catch { } write "|"`}, "123|"},
		{"catch var unsupported", []string{`try { } catch e { }`}, "<SYNTAX>\n"},
		{"unbalanced", []string{`write 1 }`}, "<SYNTAX>\n"},
		{"ze short", []string{`write x`, `write $ze`}, "<UNDEFINED> *x\n<UNDEFINED> *x"},
		{"write sentinel concatenated", []string{`write "#"_"#ACK:"_"7:",1,!`}, "##ACK:7:1\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in, sb, w := newInterp(t)
			for _, l := range tc.lines {
				err := in.Exec(context.Background(), l)
				if oe, ok := err.(*Error); ok {
					in.printErr(l, oe)
				} else if err != nil {
					t.Fatalf("%q: %v", l, err)
				}
			}
			w.Flush()
			if got := sb.String(); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestHalt(t *testing.T) {
	in, _, _ := newInterp(t)
	for _, l := range []string{"h", "halt", "HALT", `w 1 h`} {
		if err := in.Exec(context.Background(), l); err != ErrHalt {
			t.Errorf("%q: %v, want ErrHalt", l, err)
		}
	}
	if err := in.Exec(context.Background(), "h 0"); err != nil {
		t.Errorf("h 0 is HANG: %v", err)
	}
}

func TestInfiniteForIsCancellable(t *testing.T) {
	in, _, _ := newInterp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := in.Exec(ctx, "for  set x=1"); err == nil {
		t.Fatal("endless FOR returned without error")
	}
}

// TestSessionGolden runs whole sessions through Run and compares the output,
// prompts included, with testdata/*.golden.
func TestSessionGolden(t *testing.T) {
	inputs, _ := filepath.Glob("testdata/*.session")
	if len(inputs) == 0 {
		t.Fatal("no testdata/*.session")
	}
	for _, path := range inputs {
		t.Run(filepath.Base(path), func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			in, sb, w := newInterp(t)
			err = Run(context.Background(), in, bufio.NewReader(strings.NewReader(string(src))), "\nNode: iris-6d8896d584-8lzn5, Instance: IRIS\n\n")
			if err != nil {
				t.Fatal(err)
			}
			w.Flush()
			golden := strings.TrimSuffix(path, ".session") + ".golden"
			if *update {
				os.WriteFile(golden, []byte(sb.String()), 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if sb.String() != string(want) {
				t.Errorf("output differs from %s:\n%s", golden, sb.String())
			}
		})
	}
}

func TestMaxString(t *testing.T) {
	in, _, _ := newInterp(t)
	err := in.Exec(context.Background(), `s x="0123456789" f  s x=x_x`)
	if e, ok := err.(*Error); !ok || e.Code != "MAXSTRING" {
		t.Fatalf("doubling a string forever: %v, want <MAXSTRING>", err)
	}
}

func TestTerminateAndFreeze(t *testing.T) {
	in, _, _ := newInterp(t)
	if err := in.Exec(context.Background(), `do ##class(%SYSTEM.Process).Terminate(,7)`); err != ErrHalt || in.ExitCode != 7 {
		t.Errorf("Terminate(,7): %v, exit code %d", err, in.ExitCode)
	}
	in, _, _ = newInterp(t)
	// A memory database cannot be frozen: the failure status is 3.
	if err := in.Exec(context.Background(), `do ##Class(Backup.General).ExternalFreeze()`); err != nil || in.ExitCode != 3 {
		t.Errorf("ExternalFreeze on memory: %v, exit code %d", err, in.ExitCode)
	}
}

// TestBinop checks the first-byte operator scan against the plain rule:
// the longest operator of binops that the text starts with.
func TestBinop(t *testing.T) {
	alphabet := []byte("]*'=<>[&|+-/\\#_!a1")
	var texts []string
	for _, a := range alphabet {
		for _, b := range alphabet {
			for _, c := range alphabet {
				texts = append(texts, string([]byte{a, b, c}))
			}
			texts = append(texts, string([]byte{a, b}))
		}
		texts = append(texts, string(a))
	}
	texts = append(texts, "")
	for _, s := range texts {
		want := ""
		for _, o := range binops {
			if strings.HasPrefix(s, o) && len(o) > len(want) {
				want = o
			}
		}
		if got := binop(s); got != want {
			t.Errorf("binop(%q) = %q, want %q", s, got, want)
		}
	}
}
