{{/*
Chart name, truncated to the 63 characters a label value allows.
*/}}
{{- define "events-proxy.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name, the prefix of every resource name. Room is left for the "-ingest" suffix.
*/}}
{{- define "events-proxy.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 56 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 56 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 56 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "events-proxy.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every resource.
*/}}
{{- define "events-proxy.labels" -}}
helm.sh/chart: {{ include "events-proxy.chart" . }}
app.kubernetes.io/name: {{ include "events-proxy.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: events-proxy
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Selector labels of the whole release (both tiers).
*/}}
{{- define "events-proxy.selectorLabels" -}}
app.kubernetes.io/name: {{ include "events-proxy.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels and selector labels of one tier. Call with (dict "ctx" $ "component" "edge").
*/}}
{{- define "events-proxy.componentLabels" -}}
{{ include "events-proxy.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "events-proxy.componentSelectorLabels" -}}
{{ include "events-proxy.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "events-proxy.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "events-proxy.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "events-proxy.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Name of the Secret holding REDIS_URL (or REDIS_CLUSTER_NODES), AMQP_URL and PULSE_PASSWORD.
*/}}
{{- define "events-proxy.secretName" -}}
{{- default (include "events-proxy.fullname" .) .Values.existingSecret.name }}
{{- end }}

{{/*
"true" when the release runs on a Redis Cluster (REDIS_CLUSTER_NODES instead of REDIS_URL).
*/}}
{{- define "events-proxy.onRedisCluster" -}}
{{- if .Values.existingSecret.name }}
{{- if .Values.existingSecret.keys.redisClusterNodes }}true{{ end }}
{{- else if .Values.redis.clusterNodes }}true
{{- end }}
{{- end }}

{{/*
A list value (or comma string) as a comma-separated string.
*/}}
{{- define "events-proxy.commaList" -}}
{{- if kindIs "slice" . }}
{{- join "," . }}
{{- else }}
{{- toString . }}
{{- end }}
{{- end }}

{{/*
Non-secret environment of each tier: the data of its ConfigMap, one "NAME: value" per line.
Variables only one tier reads are only in that tier's map.
*/}}
{{- define "events-proxy.sharedConfig" -}}
KEY_PREFIX: {{ .Values.config.keyPrefix | toString | quote }}
BUS_DRIVER: {{ eq (include "events-proxy.onRedisCluster" .) "true" | ternary "redis-sharded" .Values.config.busDriver | quote }}
BINDING_LEASE_SECONDS: {{ .Values.config.bindingLeaseSeconds | int64 | toString | quote }}
HISTORY_SECONDS: {{ .Values.config.historySeconds | int64 | toString | quote }}
HISTORY_MAX_MESSAGES: {{ .Values.config.historyMaxMessages | int64 | toString | quote }}
METRICS_PORT: {{ .Values.config.metricsPort | int64 | toString | quote }}
LOG_LEVEL: {{ .Values.config.logLevel | quote }}
{{- end }}

{{- define "events-proxy.ingestConfig" -}}
{{ include "events-proxy.sharedConfig" . }}
{{- with .Values.ingest.config }}
{{- if .queue }}
AMQP_QUEUE: {{ .queue | quote }}
{{- end }}
AMQP_PREFETCH: {{ .prefetch | int64 | toString | quote }}
AMQP_QUEUE_MAX_LENGTH: {{ .queueMaxLength | int64 | toString | quote }}
AMQP_QUEUE_MESSAGE_TTL_SECONDS: {{ .queueMessageTtlSeconds | int64 | toString | quote }}
AMQP_SINGLE_ACTIVE_CONSUMER: {{ .singleActiveConsumer | toString | quote }}
AMQP_QUEUE_TYPE: {{ .queueType | quote }}
AMQP_RECONNECT_MAX_DELAY_SECONDS: {{ .reconnectMaxDelaySeconds | toString | quote }}
BIND_CONCURRENCY: {{ .bindConcurrency | int64 | toString | quote }}
MAX_MESSAGE_BYTES: {{ .maxMessageBytes | int64 | toString | quote }}
{{- end }}
{{- with .Values.amqp.pulse }}
{{- if .username }}
PULSE_USERNAME: {{ .username | quote }}
{{- end }}
{{- if .hostname }}
PULSE_HOSTNAME: {{ .hostname | quote }}
{{- end }}
{{- if .vhost }}
PULSE_VHOST: {{ .vhost | quote }}
{{- end }}
{{- end }}
{{- end }}

{{- define "events-proxy.edgeConfig" -}}
{{ include "events-proxy.sharedConfig" . }}
{{- with .Values.edge.config }}
PORT: {{ .port | int64 | toString | quote }}
PING_INTERVAL_SECONDS: {{ .pingIntervalSeconds | int64 | toString | quote }}
IDLE_TIMEOUT_SECONDS: {{ .idleTimeoutSeconds | int64 | toString | quote }}
MAX_BINDINGS_PER_CONNECTION: {{ .maxBindingsPerConnection | int64 | toString | quote }}
MAX_CONNECTIONS: {{ .maxConnections | int64 | toString | quote }}
ALLOWED_EXCHANGE_PREFIXES: {{ include "events-proxy.commaList" .allowedExchangePrefixes | quote }}
CORS_ORIGINS: {{ include "events-proxy.commaList" .corsOrigins | quote }}
BIND_TIMEOUT_SECONDS: {{ .bindTimeoutSeconds | int64 | toString | quote }}
MAX_BUFFERED_BYTES: {{ .maxBufferedBytes | int64 | toString | quote }}
DRAIN_SECONDS: {{ .drainSeconds | int64 | toString | quote }}
MAX_REQUEST_HEADER_BYTES: {{ .maxRequestHeaderBytes | int64 | toString | quote }}
HEADERS_TIMEOUT_SECONDS: {{ .headersTimeoutSeconds | int64 | toString | quote }}
LISTEN_BACKLOG: {{ .listenBacklog | int64 | toString | quote }}
SSE_RETRY_MS: {{ .sseRetryMs | int64 | toString | quote }}
INSPECTOR_ENABLED: {{ .inspectorEnabled | toString | quote }}
{{- end }}
{{- end }}

{{/*
Secret environment of each tier as "NAME: key-in-secret" lines. Call with (dict "ctx" $ "component" "edge").
*/}}
{{- define "events-proxy.secretEnv" -}}
{{- $v := .ctx.Values }}
{{- if $v.existingSecret.name }}
{{- if $v.existingSecret.keys.redisClusterNodes }}
REDIS_CLUSTER_NODES: {{ $v.existingSecret.keys.redisClusterNodes | quote }}
{{- else }}
REDIS_URL: {{ required "existingSecret.keys.redisUrl is required (or existingSecret.keys.redisClusterNodes)" $v.existingSecret.keys.redisUrl | quote }}
{{- end }}
{{- if eq .component "ingest" }}
{{- if $v.existingSecret.keys.amqpUrl }}
AMQP_URL: {{ $v.existingSecret.keys.amqpUrl | quote }}
{{- end }}
{{- if $v.existingSecret.keys.pulsePassword }}
PULSE_PASSWORD: {{ $v.existingSecret.keys.pulsePassword | quote }}
{{- end }}
{{- end }}
{{- else }}
{{- if $v.redis.clusterNodes }}
REDIS_CLUSTER_NODES: REDIS_CLUSTER_NODES
{{- else }}
REDIS_URL: REDIS_URL
{{- end }}
{{- if eq .component "ingest" }}
{{- if $v.amqp.url }}
AMQP_URL: AMQP_URL
{{- end }}
{{- if $v.amqp.pulse.password }}
PULSE_PASSWORD: PULSE_PASSWORD
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The container's env: every ConfigMap key by reference (so `kubectl describe` names each
variable), then the secrets, then extraEnv. Call with (dict "ctx" $ "component" "edge").
*/}}
{{- define "events-proxy.env" -}}
{{- $ctx := .ctx }}
{{- $cm := printf "%s-%s" (include "events-proxy.fullname" $ctx) .component }}
{{- $config := fromYaml (include (printf "events-proxy.%sConfig" .component) $ctx) }}
{{- range $name, $_ := $config }}
- name: {{ $name }}
  valueFrom:
    configMapKeyRef:
      name: {{ $cm }}
      key: {{ $name }}
{{- end }}
{{- $secret := include "events-proxy.secretName" $ctx }}
{{- range $name, $key := fromYaml (include "events-proxy.secretEnv" .) }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $key }}
{{- end }}
{{- with (index $ctx.Values .component).extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Probes on the metrics port. Call with (dict "ctx" $ "component" "edge").
*/}}
{{- define "events-proxy.probes" -}}
{{- $probes := (index .ctx.Values .component).probes }}
startupProbe:
  httpGet:
    path: /healthz
    port: metrics
  {{- toYaml $probes.startup | nindent 2 }}
