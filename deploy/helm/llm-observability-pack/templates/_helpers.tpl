{{/*
The labels of every object: part-of, instance, managed-by (what `mage k8s:delete` and
`helm uninstall` find the release's objects by) and the chart.
*/}}
{{- define "lop.labels" -}}
app.kubernetes.io/part-of: llm-observability-pack
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{/*
lop.name (list $ "suffix"): the object name <release>-<suffix>, refused (not cut) when longer
than the 63 characters Kubernetes allows.
*/}}
{{- define "lop.name" -}}
{{- $n := printf "%s-%s" (index . 0).Release.Name (index . 1) -}}
{{- if gt (len $n) 63 -}}
{{- fail (printf "object name %q is longer than 63 characters: choose a shorter release name" $n) -}}
{{- end -}}
{{- $n -}}
{{- end }}

{{/*
lop.podMonitor (dict "root" $ "key" "vllm" "name" "vllm" "m" .Values.monitors.vllm "selfNamespace" false):
one PodMonitor. It sets job (and backend, when the monitor has one) on every target, as the
compose stack's Prometheus does with its static labels.
*/}}
{{- define "lop.podMonitor" -}}
{{- $root := .root -}}
{{- $m := .m -}}
{{- $sel := $m.selector | default dict -}}
{{- if not (or $sel.matchLabels $sel.matchExpressions) -}}
{{- fail (printf "monitors.%s.selector has no matchLabels or matchExpressions: an empty selector would scrape every pod; set the labels of the %s pods" .key .key) -}}
{{- end -}}
{{- if not $m.port -}}
{{- fail (printf "monitors.%s.port is empty: set the name of the container port that serves the metrics" .key) -}}
{{- end -}}
{{- if not $m.job -}}
{{- fail (printf "monitors.%s.job is empty: the rules and dashboards need a job label" .key) -}}
{{- end -}}
{{- $labels := merge (fromYaml (include "lop.labels" $root)) ($root.Values.podMonitorLabels | default dict) }}
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata:
  name: {{ include "lop.name" (list $root .name) }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- toYaml $labels | nindent 4 }}
spec:
  selector:
    {{- toYaml $sel | nindent 4 }}
  namespaceSelector:
    {{- if .selfNamespace }}
    matchNames:
      - {{ $root.Release.Namespace }}
    {{- else }}
    {{- /* matchNames wins over the default any: true (Helm merges the user's map into it). */ -}}
    {{- $ns := default $root.Values.namespaceSelector $m.namespaceSelector }}
    {{- if $ns.matchNames }}
    matchNames:
      {{- toYaml $ns.matchNames | nindent 6 }}
    {{- else }}
    {{- toYaml $ns | nindent 4 }}
    {{- end }}
    {{- end }}
  podMetricsEndpoints:
    - port: {{ $m.port | quote }}
      path: {{ $m.path | default "/metrics" | quote }}
      {{- with $root.Values.scrapeInterval }}
      interval: {{ . | quote }}
      {{- end }}
      relabelings:
        - action: replace
          targetLabel: job
          replacement: {{ $m.job | quote }}
        {{- if $m.backend }}
        - action: replace
          targetLabel: backend
          replacement: {{ $m.backend | quote }}
        {{- end }}
        {{- if $m.backendFromPodLabel }}
        - action: replace
          sourceLabels: [{{ printf "__meta_kubernetes_pod_label_%s" ($m.backendFromPodLabel | replace "." "_" | replace "/" "_" | replace "-" "_") }}]
          targetLabel: backend
        {{- end }}
{{- end }}
