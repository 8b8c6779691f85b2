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
Name of the Secret holding REDIS_URL (or REDIS_CLUSTER_NODES, or REDIS_SENTINELS and
REDIS_SENTINEL_PASSWORD), AMQP_URL and PULSE_PASSWORD
(AUTH_JWT_SECRET has its own, below).
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
"true" when the release runs on a Redis Sentinel group (REDIS_SENTINELS instead of REDIS_URL).
*/}}
{{- define "events-proxy.onRedisSentinel" -}}
{{- if .Values.existingSecret.name }}
{{- if .Values.existingSecret.keys.redisSentinels }}true{{ end }}
{{- else if .Values.redis.sentinels }}true
{{- end }}
{{- end }}

{{/*
Chart-time checks of the Redis values: one kind of Redis, and what a Sentinel group needs.
*/}}
{{- define "events-proxy.validateRedis" -}}
{{- $r := .Values.redis }}
{{- $keys := .Values.existingSecret.keys }}
{{- if .Values.existingSecret.name }}
{{- if and $keys.redisClusterNodes $keys.redisSentinels }}
{{- fail "existingSecret.keys.redisClusterNodes and existingSecret.keys.redisSentinels are both set: a release uses a Redis Cluster (REDIS_CLUSTER_NODES), a Redis Sentinel group (REDIS_SENTINELS) or a standalone Redis (existingSecret.keys.redisUrl), exactly one" }}
{{- end }}
{{- if $r.sentinelPassword }}
{{- fail "redis.sentinelPassword goes into the chart's Secret, which is not rendered when existingSecret.name is set: put the sentinels' password into your Secret and set existingSecret.keys.redisSentinelPassword" }}
{{- end }}
{{- else }}
{{- if and $r.clusterNodes $r.sentinels }}
{{- fail "redis.clusterNodes and redis.sentinels are both set: set redis.clusterNodes for a Redis Cluster, redis.sentinels (with redis.sentinelMaster) for a Redis Sentinel group, or neither and redis.url for a standalone Redis" }}
{{- end }}
{{- if and $r.sentinelPassword (not $r.sentinels) }}
{{- fail "redis.sentinelPassword is the sentinels' own password: set redis.sentinels (and redis.sentinelMaster) too, or leave it empty" }}
{{- end }}
{{- end }}
{{- if and (include "events-proxy.onRedisSentinel" .) (not $r.sentinelMaster) }}
{{- fail "redis.sentinelMaster (REDIS_SENTINEL_MASTER) is required with redis.sentinels or existingSecret.keys.redisSentinels: the name the sentinels monitor the master under (Bitnami's redis chart: sentinel.masterSet, \"mymaster\")" }}
{{- end }}
{{- end }}

{{/*
A number (or a decimal string, as `--set` passes 0.5) as a decimal without an exponent for whole
numbers: 1000000, not Go's 1e+06.
*/}}
{{- define "events-proxy.decimal" -}}
{{- if eq (float64 .) (float64 (int64 .)) }}
{{- int64 . | toString }}
{{- else }}
{{- toString . }}
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
{{- if include "events-proxy.onRedisSentinel" . }}
REDIS_SENTINEL_MASTER: {{ .Values.redis.sentinelMaster | quote }}
{{- end }}
BUS_DRIVER: {{ eq (include "events-proxy.onRedisCluster" .) "true" | ternary "redis-sharded" .Values.config.busDriver | quote }}
BINDING_LEASE_SECONDS: {{ .Values.config.bindingLeaseSeconds | int64 | toString | quote }}
HISTORY_SECONDS: {{ .Values.config.historySeconds | int64 | toString | quote }}
HISTORY_MAX_MESSAGES: {{ .Values.config.historyMaxMessages | int64 | toString | quote }}
REDIS_HEALTH_TIMEOUT_SECONDS: {{ .Values.config.redisHealthTimeoutSeconds | int64 | toString | quote }}
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
INGEST_HANDOFF_SECONDS: {{ .handoffSeconds | int64 | toString | quote }}
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
BUS_LOSS_GRACE_SECONDS: {{ .busLossGraceSeconds | int64 | toString | quote }}
REBALANCE_TOLERANCE: {{ include "events-proxy.decimal" .rebalanceTolerance | quote }}
REBALANCE_RATE_PER_SECOND: {{ .rebalanceRatePerSecond | int64 | toString | quote }}
MAX_STREAM_SECONDS: {{ .maxStreamSeconds | int64 | toString | quote }}
MAX_REQUEST_HEADER_BYTES: {{ .maxRequestHeaderBytes | int64 | toString | quote }}
HEADERS_TIMEOUT_SECONDS: {{ .headersTimeoutSeconds | int64 | toString | quote }}
LISTEN_BACKLOG: {{ .listenBacklog | int64 | toString | quote }}
SSE_RETRY_MS: {{ .sseRetryMs | int64 | toString | quote }}
INSPECTOR_ENABLED: {{ .inspectorEnabled | toString | quote }}
TRUST_PROXY: {{ .trustProxy | toString | quote }}
MAX_STREAMS_PER_IP: {{ .maxStreamsPerIp | int64 | toString | quote }}
MAX_STREAMS_PER_SUBJECT: {{ .maxStreamsPerSubject | int64 | toString | quote }}
CONNECT_RATE_PER_IP: {{ include "events-proxy.decimal" .connectRatePerIp | quote }}
CONNECT_BURST_PER_IP: {{ .connectBurstPerIp | int64 | toString | quote }}
CLIENT_LEASE_SECONDS: {{ .clientLeaseSeconds | int64 | toString | quote }}
{{- end }}
{{- with .Values.auth }}
AUTH_MODE: {{ .mode | quote }}
AUTH_COOKIE_NAME: {{ .cookieName | quote }}
AUTH_CLOCK_SKEW_SECONDS: {{ .clockSkewSeconds | int64 | toString | quote }}
AUTH_JWT_KEYS_RELOAD_SECONDS: {{ .keysReloadSeconds | int64 | toString | quote }}
{{- if .jwtIssuer }}
AUTH_JWT_ISSUER: {{ .jwtIssuer | quote }}
{{- end }}
{{- if .jwtAudience }}
AUTH_JWT_AUDIENCE: {{ .jwtAudience | quote }}
{{- end }}
{{- end }}
{{- with include "events-proxy.jwksFile" . }}
AUTH_JWT_PUBLIC_KEYS_FILE: {{ . | quote }}
{{- end }}
{{- end }}

