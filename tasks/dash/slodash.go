package dash

import (
	"fmt"
	"strconv"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

const sloModelSel = `model=~"$model"`

func fmtNum(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

// sloRangeSLI is the SLI over the dashboard's time range, weighted by traffic:
// the sums of the 5-minute event rates.
func sloRangeSLI(s SLO) string {
	sel := fmt.Sprintf(`{slo="%s",%s}`, s.Name, sloModelSel)
	return fmt.Sprintf("1 - sum(sum_over_time(%s%s[%s])) / sum(sum_over_time(%s%s[%s]))", recErrors, sel, rr, recTotal, sel, rr)
}

func sloPanels(s SLO) []any {
	sel := fmt.Sprintf(`{slo="%s",%s}`, s.Name, sloModelSel)
	budget := fmtNum(s.Budget())
	var burn []q
	for _, w := range []string{"5m", "1h", "6h", "1d", "3d"} {
		burn = append(burn, q{fmt.Sprintf("%s%s / %s", RecordErrorRatio(w), sel, budget), "{{model}} ({{job}}) " + w})
	}
	return []any{
		row(s.Title + " SLO"),
		st{title: s.Title + ": SLI over the range", unit: unitRatio, thresholds: lowerLimit(s.Objective), w: 6, h: 8, decimals: ptr(3.0),
			desc: fmt.Sprintf("Objective: %s. SLI over the dashboard's time range, weighted by traffic (sums of "+
				"slo:sli_errors:rate5m and slo:sli_requests:rate5m). %s", objectiveText(s), s.Description),
			queries: []q{{sloRangeSLI(s), "SLI"}}},
		st{title: s.Title + ": error budget left", unit: unitRatio, w: 6, h: 8, decimals: ptr(1.0),
			thresholds: steps("red", 0.0, "orange", 0.25, "green"),
			desc: fmt.Sprintf("Share of the error budget (%s %% bad events) not spent over the dashboard's time range: "+
				"1 - (bad / all) / budget. Set the range to the SLO period (e.g. 7 or 28 days; Prometheus keeps 15 days by "+
				"default). Below zero the budget is overspent.", fmtNum(s.Budget()*100)),
			queries: []q{{fmt.Sprintf("1 - (1 - (%s)) / %s", sloRangeSLI(s), budget), "budget left"}}},
		ts{title: s.Title + ": SLI against the objective", unit: unitRatio, thresholds: lowerLimit(s.Objective), max: one, w: 12, h: 8,
			desc: fmt.Sprintf("Good share over 5 minutes and 1 hour (1 - slo:sli_error:ratio_rate5m / _rate1h) per model; the "+
				"dashed line is the objective (%s). Empty while there is no traffic.", objectiveText(s)),
			queries: []q{
				{fmt.Sprintf("1 - %s%s", RecordErrorRatio("5m"), sel), "{{model}} ({{job}}) 5m"},
				{fmt.Sprintf("1 - %s%s", RecordErrorRatio("1h"), sel), "{{model}} ({{job}}) 1h"},
				{fmt.Sprintf(`%s{slo="%s"}`, recObjective, s.Name), "objective"},
			}},
		ts{title: s.Title + ": burn rate", unit: unitShort, min: zero, w: 24, h: 8,
			thresholds: steps("green", 1.0, "yellow", 3.0, "orange", 6.0, "red", 14.4, "dark-red"),
			desc: "Error ratio over each window divided by the budget (1 = spending exactly the budget over the SLO period). " +
				"The alerts page at 14.4 (1h and 5m) or 6 (6h and 30m) and open a ticket at 3 (1d and 2h) or 1 (3d and 6h); " +
				"the dashed lines mark 1, 3, 6 and 14.4.",
			queries: burn},
	}
}

func sloDashboard() *dashboard.DashboardBuilder {
	b := newDashboard("llmobs-slo", "LLM SLOs", "slo",
		"Service-level objectives of every backend: availability 99.9 %, 95 % of requests with TTFT <= 2 s, 95 % of token "+
			"gaps <= 150 ms. Read from the recording rules in deploy/prometheus/rules/slo.yml (slo:*); the alerts are the SRE "+
			"workbook's multi-window, multi-burn-rate alerts.").
		WithVariable(queryVar("model", "Model", "Model of the SLI series (vLLM's model_name, Triton's model).",
			recTotal, "model", true, ""))
	items := []any{
		row("Alerts"),
		st{title: "Firing SLO alerts", unit: unitShort, thresholds: steps("green", 1.0, "red"), w: 6, h: 6,
			desc: "Number of SLO burn-rate alerts firing now (ALERTS with an slo label): LLMAvailabilityBudgetBurn, " +
				"LLMTTFTBudgetBurn, LLMITLBudgetBurn, severity page or ticket.",
			queries: []q{{fmt.Sprintf(`count(ALERTS{alertstate="firing",slo!="",%s}) or vector(0)`, sloModelSel), "firing"}}},
		alertTimeline("SLO alert state",
			"Pending and firing SLO alerts over time, per alert, severity and model (Prometheus' ALERTS series). Empty when no alert was active in the range.",
			fmt.Sprintf(`max by (alertname, severity, model, alertstate) (ALERTS{slo!="",%s})`, sloModelSel)).Span(18),
	}
	for _, s := range SLOs {
		items = append(items, sloPanels(s)...)
	}
	return addAll(b, items...)
}
