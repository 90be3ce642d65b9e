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
Usage: include "widget-op.timing" . | fromJson
*/}}
{{- define "widget-op.timing" -}}
{{- $t := .Values.timeouts }}
{{- $ns := dict }}
{{- range $key := list "readHeader" "read" "handler" "write" "idle" "drainDelay" "shutdown" "telemetryFlush" }}
{{- $_ := set $ns $key (include "widget-op.durationNs" (list (printf "timeouts.%s" $key) (get $t $key)) | int64) }}
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
{{- fail (printf "terminationGracePeriodSeconds %d is too short: preStop %ds + drain %s + shutdown %s + flush %s + margin %ds = %s -> at least %d (or 0 to derive it)" $grace $preStop (include "widget-op.seconds" (add (mul $drainSec 1000000000) $drainRem)) (include "widget-op.seconds" $ns.shutdown) (include "widget-op.seconds" $ns.telemetryFlush) $margin $total $need) }}
{{- end }}
{{- dict "grace" (toString $grace) "drainDelay" $drain "preStop" $native "sleep" $sleep | toJson }}
{{- end }}

{{/*
gosmith.checkAutoscaling: the HPA measures CPU utilisation as a percentage of the CPU request, so
autoscaling.enabled needs resources.requests.cpu (non-zero), and minReplicas <= maxReplicas.
*/}}
{{- define "widget-op.checkAutoscaling" -}}
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
{{- define "widget-op.checkRuntime" -}}
{{- $ratio := toString .Values.runtime.gomemlimitRatio }}
{{- if not (regexMatch "^0\\.(5[0-9]{0,2}|[6-8][0-9]{0,2}|9|9[0-4][0-9]?|950?)$" $ratio) }}
{{- fail (printf "runtime.gomemlimitRatio %s must be a decimal from 0.5 to 0.95 with at most 3 decimals (the service refuses anything else)" $ratio) }}
{{- end }}
{{- end }}

{{/*
gosmith.quantity: a Kubernetes quantity (500m, 1.5, 2Gi, 1e3, 100M) as a float64 string, for comparisons.
Usage: include "widget-op.quantity" "500m" | float64
*/}}
{{- define "widget-op.quantity" -}}
{{- $s := toString . }}
{{- $num := regexFind "^[+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)" $s }}
{{- $suffix := trimPrefix $num $s }}
{{- $scale := dict "" 1.0 "m" 0.001 "k" 1e3 "M" 1e6 "G" 1e9 "T" 1e12 "P" 1e15 "E" 1e18 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "Pi" 1125899906842624.0 "Ei" 1152921504606846976.0 }}
{{- if hasKey $scale $suffix }}
{{- mulf (float64 $num) (get $scale $suffix) }}
{{- else if regexMatch "^[eE][+-]?[0-9]+$" $suffix }}
{{- float64 $s }}
{{- else }}
{{- fail (printf "%q is not a Kubernetes quantity" $s) }}
{{- end }}
{{- end }}

{{/*
gosmith.checkValues: combinations that the schema cannot express and the API server (or the service)
would reject late, after a partial install. Each failure names the values involved.
*/}}
{{- define "widget-op.checkValues" -}}
{{- $v := .Values }}
{{- $errs := list }}
{{- if eq (int $v.ports.http) (int $v.ports.admin) }}
{{- $errs = append $errs (printf "ports.http and ports.admin must differ (both %d): the app and admin listeners cannot share a port" (int $v.ports.http)) }}
{{- end }}
{{- if eq (int $v.service.port) (int $v.service.metricsPort) }}
{{- $errs = append $errs (printf "service.port and service.metricsPort must differ (both %d): a Service cannot publish one port twice" (int $v.service.port)) }}
{{- end }}
{{- $res := $v.resources | default dict }}
{{- range $name, $req := ($res.requests | default dict) }}
{{- $lim := dig $name "" ($res.limits | default dict) }}
{{- if and (ne (toString $lim) "") (gt (include "widget-op.quantity" $req | float64) (include "widget-op.quantity" $lim | float64)) }}
{{- $errs = append $errs (printf "resources.requests.%s %v must not exceed resources.limits.%s %v" $name $req $name $lim) }}
{{- end }}
{{- end }}
{{- $surge := toString $v.strategy.maxSurge }}
{{- $unavail := toString $v.strategy.maxUnavailable }}
{{- if and (regexMatch "^0%?$" $surge) (regexMatch "^0%?$" $unavail) }}
{{- $errs = append $errs "strategy.maxSurge and strategy.maxUnavailable must not both be 0: a rolling update could never make progress" }}
{{- end }}
{{- range $i, $t := $v.tolerations }}
{{- if and (eq (toString $t.operator) "Exists") (ne (toString ($t.value | default "")) "") }}
{{- $errs = append $errs (printf "tolerations[%d]: operator Exists matches any value, so value must be empty (got %q)" $i $t.value) }}
{{- end }}
{{- if and (eq (toString ($t.key | default "")) "") (ne (toString ($t.operator | default "Equal")) "Exists") }}
{{- $errs = append $errs (printf "tolerations[%d]: an empty key needs operator Exists" $i) }}
{{- end }}
{{- if and $t.tolerationSeconds (ne (toString ($t.effect | default "")) "NoExecute") }}
{{- $errs = append $errs (printf "tolerations[%d]: tolerationSeconds needs effect NoExecute" $i) }}
{{- end }}
{{- end }}
{{- range $key := list "app.kubernetes.io/name" "app.kubernetes.io/instance" }}
{{- if hasKey ($v.podLabels | default dict) $key }}
{{- $errs = append $errs (printf "podLabels must not set %s: it is a selector label of the Deployment (the pods would no longer match it)" $key) }}
{{- end }}
{{- end }}
{{- if $errs }}
{{- fail (join "; " $errs) }}
{{- end }}
{{- end }}

