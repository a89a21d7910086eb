package targets

import (
	"errors"
	"testing"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/load"
)

// An invalid load run ends the target with exit status 4, its reasons as
// the message.
func TestInvalidRunExitStatus(t *testing.T) {
	ierr := (&load.Result{Invalid: []string{"the generator was short of CPU"}}).InvalidError()
	var err error = &InvalidRunError{Err: ierr}
	var st interface{ ExitStatus() int }
	if !errors.As(err, &st) || st.ExitStatus() != 4 || !errors.Is(err, load.ErrInvalid) || err.Error() != ierr.Error() {
		t.Errorf("%v: exit status %v", err, st)
	}
}
