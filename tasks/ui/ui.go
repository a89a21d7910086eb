// Package ui holds the small pieces of terminal output every target shares:
// terminal detection, a live status line, aligned tables, and durations in
// seconds written with a unit that suits their size.
package ui

import (
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// IsTerminal reports whether w is a character device (a terminal).
// Setting LOP_PLAIN=1 forces plain output.
func IsTerminal(w io.Writer) bool {
	if os.Getenv("LOP_PLAIN") != "" {
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Status shows progress of long work: on a terminal one line redrawn in
// place every update; otherwise a plain line at most every Every.
type Status struct {
	W     io.Writer
	Term  bool
	Every time.Duration // plain-mode interval; default 10s

	mu       sync.Mutex
	last     time.Time
	drawn    int
	lastLine string
}

// NewStatus returns a Status for w, detecting whether it is a terminal.
func NewStatus(w io.Writer) *Status {
	return &Status{W: w, Term: IsTerminal(w), Every: 10 * time.Second}
}

// Update shows line: redrawn in place on a terminal, printed when the plain
// interval has passed otherwise.
func (s *Status) Update(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastLine = line
	if s.Term {
		pad := ""
		if n := s.drawn - len(line); n > 0 {
			pad = strings.Repeat(" ", n)
		}
		fmt.Fprintf(s.W, "\r%s%s", line, pad)
		s.drawn = len(line)
		return
	}
	every := s.Every
	if every == 0 {
		every = 10 * time.Second
	}
	if now := time.Now(); s.last.IsZero() || now.Sub(s.last) >= every {
		fmt.Fprintln(s.W, line)
		s.last = now
	}
}

// Done ends the live line so that later output starts on a fresh line.
func (s *Status) Done() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Term && s.drawn > 0 {
		fmt.Fprintln(s.W)
		s.drawn = 0
	}
}

// Table writes rows as aligned columns; the first row is the header.
func Table(w io.Writer, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

// Seconds formats a duration in seconds with a unit that suits its size:
// µs below a millisecond, ms (3 significant digits) below a second, s
// above; 0 is "0" and NaN "-".
func Seconds(s float64) string {
	switch {
	case math.IsNaN(s):
		return "-"
	case s == 0:
		return "0"
	case s < 0.001:
		return fmt.Sprintf("%.0fµs", s*1e6)
	case s < 1:
		return fmt.Sprintf("%.3gms", s*1000)
	}
	return fmt.Sprintf("%.3gs", s)
}
