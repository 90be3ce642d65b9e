{{/*
Helper names follow `helm create`, prefixed with the chart's name: Helm's named templates are global
across a parent chart and its subcharts, so two services in one umbrella chart must not share a name.
*/}}

{{/* Expand the name of the chart. */}}
{{- define "widget-op.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name, truncated at 63 chars (DNS-1123 label limit).
If the release name contains the chart name it is used as the full name.
*/}}
{{- define "widget-op.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Chart name and version as used by the chart label. */}}
{{- define "widget-op.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Common labels. */}}
{{- define "widget-op.labels" -}}
helm.sh/chart: {{ include "widget-op.chart" . | quote }}
{{ include "widget-op.selectorLabels" . }}
app.kubernetes.io/version: {{ (.Values.image.tag | default .Chart.AppVersion) | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels: name and instance only (immutable Deployment selector). */}}
{{- define "widget-op.selectorLabels" -}}
app.kubernetes.io/name: {{ include "widget-op.name" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end }}

{{/* Name of the service account to use. */}}
{{- define "widget-op.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "widget-op.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Container image reference: the digest wins over the tag; the tag defaults to the appVersion. */}}
{{- define "widget-op.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* Labels of the chart's `helm test` pod (the NetworkPolicy lets it reach both ports). */}}
{{- define "widget-op.testPodLabels" -}}
app.kubernetes.io/name: {{ printf "%s-test" (include "widget-op.name" . | trunc 58) | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/component: helm-test
{{- end }}

{{/* Restricted Pod Security Standard container securityContext. */}}
{{- define "widget-op.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
Milliseconds of a Prometheus duration restricted by the schema to "<digits><ms|s|m|h>".
Usage: include "widget-op.durationMs" "30s"
*/}}
{{- define "widget-op.durationMs" -}}
{{- $n := regexFind "^[0-9]+" . }}
{{- $unit := trimPrefix $n . }}
{{- $scale := dict "ms" 1 "s" 1000 "m" 60000 "h" 3600000 "d" 86400000 "w" 604800000 }}
{{- mul (atoi $n) (get $scale $unit) }}
{{- end }}

{{/*
Parse a Go duration string exactly the way Go's time.ParseDuration does: an optional sign, then "0"
or one or more <decimal number><unit> with units ns, us, µs (U+00B5), μs (U+03BC), ms, s, m, h
("1m30s", "1500ms", "1.5s", ".5s", "2h", "300us"); the fraction is applied with Go's arithmetic,
and a total beyond int64 nanoseconds is an overflow, as in Go. Returns JSON {"ns": "<int64>", "err": ""}
or {"ns": "0", "err": "<why Go rejects it>"}; callers use gosmith.durationNs, which fails the render.
The only value Go accepts that this rejects is exactly -9223372036854775808ns (no setting takes a
negative duration). tests/test_chart_invariants.py checks it against Go's own parser.
Usage: include "widget-op.parseDuration" "1m30s" | fromJson
*/}}
{{- define "widget-op.parseDuration" -}}
{{- $s := toString . }}
{{- $max := 9223372036854775807 }}
{{- $units := dict "ns" 1 "us" 1000 "µs" 1000 "μs" 1000 "ms" 1000000 "s" 1000000000 "m" 60000000000 "h" 3600000000000 }}
{{- $neg := false }}
{{- $err := "" }}
{{- $d := 0 }}
{{- if or (hasPrefix "-" $s) (hasPrefix "+" $s) }}
{{- $neg = hasPrefix "-" $s }}
{{- $s = substr 1 -1 $s }}
{{- end }}
{{- if eq $s "0" }}
{{- else if eq $s "" }}
{{- $err = "empty" }}
{{- else if not (regexMatch "^([0-9]*(\\.[0-9]*)?[^0-9.]+)+$" $s) }}
{{- $err = ternary "missing unit" "not a number followed by a unit" (regexMatch "[0-9.]$" $s) }}
{{- else }}
{{- range $seg := regexFindAll "[0-9]*(\\.[0-9]*)?[^0-9.]+" $s -1 }}
{{- if not $err }}
{{- $int := regexFind "^[0-9]*" $seg }}
{{- $rest := substr (len $int) -1 $seg }}
{{- $frac := "" }}
{{- $dot := hasPrefix "." $rest }}
{{- if $dot }}
{{- $rest = substr 1 -1 $rest }}
{{- $frac = regexFind "^[0-9]*" $rest }}
{{- $rest = substr (len $frac) -1 $rest }}
{{- end }}
{{- $digits := regexReplaceAll "^0+" $int "" }}
{{- if and (eq $int "") (eq $frac "") }}
{{- $err = "a unit without a number" }}
{{- else if not (hasKey $units $rest) }}
{{- $err = printf "unknown unit %q" $rest }}
{{- else if or (gt (len $digits) 19) (and (eq (len $digits) 19) (gt $digits "9223372036854775807")) }}
{{- $err = "overflow" }}
{{- else }}
{{- $unit := get $units $rest }}
{{- $v := atoi (default "0" $digits) }}
{{- if gt $v (div $max $unit) }}
{{- $err = "overflow" }}
{{- else }}
{{- $v = mul $v $unit }}
{{- /* Go: f and scale from up to 19 fraction digits, then v += uint64(float64(f) * (float64(unit) / scale)) */}}
{{- $f := 0 }}
{{- $scale := 1.0 }}
{{- $full := false }}
{{- range $c := splitList "" $frac }}
{{- if not $full }}
{{- if or (gt $f 922337203685477580) (and (eq $f 922337203685477580) (gt (atoi $c) 7)) }}
{{- $full = true }}
{{- else }}
{{- $f = add (mul $f 10) (atoi $c) }}
{{- $scale = mulf $scale 10 }}
{{- end }}
{{- end }}
{{- end }}
{{- if gt $f 0 }}
{{- $x := divf (mulf $f $unit) $scale }}
{{- if ge $x 9223372036854775807.0 }}
{{- $err = "overflow" }}
{{- else if gt (int64 $x) (sub $max $v) }}
{{- $err = "overflow" }}
{{- else }}
{{- $v = add $v (int64 $x) }}
{{- end }}
{{- end }}
{{- if $err }}
{{- else if gt $v (sub $max $d) }}
{{- $err = "overflow" }}
{{- else }}
{{- $d = add $d $v }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- if $err }}
{{- dict "ns" "0" "err" $err | toJson }}
{{- else }}
{{- dict "ns" (toString (ternary (sub 0 $d) $d $neg)) "err" "" | toJson }}
{{- end }}
{{- end }}

{{/*
Nanoseconds (as a string) of the Go duration at a values key; fails the render with a one-line
message naming the key when Go's time.ParseDuration would reject it.
Usage: include "widget-op.durationNs" (list "timeouts.read" .Values.timeouts.read) | int64
*/}}
{{- define "widget-op.durationNs" -}}
{{- $key := index . 0 }}
{{- $value := index . 1 }}
{{- $r := include "widget-op.parseDuration" $value | fromJson }}
{{- if $r.err }}
{{- fail (printf "%s %q is not a Go duration (%s): write it like 1m30s, 1500ms or 2h (units ns, us, ms, s, m, h)" $key (toString $value) $r.err) }}
{{- end }}
{{- $r.ns }}
{{- end }}

{{/*
A non-negative number of nanoseconds as seconds for messages: "8.5s", "15s", "0.0001s".
Usage: include "widget-op.seconds" 8500000000
*/}}
{{- define "widget-op.seconds" -}}
{{- $ns := int64 . }}
{{- $frac := mod $ns 1000000000 }}
{{- if eq $frac 0 }}
{{- printf "%ds" (div $ns 1000000000) }}
{{- else }}
{{- printf "%d.%ss" (div $ns 1000000000) (regexReplaceAll "0+$" (printf "%09d" $frac) "") }}
{{- end }}
{{- end }}

{{/* Name of the Service that carries the metrics port: the main one for ClusterIP, else `<fullname>-metrics`. */}}
{{- define "widget-op.metricsServiceName" -}}
{{- if eq .Values.service.type "ClusterIP" }}
{{- include "widget-op.fullname" . }}
{{- else }}
{{- printf "%s-metrics" (include "widget-op.fullname" . | trunc 55 | trimSuffix "-") }}
{{- end }}
{{- end }}