{{/*
Access control (edge only). The key sources count only with auth.mode=jwt.
*/}}
{{- define "events-proxy.authJwt" -}}
{{- if eq (toString .Values.auth.mode) "jwt" }}true{{ end }}
{{- end }}

{{/*
Directory the JWKS Secret is mounted on, and the file AUTH_JWT_PUBLIC_KEYS_FILE names (empty when
no public keys are configured).
*/}}
{{- define "events-proxy.jwksDir" -}}
/etc/events-proxy/jwt-public-keys
{{- end }}

{{- define "events-proxy.jwksFile" -}}
{{- if and (include "events-proxy.authJwt" .) .Values.auth.publicKeys.existingSecret }}
{{- printf "%s/%s" (include "events-proxy.jwksDir" .) .Values.auth.publicKeys.key }}
{{- end }}
{{- end }}

{{/*
Where AUTH_JWT_SECRET comes from: "existing" (auth.existingSecret), "chart" (auth.jwtSecret in the
chart's Secret) or empty.
*/}}
{{- define "events-proxy.jwtSecretSource" -}}
{{- if include "events-proxy.authJwt" . }}
{{- if .Values.auth.existingSecret.name }}existing
{{- else if .Values.auth.jwtSecret }}chart
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart-time checks of the auth values, with messages naming the values to fix.
*/}}
{{- define "events-proxy.validateAuth" -}}
{{- $a := .Values.auth }}
{{- $mode := toString $a.mode }}
{{- if not (has $mode (list "none" "jwt")) }}
{{- fail (printf "auth.mode must be \"none\" or \"jwt\", not %q" $mode) }}
{{- end }}
{{- if eq $mode "jwt" }}
{{- if not (or $a.jwtSecret $a.existingSecret.name $a.publicKeys.existingSecret) }}
{{- fail "auth.mode=jwt needs a key to check tokens with: set auth.jwtSecret or auth.existingSecret.name (HS256 secret), and/or auth.publicKeys.existingSecret (a Secret holding a JWKS of RS256/ES256 public keys)" }}
{{- end }}
{{- if and $a.jwtSecret $a.existingSecret.name }}
{{- fail "set auth.jwtSecret or auth.existingSecret.name, not both: both would be AUTH_JWT_SECRET" }}
{{- end }}
{{- if and $a.jwtSecret .Values.existingSecret.name }}
{{- fail "auth.jwtSecret goes into the chart's Secret, which is not rendered when existingSecret.name is set: put the HS256 secret into a Secret you manage and set auth.existingSecret.name (and auth.existingSecret.secretKey)" }}
{{- end }}
{{- if and $a.jwtSecret (lt (len (toString $a.jwtSecret)) 32) }}
{{- fail "auth.jwtSecret (AUTH_JWT_SECRET) must be at least 32 bytes" }}
{{- end }}
{{- if and $a.existingSecret.name (not $a.existingSecret.secretKey) }}
{{- fail "auth.existingSecret.secretKey must name the key holding the HS256 secret" }}
{{- end }}
{{- if and $a.publicKeys.existingSecret (not $a.publicKeys.key) }}
{{- fail "auth.publicKeys.key must name the key holding the JWKS" }}
{{- end }}
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
{{- else if $v.existingSecret.keys.redisSentinels }}
REDIS_SENTINELS: {{ $v.existingSecret.keys.redisSentinels | quote }}
{{- if $v.existingSecret.keys.redisSentinelPassword }}
REDIS_SENTINEL_PASSWORD: {{ $v.existingSecret.keys.redisSentinelPassword | quote }}
{{- end }}
{{- else }}
REDIS_URL: {{ required "existingSecret.keys.redisUrl is required (or existingSecret.keys.redisClusterNodes, or existingSecret.keys.redisSentinels)" $v.existingSecret.keys.redisUrl | quote }}
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
{{- else if $v.redis.sentinels }}
REDIS_SENTINELS: REDIS_SENTINELS
{{- if $v.redis.sentinelPassword }}
REDIS_SENTINEL_PASSWORD: REDIS_SENTINEL_PASSWORD
{{- end }}
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
{{- if eq .component "edge" }}
{{- $jwtSource := include "events-proxy.jwtSecretSource" $ctx }}
{{- if eq $jwtSource "existing" }}
- name: AUTH_JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ $ctx.Values.auth.existingSecret.name }}
      key: {{ $ctx.Values.auth.existingSecret.secretKey }}
{{- else if eq $jwtSource "chart" }}
- name: AUTH_JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "events-proxy.fullname" $ctx }}
      key: AUTH_JWT_SECRET
{{- end }}
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
