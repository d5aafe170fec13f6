{{/* Names, labels and the shared pieces of the worker and hook Job pod specs. */}}

{{- define "homing.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "homing.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Selector labels: stable across upgrades, so never the chart version. */}}
{{- define "homing.selectorLabels" -}}
app.kubernetes.io/name: {{ include "homing.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "homing.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "homing.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Worker pods also carry the queue, which the monitors copy into a `queue` label. */}}
{{- define "homing.workerSelectorLabels" -}}
{{ include "homing.selectorLabels" . }}
app.kubernetes.io/component: worker
{{- end -}}

{{- define "homing.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "homing.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "homing.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the Redis URL (and address/password for KEDA). */}}
{{- define "homing.redisSecretName" -}}
{{- if .Values.redis.existingSecret -}}
{{- .Values.redis.existingSecret -}}
{{- else -}}
{{- printf "%s-redis" (include "homing.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "homing.redisSecretKey" -}}
{{- if .root.Values.redis.existingSecret -}}{{ index .root.Values.redis.existingSecretKeys .key }}{{- else -}}{{ printf "redis-%s" .key }}{{- end -}}
{{- end -}}

{{/* The Redis URL the chart stores: the embedded Redis, or redis.url. */}}
{{- define "homing.redisUrl" -}}
{{- if .Values.redis.enabled -}}
{{- printf "redis://%s-redis:6379/0" (include "homing.fullname" .) -}}
{{- else -}}
{{- required "set redis.url, redis.existingSecret or redis.enabled=true: the workers need a Redis" .Values.redis.url -}}
{{- end -}}
{{- end -}}

{{/*
A Go duration as whole seconds, rounded up: "30s" -> 30, "1m30s" -> 90, "100ms" -> 1. The
schema allows only sums of <n>ms|s|m|h, which this sums.
*/}}
{{- define "homing.durationSeconds" -}}
{{- $ms := 0 -}}
{{- range regexFindAll "[0-9]+(ms|s|m|h)" (toString .) -1 -}}
{{- $n := int64 (regexFind "^[0-9]+" .) -}}
{{- $unit := regexFind "(ms|s|m|h)$" . -}}
{{- if eq $unit "ms" -}}{{- $ms = add $ms $n -}}
{{- else if eq $unit "s" -}}{{- $ms = add $ms (mul $n 1000) -}}
{{- else if eq $unit "m" -}}{{- $ms = add $ms (mul $n 60000) -}}
{{- else -}}{{- $ms = add $ms (mul $n 3600000) -}}{{- end -}}
{{- end -}}
{{- div (add $ms 999) 1000 -}}
{{- end -}}

{{/* terminationGracePeriodSeconds: shutdownGrace + margin, or the user's value if not lower. */}}
{{- define "homing.terminationGrace" -}}
{{- $grace := int64 (include "homing.durationSeconds" .Values.worker.shutdownGrace) -}}
{{- $derived := add $grace (int64 .Values.terminationGraceMarginSeconds) -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds -}}
{{- $derived -}}
{{- else -}}
{{- $set := int64 .Values.terminationGracePeriodSeconds -}}
{{- if lt $set $derived -}}
{{- fail (printf "terminationGracePeriodSeconds %d is lower than worker.shutdownGrace (%s) + terminationGraceMarginSeconds (%d) = %d: Kubernetes would SIGKILL workers before they hand their jobs back. Raise it, or lower worker.shutdownGrace." $set .Values.worker.shutdownGrace (int64 .Values.terminationGraceMarginSeconds) $derived) -}}
{{- end -}}
{{- $set -}}
{{- end -}}
{{- end -}}

{{- define "homing.metricsPort" -}}
{{- .Values.worker.metricsAddr | splitList ":" | last -}}
{{- end -}}

{{/* The queue settings as environment variables (worker and hook Job alike). */}}
{{- define "homing.settingsEnv" -}}
- name: HOMING_AFFINITY
  value: {{ .Values.settings.affinity | quote }}
- name: HOMING_MAX_WAITING
  value: {{ .Values.settings.maxWaiting | quote }}
- name: HOMING_PIN_TTL
  value: {{ .Values.settings.pinTtl | quote }}
- name: HOMING_MAX_ATTEMPTS
  value: {{ .Values.settings.maxAttempts | quote }}
- name: HOMING_MAX_PAYLOAD
  value: {{ .Values.settings.maxPayload | int64 | quote }}
- name: HOMING_BACKOFF_BASE
  value: {{ .Values.settings.backoffBase | quote }}
- name: HOMING_BACKOFF_MAX
  value: {{ .Values.settings.backoffMax | quote }}
- name: HOMING_MAX_WAIT
  value: {{ .Values.settings.maxWait | quote }}
- name: HOMING_VISIBILITY_TIMEOUT
  value: {{ .Values.settings.visibilityTimeout | quote }}
- name: HOMING_PARTITIONS
  value: {{ .Values.settings.partitions | int64 | quote }}
{{- end -}}

{{/*
The partitions this release's workers serve, comma-separated: worker.servePartitions (each
once), or every one of settings.partitions. Rendering fails on one the queue does not have.
*/}}
{{- define "homing.servedPartitions" -}}
{{- $n := int64 .Values.settings.partitions -}}
{{- $served := list -}}
{{- if .Values.worker.servePartitions -}}
{{- $served = splitList "," .Values.worker.servePartitions | uniq -}}
{{- else -}}
{{- range until (int $n) -}}{{- $served = append $served (toString .) -}}{{- end -}}
{{- end -}}
{{- range $served -}}
{{- if ge (int64 .) $n -}}
{{- fail (printf "worker.servePartitions names partition %s, but settings.partitions is %d (partitions 0 to %d)" . $n (sub $n 1)) -}}
{{- end -}}
{{- end -}}
{{- join "," $served -}}
{{- end -}}

{{/* Partition k's overflow stream, as homing-core's keys.rs builds it: partition 0 is the queue's own `{<queue>}`, k >= 1 is `{<queue>#k}`. */}}
{{- define "homing.overflowKey" -}}
{{- if eq (int64 .partition) 0 -}}
{{- printf "%s:{%s}:overflow" .root.Values.prefix .root.Values.queue -}}
{{- else -}}
{{- printf "%s:{%s#%d}:overflow" .root.Values.prefix .root.Values.queue (int64 .partition) -}}
{{- end -}}
{{- end -}}

{{/* Where Redis is: the URL from the Secret, the queue, and the ACL/TLS fields. */}}
{{- define "homing.redisEnv" -}}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "homing.redisSecretName" . }}
      key: {{ include "homing.redisSecretKey" (dict "root" . "key" "url") | trim }}
- name: HOMING_QUEUE
  value: {{ .Values.queue | quote }}
- name: HOMING_PREFIX
  value: {{ .Values.prefix | quote }}
- name: HOMING_LOG_FORMAT
  value: {{ .Values.worker.logFormat | quote }}
{{- if .Values.redis.cluster }}
- name: HOMING_REDIS_CLUSTER
  value: "true"
{{- end }}
{{- with .Values.redis.username }}
- name: HOMING_REDIS_USERNAME
  value: {{ . | quote }}
{{- end }}
{{- /* The password from the Secret (empty, or a missing key, means the URL's). */}}
- name: HOMING_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "homing.redisSecretName" . }}
      key: {{ include "homing.redisSecretKey" (dict "root" . "key" "password") | trim }}
      optional: true
{{- if .Values.redis.tls.caSecret }}
- name: HOMING_REDIS_CA_FILE
  value: {{ printf "/etc/homing/redis-ca/%s" .Values.redis.tls.caSecretKey | quote }}
{{- end }}
{{- if .Values.redis.tls.clientSecret }}
- name: HOMING_REDIS_CLIENT_CERT
  value: {{ printf "/etc/homing/redis-client/%s" .Values.redis.tls.clientCertSecretKey | quote }}
- name: HOMING_REDIS_CLIENT_KEY
  value: {{ printf "/etc/homing/redis-client/%s" .Values.redis.tls.clientKeySecretKey | quote }}
{{- end }}
{{- end -}}

{{/* True (non-empty) when a TLS Secret is mounted. */}}
{{- define "homing.tlsMounted" -}}
{{- if or .Values.redis.tls.caSecret .Values.redis.tls.clientSecret }}true{{ end -}}
{{- end -}}

{{- define "homing.caVolumeMount" -}}
{{- if .Values.redis.tls.caSecret }}
- name: redis-ca
  mountPath: /etc/homing/redis-ca
  readOnly: true
{{- end }}
{{- if .Values.redis.tls.clientSecret }}
- name: redis-client
  mountPath: /etc/homing/redis-client
  readOnly: true
{{- end }}
{{- end -}}

{{- define "homing.caVolume" -}}
{{- if .Values.redis.tls.caSecret }}
- name: redis-ca
  secret:
    secretName: {{ .Values.redis.tls.caSecret }}
{{- end }}
{{- if .Values.redis.tls.clientSecret }}
- name: redis-client
  secret:
    secretName: {{ .Values.redis.tls.clientSecret }}
{{- end }}
{{- end -}}
