package ui

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

func TestStatusTerminalRedrawsInPlace(t *testing.T) {
	var b bytes.Buffer
	s := &Status{W: &b, Term: true}
	s.Update("waiting 1s for sim")
	s.Update("waiting 2s")
	s.Done()
	// The shorter line blanks what is left of the longer one; Done ends the line.
	want := "\rwaiting 1s for sim\rwaiting 2s        \n"
	if b.String() != want {
		t.Fatalf("got %q, want %q", b.String(), want)
	}
}

func TestStatusPlainPrintsAtMostEveryInterval(t *testing.T) {
	var b bytes.Buffer
	s := &Status{W: &b, Every: time.Hour}
	s.Update("one")
	s.Update("two") // within the interval: not printed
	s.Done()
	if b.String() != "one\n" {
		t.Fatalf("got %q", b.String())
	}
	s.Every = time.Nanosecond
	time.Sleep(time.Millisecond)
	s.Update("three")
	if !strings.HasSuffix(b.String(), "three\n") {
		t.Fatalf("got %q", b.String())
	}
}

func TestIsTerminal(t *testing.T) {
	if IsTerminal(&bytes.Buffer{}) {
		t.Fatal("a buffer is not a terminal")
	}
	t.Setenv("LOP_PLAIN", "1")
	if IsTerminal(nil) {
		t.Fatal("LOP_PLAIN forces plain output")
	}
}

func TestTable(t *testing.T) {
	var b bytes.Buffer
	Table(&b, [][]string{{"SERVICE", "URL"}, {"Prometheus", "http://127.0.0.1:9090"}})
	want := "SERVICE     URL\nPrometheus  http://127.0.0.1:9090\n"
	if b.String() != want {
		t.Fatalf("got %q, want %q", b.String(), want)
	}
}

func TestSeconds(t *testing.T) {
	for in, want := range map[float64]string{
		0: "0", 0.000042: "42µs", 0.05: "50ms", 0.1234: "123ms", 2.5: "2.5s", 61: "61s", 1234: "1.23e+03s",
	} {
		if got := Seconds(in); got != want {
			t.Errorf("Seconds(%v) = %q, want %q", in, got, want)
		}
	}
	if got := Seconds(math.NaN()); got != "-" {
		t.Errorf("Seconds(NaN) = %q", got)
	}
}
