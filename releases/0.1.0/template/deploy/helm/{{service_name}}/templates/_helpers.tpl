{{/*
Helper names follow `helm create`. They are prefixed "gosmith." instead of the chart name because
these templates are shared by every chart gosmith generates.
*/}}

{{/* Expand the name of the chart. */}}
{{- define "gosmith.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name, truncated at 63 chars (DNS-1123 label limit).
If the release name contains the chart name it is used as the full name.
*/}}
{{- define "gosmith.fullname" -}}
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
{{- define "gosmith.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Common labels. */}}
{{- define "gosmith.labels" -}}
helm.sh/chart: {{ include "gosmith.chart" . }}
{{ include "gosmith.selectorLabels" . }}
app.kubernetes.io/version: {{ (.Values.image.tag | default .Chart.AppVersion) | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels: name and instance only (immutable Deployment selector). */}}
{{- define "gosmith.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gosmith.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Name of the service account to use. */}}
{{- define "gosmith.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gosmith.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Container image reference: the digest wins over the tag; the tag defaults to the appVersion. */}}
{{- define "gosmith.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* Labels of the chart's `helm test` pod (the NetworkPolicy lets it reach both ports). */}}
{{- define "gosmith.testPodLabels" -}}
app.kubernetes.io/name: {{ printf "%s-test" (include "gosmith.name" . | trunc 58) }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: helm-test
{{- end }}

{{/* Restricted Pod Security Standard container securityContext. */}}
{{- define "gosmith.containerSecurityContext" -}}
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
Usage: include "gosmith.durationMs" "30s"
*/}}
{{- define "gosmith.durationMs" -}}
{{- $n := regexFind "^[0-9]+" . }}
{{- $unit := trimPrefix $n . }}
{{- $scale := dict "ms" 1 "s" 1000 "m" 60000 "h" 3600000 }}
{{- mul (atoi $n) (get $scale $unit) }}
{{- end }}
