package load

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// InvalidOutcome: only a run that ended on its own, with no error but
// broken SLOs, turns its invalidity into the command's error.
func TestInvalidOutcome(t *testing.T) {
	invalid := &Result{Finite: true, Invalid: []string{"why"}}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	bg := context.Background()
	slo := fmt.Errorf("%w: ttft", ErrSLO)
	for _, c := range []struct {
		name string
		ctx  context.Context
		res  *Result
		err  error
		want bool
	}{
		{"invalid", bg, invalid, nil, true},
		{"invalid, SLOs broken", bg, invalid, slo, true},
		{"invalid, another error", bg, invalid, errors.New("the workload"), false},
		{"invalid, canceled", canceled, invalid, nil, false},
		{"invalid, unbounded", bg, &Result{Invalid: []string{"why"}}, nil, false},
		{"valid", bg, &Result{Finite: true, Valid: true}, slo, false},
		{"no result", bg, nil, errors.New("refused"), false},
	} {
		got := InvalidOutcome(c.ctx, c.res, c.err)
		if (got != nil) != c.want || (got != nil && !errors.Is(got, ErrInvalid)) {
			t.Errorf("%s: %v", c.name, got)
		}
	}
}