readinessProbe:
  httpGet:
    path: /readyz
    port: metrics
  {{- toYaml $probes.readiness | nindent 2 }}
livenessProbe:
  httpGet:
    path: /healthz
    port: metrics
  {{- toYaml $probes.liveness | nindent 2 }}
{{- end }}

{{/*
Topology spread constraints; entries without a labelSelector get the tier's selector labels.
*/}}
{{- define "events-proxy.topologySpread" -}}
{{- $selector := fromYaml (include "events-proxy.componentSelectorLabels" .) }}
{{- $out := list }}
{{- range (index .ctx.Values .component).topologySpreadConstraints }}
{{- $c := deepCopy . }}
{{- if not (hasKey $c "labelSelector") }}
{{- $_ := set $c "labelSelector" (dict "matchLabels" $selector) }}
{{- end }}
{{- $out = append $out $c }}
{{- end }}
{{- if $out }}
{{- toYaml $out }}
{{- end }}
{{- end }}

{{/*
Edge grace period: preStop sleep, then DRAIN_SECONDS of draining, then a margin.
*/}}
{{- define "events-proxy.edgeTerminationGracePeriodSeconds" -}}
{{- add (int64 .Values.edge.preStopSleepSeconds) (int64 .Values.edge.config.drainSeconds) (int64 .Values.edge.terminationGraceMarginSeconds) }}
{{- end }}

{{/*
Label matchers selecting this release's series in alert rules.
*/}}
{{- define "events-proxy.ruleSelector" -}}
{{- if .Values.metrics.prometheusRule.selector }}
{{- .Values.metrics.prometheusRule.selector }}
{{- else }}
{{- printf "namespace=%q,job=~%q" .Release.Namespace (printf "%s-(edge|ingest)" (include "events-proxy.fullname" .)) }}
{{- end }}
{{- end }}
