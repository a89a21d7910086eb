package dash

import (
	"bytes"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestScaleWindow(t *testing.T) {
	for w, want := range map[string]string{"5m": "5s", "30m": "30s", "1h": "1m", "2h": "2m", "6h": "6m", "1d": "24m", "3d": "72m", "1m": "1s", "10s": "166ms"} {
		if got := scaleWindow(w, 60); got != want {
			t.Errorf("scaleWindow(%s, 60) = %s, want %s", w, got, want)
		}
	}
}

// A time scale shortens every range and the long group's interval, keeps
// the recorded names and alerts, and the zero options give slo.yml's bytes.
func TestRulesTimeScale(t *testing.T) {
	plain, err := Rules()
	if err != nil {
		t.Fatal(err)
	}
	same, err := RulesWith(RulesOptions{TimeScale: 1})
	if err != nil || !bytes.Equal(plain, same) {
		t.Fatalf("TimeScale 1 changes the rules (%v)", err)
	}
	scaled, err := RulesWith(RulesOptions{TimeScale: 60})
	if err != nil {
		t.Fatal(err)
	}
	var a, b ruleFile
	if err := yaml.Unmarshal(plain, &a); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(scaled, &b); err != nil {
		t.Fatal(err)
	}
	if len(a.Groups) != len(b.Groups) {
		t.Fatalf("groups %d vs %d", len(a.Groups), len(b.Groups))
	}
	for i := range a.Groups {
		ga, gb := a.Groups[i], b.Groups[i]
		if ga.Interval == "1m" && gb.Interval != "1s" {
			t.Errorf("group %s interval %q, want 1s", gb.Name, gb.Interval)
		}
		for j := range ga.Rules {
			ra, rb := ga.Rules[j], gb.Rules[j]
			if ra.Record != rb.Record || ra.Alert != rb.Alert {
				t.Errorf("rule %d of %s renamed: %s%s vs %s%s", j, ga.Name, ra.Record, ra.Alert, rb.Record, rb.Alert)
			}
			for _, long := range []string{"[5m]", "[30m]", "[1h]", "[2h]", "[6h]", "[1d]", "[3d]"} {
				if strings.Contains(rb.Expr, long) {
					t.Errorf("%s%s still has %s", rb.Record, rb.Alert, long)
				}
			}
			if ra.Record == RecordErrorRatio("1h") && !strings.Contains(rb.Expr, "[1m]") {
				t.Errorf("1h window not scaled to 1m: %.200s", rb.Expr)
			}
			if ra.Alert != "" && ra.Expr != rb.Expr {
				t.Errorf("alert %s changed: alerts read the recorded names only", ra.Alert)
			}
		}
	}
}
