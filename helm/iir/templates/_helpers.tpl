{{/*
Helpers shared by every template. The chart keeps to a small set of template functions (include,
required, default, quote, toYaml, nindent, indent, printf, trunc, trimSuffix, contains, eq, ne, not,
and, or, add, sha256sum, and .Files.Get): test/helm-chart.test.ts renders it with an interpreter that knows no others.
*/}}

{{/*
<release>-iir (or the release name alone when it already says iir), leaving room in 63 characters
for the longest "-<role>" suffix.
*/}}
{{- define "iir.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 54 | trimSuffix "-" -}}
{{- else if contains (default .Chart.Name .Values.nameOverride) .Release.Name -}}
{{- .Release.Name | trunc 54 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (default .Chart.Name .Values.nameOverride) | trunc 54 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "iir.labels" -}}
app.kubernetes.io/name: {{ default .Chart.Name .Values.nameOverride | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | quote }}
{{- end -}}

{{- define "iir.selectorLabels" -}}
app.kubernetes.io/name: {{ default .Chart.Name .Values.nameOverride | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end -}}

{{- define "iir.image" -}}
{{ printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) | quote }}
{{- end -}}

{{/* The Secret the chart makes for values given inline (tokens, URLs with passwords). */}}
{{- define "iir.secretName" -}}
{{ include "iir.fullname" . }}-secrets
{{- end -}}

{{/* http or https, as every mesh hop speaks when tls.existingSecret is set. */}}
{{- define "iir.meshScheme" -}}
{{ if .Values.tls.existingSecret }}https{{ else }}http{{ end }}
{{- end -}}

{{- define "iir.routerUrl" -}}
{{ include "iir.meshScheme" . }}://{{ include "iir.fullname" . }}-router.{{ .Release.Namespace }}.svc:{{ .Values.router.port }}
{{- end -}}

{{/* IIR's own stop takes up to the grace period plus 5 s; the pod gets the preStop sleep and 10 s more. */}}
{{- define "iir.terminationGracePeriodSeconds" -}}
{{ add .Values.preStopSleepSeconds .Values.shutdownGraceSeconds 10 }}
{{- end -}}

{{/* Whether the router pods run `iir seed` first: llmd.models or seedModels are given. */}}
{{- define "iir.seeding" -}}
{{ if or .Values.llmd.models .Values.seedModels }}true{{ end }}
{{- end -}}

{{/* The non-secret environment of every role: the ConfigMap's data, hashed into pod annotations. */}}
{{- define "iir.configData" -}}
LOG_LEVEL: {{ .Values.logLevel | quote }}
IIR_SHUTDOWN_GRACE: {{ .Values.shutdownGraceSeconds | quote }}
IIR_REQUIRE_AUTH: {{ .Values.requireApiKey | quote }}
IIR_HOST: "0.0.0.0"
IIR_FACADE_PORT: {{ .Values.facade.port | quote }}
IIR_ROUTER_URL: {{ include "iir.routerUrl" . | quote }}
IIR_ROUTER_HOST: "0.0.0.0"
IIR_ROUTER_PORT: {{ .Values.router.port | quote }}
IIR_ROUTER_METRICS_PORT: {{ .Values.router.metricsPort | quote }}
SQLITE_DB_PATH: "/var/lib/iir/iir.db"
{{- if .Values.otlpEndpoint }}
OTEL_EXPORTER_OTLP_ENDPOINT: {{ .Values.otlpEndpoint | quote }}
{{- end }}
{{- if .Values.llmd.baseUrl }}
LLMD_ENDPOINT: {{ .Values.llmd.baseUrl | quote }}
{{- end }}
{{- range $name, $url := .Values.providers.baseUrls }}
{{ $name }}: {{ $url | quote }}
{{- end }}
{{- if .Values.tls.existingSecret }}
IIR_TLS_CERT: "/etc/iir/tls/tls.crt"
IIR_TLS_KEY: "/etc/iir/tls/tls.key"
{{- if .Values.tls.mutual }}
IIR_TLS_CA: "/etc/iir/tls/ca.crt"
{{- end }}
{{- end }}
{{- if .Values.agent.enabled }}
IIR_AGENT_HOST: "0.0.0.0"
IIR_AGENT_PORT: {{ .Values.agent.port | quote }}
ROUTER_URL: {{ include "iir.routerUrl" . | quote }}
IIR_AGENT_THREADS: {{ .Values.agent.threads | quote }}
IIR_AGENT_PARALLEL: {{ .Values.agent.parallel | quote }}
IIR_AGENT_MAX_QUEUE: {{ .Values.agent.maxQueue | quote }}
IIR_AGENT_CONTEXT_SIZE: {{ .Values.agent.contextSize | quote }}
IIR_AGENT_GPU: {{ .Values.agent.gpu.enabled | quote }}
IIR_TINY_MODEL_PATH: {{ printf "%s/iir-tiny.gguf" .Values.agent.models.mountPath | quote }}
{{- if .Values.agent.model }}
IIR_AGENT_MODEL: {{ .Values.agent.model | quote }}
{{- end }}
{{- if .Values.agent.modelId }}
IIR_AGENT_MODEL_ID: {{ .Values.agent.modelId | quote }}
{{- end }}
{{- end }}
{{- range $name, $value := .Values.extraEnv }}
{{ $name }}: {{ $value | quote }}
{{- end }}
{{- end -}}

{{/* Values given inline that must not sit in a ConfigMap: the chart's Secret's stringData. */}}
{{- define "iir.secretData" -}}
{{- if and .Values.adminToken.value (not .Values.adminToken.existingSecret) }}
IIR_ADMIN_TOKEN: {{ .Values.adminToken.value | quote }}
{{- end }}
{{- if and .Values.agentToken.value (not .Values.agentToken.existingSecret) }}
IIR_AGENT_TOKEN: {{ .Values.agentToken.value | quote }}
{{- end }}
{{- if .Values.redis.bundled }}
REDIS_URL: {{ printf "redis://%s-redis.%s.svc:6379" (include "iir.fullname" .) .Release.Namespace | quote }}
{{- else if and .Values.redis.url (not .Values.redis.existingSecret) }}
REDIS_URL: {{ .Values.redis.url | quote }}
{{- end }}
{{- if .Values.postgres.bundled }}
POSTGRES_PASSWORD: {{ required "postgres.password is required with postgres.bundled" .Values.postgres.password | quote }}
DATABASE_URL: {{ printf "postgres://iir:%s@%s-postgres.%s.svc:5432/iir" .Values.postgres.password (include "iir.fullname" .) .Release.Namespace | quote }}
{{- else if and .Values.postgres.url (not .Values.postgres.existingSecret) }}
DATABASE_URL: {{ .Values.postgres.url | quote }}
{{- end }}
{{- end -}}

{{/*
One secret variable for a container: from the user's existingSecret when named, else from the
chart's Secret when the value was given inline (or made by a bundled datastore), else nothing.
*/}}
{{- define "iir.adminTokenEnv" -}}
{{- if .Values.adminToken.existingSecret }}
- name: IIR_ADMIN_TOKEN
  valueFrom:
    secretKeyRef: {name: {{ .Values.adminToken.existingSecret | quote }}, key: {{ .Values.adminToken.existingSecretKey | quote }}}
{{- else if .Values.adminToken.value }}
- name: IIR_ADMIN_TOKEN
  valueFrom:
    secretKeyRef: {name: {{ include "iir.secretName" . | quote }}, key: IIR_ADMIN_TOKEN}
{{- end }}
{{- end -}}

{{- define "iir.agentTokenEnv" -}}
{{- if .Values.agentToken.existingSecret }}
- name: IIR_AGENT_TOKEN
  valueFrom:
    secretKeyRef: {name: {{ .Values.agentToken.existingSecret | quote }}, key: {{ .Values.agentToken.existingSecretKey | quote }}}
{{- else if .Values.agentToken.value }}
- name: IIR_AGENT_TOKEN
  valueFrom:
    secretKeyRef: {name: {{ include "iir.secretName" . | quote }}, key: IIR_AGENT_TOKEN}
{{- end }}
{{- end -}}

{{- define "iir.redisEnv" -}}
{{- if and .Values.redis.existingSecret (not .Values.redis.bundled) }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef: {name: {{ .Values.redis.existingSecret | quote }}, key: {{ .Values.redis.existingSecretKey | quote }}}
{{- else if or .Values.redis.bundled .Values.redis.url }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef: {name: {{ include "iir.secretName" . | quote }}, key: REDIS_URL}
{{- end }}
{{- end -}}

{{- define "iir.databaseEnv" -}}
{{- if and .Values.postgres.existingSecret (not .Values.postgres.bundled) }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef: {name: {{ .Values.postgres.existingSecret | quote }}, key: {{ .Values.postgres.existingSecretKey | quote }}}
{{- else if or .Values.postgres.bundled .Values.postgres.url }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef: {name: {{ include "iir.secretName" . | quote }}, key: DATABASE_URL}
{{- end }}
{{- end -}}

{{/* envFrom of every IIR container: the shared ConfigMap. */}}
{{- define "iir.envFrom" -}}
- configMapRef:
    name: {{ include "iir.fullname" . }}-env
{{- end -}}

{{/* Stop order: the preStop sleep keeps serving while endpoints go away, then SIGTERM drains. */}}
{{- define "iir.lifecycle" -}}
lifecycle:
  preStop:
    sleep:
      seconds: {{ .Values.preStopSleepSeconds }}
{{- end -}}

{{- define "iir.tlsVolumeMount" -}}
{{- if .Values.tls.existingSecret }}
- name: tls
  mountPath: /etc/iir/tls
  readOnly: true
{{- end }}
{{- end -}}

{{- define "iir.tlsVolume" -}}
{{- if .Values.tls.existingSecret }}
- name: tls
  secret:
    secretName: {{ .Values.tls.existingSecret | quote }}
{{- end }}
{{- end -}}

{{/* Pod annotations that restart pods when their configuration changes. */}}
{{- define "iir.checksums" -}}
checksum/config: {{ include "iir.configData" . | sha256sum | quote }}
checksum/secret: {{ include "iir.secretData" . | sha256sum | quote }}
{{- end -}}

{{/* `iir seed`'s file: llmd.models as llm-d/<name> → the model llm-d serves, then seedModels. */}}
{{- define "iir.seedFile" -}}
models:
{{- range $name, $upstream := .Values.llmd.models }}
  - name: {{ printf "llm-d/%s" $name | quote }}
    provider: llm-d
    upstream_model: {{ $upstream | quote }}
{{- end }}
{{- with .Values.seedModels }}
{{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
