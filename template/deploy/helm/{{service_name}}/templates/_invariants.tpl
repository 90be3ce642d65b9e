{{/*
The chart's own invariants, checked for whatever values it is given (a bad combination fails
`helm template`/`install` with one line naming the values, instead of a crash-looping or SIGKILLed pod).

gosmith.timing parses every timeouts.* value as Go does, applies the checks the service's
Config.Validate makes at start (every timeout positive, drainDelay not negative, readHeader <= read,
handler < write), decides where the drain delay happens, and derives terminationGracePeriodSeconds:

  preStop sleep + drain delay + shutdown + telemetry flush + 2s margin, rounded up to whole seconds

(the rule of hooks/tuning.py, evaluated here on the deploy-time values). Exactly one drain delay runs:
  - preStopSleepSeconds > 0 on Kubernetes >= 1.30: the native preStop sleep; DRAIN_DELAY is 0s;
  - preStopSleepSeconds > 0 below 1.30 (no native sleep): the app waits that long (DRAIN_DELAY);
  - preStopSleepSeconds 0: the app waits timeouts.drainDelay.
terminationGracePeriodSeconds 0 renders the derived number; an explicit value below it fails.
Returns JSON: {"grace": "<seconds>", "drainDelay": "<DRAIN_DELAY>", "preStop": <bool>, "sleep": <seconds>}.
Usage: include "gosmith.timing" . | fromJson
*/}}
{{- define "gosmith.timing" -}}
{{- $t := .Values.timeouts }}
{{- $ns := dict }}
{{- range $key := list "readHeader" "read" "handler" "write" "idle" "drainDelay" "shutdown" "telemetryFlush" }}
{{- $_ := set $ns $key (include "gosmith.durationNs" (list (printf "timeouts.%s" $key) (get $t $key)) | int64) }}
{{- end }}
{{- $errs := list }}
{{- range $key := list "readHeader" "read" "handler" "write" "idle" "shutdown" "telemetryFlush" }}
{{- if le (get $ns $key) 0 }}
{{- $errs = append $errs (printf "timeouts.%s must be positive, got %s" $key (get $t $key)) }}
{{- end }}
{{- end }}
{{- if lt $ns.drainDelay 0 }}
{{- $errs = append $errs (printf "timeouts.drainDelay must not be negative, got %s" $t.drainDelay) }}
{{- end }}
{{- if gt $ns.readHeader $ns.read }}
{{- $errs = append $errs (printf "timeouts.readHeader %s must not exceed timeouts.read %s" $t.readHeader $t.read) }}
{{- end }}
{{- if ge $ns.handler $ns.write }}
{{- $errs = append $errs (printf "timeouts.handler %s must be below timeouts.write %s, or the handler's 503 cannot be written" $t.handler $t.write) }}
{{- end }}
{{- if $errs }}
{{- fail (join "; " $errs) }}
{{- end }}
{{- $sleep := int64 .Values.preStopSleepSeconds }}
{{- $native := and (gt $sleep 0) (semverCompare ">=1.30.0-0" .Capabilities.KubeVersion.Version) }}
{{- $drain := "" }}
{{- $drainSec := 0 }}
{{- $drainRem := 0 }}
{{- if $native }}
{{- $drain = "0s" }}
{{- else if gt $sleep 0 }}
{{- $drain = printf "%ds" $sleep }}
{{- $drainSec = $sleep }}
{{- else }}
{{- $drain = $t.drainDelay }}
{{- $drainSec = div $ns.drainDelay 1000000000 }}
{{- $drainRem = mod $ns.drainDelay 1000000000 }}
{{- end }}
{{- $preStop := ternary $sleep 0 $native }}
{{- $margin := 2 }}
{{- $sec := add $preStop $drainSec (div $ns.shutdown 1000000000) (div $ns.telemetryFlush 1000000000) $margin }}
{{- $rem := add $drainRem (mod $ns.shutdown 1000000000) (mod $ns.telemetryFlush 1000000000) }}
{{- $sec = add $sec (div $rem 1000000000) }}
{{- $rem = mod $rem 1000000000 }}
{{- $need := ternary (add $sec 1) $sec (gt $rem 0) }}
{{- $total := ternary (printf "%d.%ss" $sec (regexReplaceAll "0+$" (printf "%09d" $rem) "")) (printf "%ds" $sec) (gt $rem 0) }}
{{- $grace := int64 .Values.terminationGracePeriodSeconds }}
{{- if eq $grace 0 }}
{{- $grace = $need }}
{{- else if lt $grace $need }}
{{- fail (printf "terminationGracePeriodSeconds %d is too short: preStop %ds + drain %s + shutdown %s + flush %s + margin %ds = %s -> at least %d (or 0 to derive it)" $grace $preStop (include "gosmith.seconds" (add (mul $drainSec 1000000000) $drainRem)) (include "gosmith.seconds" $ns.shutdown) (include "gosmith.seconds" $ns.telemetryFlush) $margin $total $need) }}
{{- end }}
{{- dict "grace" (toString $grace) "drainDelay" $drain "preStop" $native "sleep" $sleep | toJson }}
{{- end }}

{{/*
gosmith.checkAutoscaling: the HPA measures CPU utilisation as a percentage of the CPU request, so
autoscaling.enabled needs resources.requests.cpu (non-zero), and minReplicas <= maxReplicas.
*/}}
{{- define "gosmith.checkAutoscaling" -}}
{{- if .Values.autoscaling.enabled }}
{{- $cpu := toString (dig "requests" "cpu" "" (.Values.resources | default dict)) }}
{{- if or (eq $cpu "") (eq $cpu "<nil>") (regexMatch "^0*(\\.0*)?[mkMGTPE]?$" $cpu) }}
{{- $got := ternary "it is not set" (printf "got %s" $cpu) (or (eq $cpu "") (eq $cpu "<nil>")) }}
{{- fail (printf "autoscaling.enabled needs resources.requests.cpu: the HPA's target of %v%% CPU is a percentage of the request (%s)" .Values.autoscaling.targetCPUUtilizationPercentage $got) }}
{{- end }}
{{- if gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas) }}
{{- fail (printf "autoscaling.minReplicas %d must not exceed autoscaling.maxReplicas %d" (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
gosmith.checkRuntime: GOMEMLIMIT_RATIO as the service parses it (0.5 to 0.95, at most 3 decimals);
the schema also admits a YAML number, whose decimals only show once it is a string.
*/}}
{{- define "gosmith.checkRuntime" -}}
{{- $ratio := toString .Values.runtime.gomemlimitRatio }}
{{- if not (regexMatch "^0\\.(5[0-9]{0,2}|[6-8][0-9]{0,2}|9|9[0-4][0-9]?|950?)$" $ratio) }}
{{- fail (printf "runtime.gomemlimitRatio %s must be a decimal from 0.5 to 0.95 with at most 3 decimals (the service refuses anything else)" $ratio) }}
{{- end }}
{{- end }}