{{/*
gosmith.cidr: return a CIDR unchanged, or fail naming its key when the API server would reject it:
IPv4 octets 0-255 and prefix 0-32, IPv6 hextets and prefix 0-128, and no address bits set beyond the
prefix (10.1.2.3/8 is refused: write 10.0.0.0/8).
Usage: include "widget-op.cidr" (list "networkPolicy.extraEgress[0].cidr" "10.0.0.0/8")
*/}}
{{- define "widget-op.cidr" -}}
{{- $key := index . 0 }}
{{- $cidr := toString (index . 1) }}
{{- $v4 := "^((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])/(3[0-2]|[12]?[0-9])$" }}
{{- $v6 := "^[0-9a-fA-F:]*:[0-9a-fA-F:]*/(12[0-8]|1[01][0-9]|[1-9]?[0-9])$" }}
{{- $bits := "" }}
{{- $parts := splitList "/" $cidr }}
{{- if regexMatch $v4 $cidr }}
{{- range splitList "." (first $parts) }}
{{- $bits = printf "%s%08b" $bits (atoi .) }}
{{- end }}
{{- else if and (regexMatch $v6 $cidr) (le (len (splitList "::" (first $parts))) 2) }}
{{- $halves := splitList "::" (first $parts) }}
{{- $head := compact (splitList ":" (first $halves)) }}
{{- $tail := ternary (compact (splitList ":" (last $halves))) list (eq (len $halves) 2) }}
{{- $missing := sub 8 (add (len $head) (len $tail)) }}
{{- if or (lt $missing 0) (and (eq (len $halves) 1) (ne $missing 0)) (and (eq (len $halves) 2) (lt $missing 1)) }}
{{- fail (printf "%s %q is not a CIDR (a.b.c.d/0-32 or an IPv6 prefix /0-128)" $key $cidr) }}
{{- end }}
{{- $hex := dict "0" "0000" "1" "0001" "2" "0010" "3" "0011" "4" "0100" "5" "0101" "6" "0110" "7" "0111" "8" "1000" "9" "1001" "a" "1010" "b" "1011" "c" "1100" "d" "1101" "e" "1110" "f" "1111" }}
{{- $groups := $head }}
{{- range until (int $missing) }}
{{- $groups = append $groups "0" }}
{{- end }}
{{- range concat $groups $tail }}
{{- if not (regexMatch "^[0-9a-fA-F]{1,4}$" .) }}
{{- fail (printf "%s %q is not a CIDR (a.b.c.d/0-32 or an IPv6 prefix /0-128)" $key $cidr) }}
{{- end }}
{{- range splitList "" (printf "%4s" (lower .) | replace " " "0") }}
{{- $bits = printf "%s%s" $bits (get $hex .) }}
{{- end }}
{{- end }}
{{- else }}
{{- fail (printf "%s %q is not a CIDR (a.b.c.d/0-32 or an IPv6 prefix /0-128)" $key $cidr) }}
{{- end }}
{{- $prefix := atoi (last $parts) }}
{{- if not (regexMatch "^0*$" (substr $prefix (len $bits) $bits)) }}
{{- fail (printf "%s %q has address bits set beyond the /%d prefix (the API server refuses it): use the network address" $key $cidr $prefix) }}
{{- end }}
{{- $cidr }}
{{- end }}
