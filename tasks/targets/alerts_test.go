package targets

import (
	"strings"
	"testing"
	"time"
)

func TestAlertsTestOptions(t *testing.T) {
	s := func(v string) *string { return &v }
	d := func(v time.Duration) *time.Duration { return &v }
	if o, err := alertsTestOptions(nil, nil); err != nil || o.Severity != "page" || o.Timeout != 2*time.Minute {
		t.Errorf("defaults: %+v %v", o, err)
	}
	if o, err := alertsTestOptions(s("ticket"), d(time.Minute)); err != nil || o.Severity != "ticket" || o.Timeout != time.Minute {
		t.Errorf("ticket: %+v %v", o, err)
	}
	if _, err := alertsTestOptions(s("warning"), nil); err == nil || !strings.Contains(err.Error(), "expected page or ticket") {
		t.Errorf("bad severity: %v", err)
	}
	if _, err := alertsTestOptions(nil, d(-time.Second)); err == nil || !strings.Contains(err.Error(), "positive duration") {
		t.Errorf("bad timeout: %v", err)
	}
}
