{{/* Chart name, truncated to the 63 characters Kubernetes allows in a label. */}}
{{- define "dsp.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-scoped name; object names are "<fullname>-<service>". */}}
{{- define "dsp.fullname" -}}
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

{{- define "dsp.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "dsp.labels" -}}
helm.sh/chart: {{ include "dsp.chart" . }}
app.kubernetes.io/part-of: {{ include "dsp.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "dsp.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "dsp.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "dsp.secretName" -}}
{{- default (include "dsp.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/* The migrate Jobs run before the release's own Secret exists, so they read a hook Secret. */}}
{{- define "dsp.migrateSecretName" -}}
{{- default (printf "%s-migrate" (include "dsp.fullname" .)) .Values.secrets.existingSecret }}
{{- end }}

{{- define "dsp.image" -}}
{{- $root := .root -}}
{{- printf "%s/%s:%s" $root.Values.image.repository .name (default $root.Chart.AppVersion $root.Values.image.tag) }}
{{- end }}

{{/* Secret data shared by the release Secret and the migrate hook Secret. */}}
{{- define "dsp.secretData" -}}
amqp-url: {{ required "secrets.amqpUrl is required (or set secrets.existingSecret)" .Values.secrets.amqpUrl | b64enc | quote }}
redis-url: {{ required "secrets.redisUrl is required (or set secrets.existingSecret)" .Values.secrets.redisUrl | b64enc | quote }}
aws-access-key-id: {{ .Values.secrets.awsAccessKeyId | b64enc | quote }}
aws-secret-access-key: {{ .Values.secrets.awsSecretAccessKey | b64enc | quote }}
{{- if .Values.backup.enabled }}
backup-database-url: {{ required "secrets.backupDatabaseUrl is required with backup.enabled (or set secrets.existingSecret)" .Values.secrets.backupDatabaseUrl | b64enc | quote }}
{{- end }}
service-token: {{ required "secrets.serviceToken is required: the token ml's internal routes take from the gateway (or set secrets.existingSecret)" .Values.secrets.serviceToken | b64enc | quote }}
{{- if .Values.gateway.create }}
jwt-secret: {{ required "secrets.jwtSecret is required: the gateway's JWT signing key (or set secrets.existingSecret)" .Values.secrets.jwtSecret | b64enc | quote }}
bootstrap-admin-email: {{ .Values.secrets.bootstrapAdminEmail | b64enc | quote }}
bootstrap-admin-password: {{ .Values.secrets.bootstrapAdminPassword | b64enc | quote }}
{{- end }}
{{- range $svc := list "gateway" "ingest" "profile" "etl" "ml" "dashboard" }}
{{- if (index $.Values $svc).create }}
{{ $svc }}-db-password: {{ required (printf "secrets.dbPasswords.%s is required (or set secrets.existingSecret)" $svc) (index $.Values.secrets.dbPasswords $svc) | b64enc | quote }}
{{- with (index $.Values.secrets.amqpUrls $svc) }}
{{ $svc }}-amqp-url: {{ . | b64enc | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* Every Host the services answer: loopback, each service's in-cluster names, the ingress host, extras. */}}
{{- define "dsp.allowedHosts" -}}
{{- $fullname := include "dsp.fullname" . -}}
{{- $ns := .Release.Namespace -}}
{{- $hosts := list "localhost" "127.0.0.1" -}}
{{- range $svc := list "gateway" "ingest" "profile" "etl" "ml" "dashboard" }}
{{- $name := printf "%s-%s" $fullname $svc | trunc 63 | trimSuffix "-" }}
{{- $hosts = concat $hosts (list $name (printf "%s.%s" $name $ns) (printf "%s.%s.svc" $name $ns) (printf "%s.%s.svc.cluster.local" $name $ns)) }}
{{- end }}
{{- if .Values.gateway.ingress.enabled }}
{{- $hosts = append $hosts .Values.gateway.ingress.host }}
{{- end }}
{{- join "," (concat $hosts .Values.config.allowedHosts | uniq) }}
{{- end }}

{{/* The origins the gateway's WebSocket accepts: configured, or the ingress host's origin. */}}
{{- define "dsp.allowedOrigins" -}}
{{- if .Values.config.allowedOrigins }}
{{- join "," .Values.config.allowedOrigins }}
{{- else if .Values.gateway.ingress.enabled }}
{{- printf "%s://%s" (ternary "https" "http" (not (empty .Values.gateway.ingress.tls))) .Values.gateway.ingress.host }}
{{- end }}
{{- end }}

{{- define "dsp.hstsMaxAge" -}}
{{- if kindIs "invalid" .Values.config.hstsMaxAge }}
{{- ternary 31536000 0 (and .Values.gateway.ingress.enabled (not (empty .Values.gateway.ingress.tls))) }}
{{- else }}
{{- .Values.config.hstsMaxAge | int64 }}
{{- end }}
{{- end }}

{{/*
Environment shared by a service's Deployment and its migrate Job.
Call with (dict "root" $ "name" "<service>" "values" .Values.<service> "secretName" "<secret>").
DSP_DB_PASSWORD comes first so that DSP_DATABASE_URL can reference it with $(DSP_DB_PASSWORD).
*/}}
{{- define "dsp.env" -}}
{{- $root := .root -}}
{{- $db := $root.Values.config.database -}}
- name: DSP_HTTP_PORT
  value: {{ .values.port | quote }}
- name: DSP_METRICS_PORT
  value: {{ .values.metricsPort | quote }}
- name: DSP_DB_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ .name }}-db-password
- name: DSP_DATABASE_URL
  value: {{ printf "postgresql://dsp_%s:$(DSP_DB_PASSWORD)@%s:%v/%s?sslmode=%s" .name $db.host $db.port $db.name $db.sslmode | quote }}
- name: DSP_AMQP_URL
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      {{- if index $root.Values.secrets.amqpUrls .name }}
      key: {{ .name }}-amqp-url
      {{- else }}
      key: amqp-url
      {{- end }}
- name: DSP_SHUTDOWN_GRACE_S
  value: {{ max 1 (sub (int .values.terminationGracePeriodSeconds) (int $root.Values.shutdownMarginSeconds)) | quote }}
- name: DSP_SERVICE_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: service-token
- name: DSP_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: redis-url
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: aws-access-key-id
      optional: true
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: aws-secret-access-key
      optional: true
{{- if eq .name "gateway" }}
- name: DSP_MAX_UPLOAD_BYTES
  value: {{ .values.maxUploadBytes | int64 | quote }}
- name: DSP_MAX_TIME_BUDGET_S
  value: {{ .values.maxTimeBudgetSeconds | default 3600 | quote }}
- name: DSP_MAX_BODY_BYTES
  value: {{ .values.maxBodyBytes | default 33554432 | int64 | quote }}
- name: DSP_BODY_TIMEOUT_S
  value: {{ .values.bodyTimeoutSeconds | default 30 | quote }}
- name: DSP_HTTP_HEADERS_TIMEOUT_S
  value: {{ .values.headersTimeoutSeconds | default 10 | quote }}
- name: DSP_HTTP_KEEP_ALIVE_S
  value: {{ .values.keepAliveSeconds | default 5 | quote }}
- name: DSP_HTTP_MAX_CONNECTIONS
  value: {{ .values.maxConnections | default 256 | quote }}
- name: DSP_HTTP_WORKERS
  value: {{ .values.workers | default 1 | quote }}
- name: DSP_ML_URL
  value: {{ printf "http://%s-ml:%v" (include "dsp.fullname" $root) $root.Values.ml.port | quote }}
- name: DSP_TRUSTED_PROXY_HOPS
  value: {{ .values.trustedProxyHops | quote }}
- name: DSP_JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: jwt-secret
- name: DSP_BOOTSTRAP_ADMIN_EMAIL
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: bootstrap-admin-email
      optional: true
- name: DSP_BOOTSTRAP_ADMIN_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: bootstrap-admin-password
      optional: true
{{- with .values.bootstrapOrganization }}
- name: DSP_BOOTSTRAP_ORGANIZATION
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- with .values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Volumes every pod mounts: a writable /tmp, and the artifact claim when configured. */}}
{{- define "dsp.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .root.Values.tmpSizeLimit }}
{{- if .root.Values.artifacts.persistence.enabled }}
- name: artifacts
  persistentVolumeClaim:
    claimName: {{ default (printf "%s-artifacts" (include "dsp.fullname" .root)) .root.Values.artifacts.persistence.existingClaim }}
{{- end }}
{{- if .values.shmSizeLimit }}
- name: dshm
  emptyDir:
    medium: Memory
    sizeLimit: {{ .values.shmSizeLimit }}
{{- end }}
{{- end }}

{{- define "dsp.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .root.Values.artifacts.persistence.enabled }}
- name: artifacts
  mountPath: {{ .root.Values.artifacts.persistence.mountPath }}
{{- end }}
{{- if .values.shmSizeLimit }}
- name: dshm
  mountPath: /dev/shm
{{- end }}
{{- end }}

{{/* Pod fields shared by Deployments and Jobs. Hook Jobs run before the release's
ServiceAccount exists, so they pass "hook" true and use the namespace default. */}}
{{- define "dsp.podSpecCommon" -}}
{{- $root := .root -}}
{{- if not .hook }}
serviceAccountName: {{ include "dsp.serviceAccountName" $root }}
{{- end }}
automountServiceAccountToken: false
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml $root.Values.podSecurityContext | nindent 2 }}
{{- with $root.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Non-secret settings: ConfigMap data for Deployments, inline env for hook Jobs. */}}
{{- define "dsp.configData" -}}
DSP_ENVIRONMENT: {{ .Values.config.environment | quote }}
DSP_LOG_LEVEL: {{ .Values.config.logLevel | quote }}
{{- with .Values.config.database.poolMinSize }}
DSP_DB_POOL_MIN_SIZE: {{ . | quote }}
{{- end }}
DSP_DB_POOL_MAX_SIZE: {{ .Values.config.database.poolMaxSize | default 10 | quote }}
DSP_HTTP_HOST: "0.0.0.0"
DSP_METRICS_HOST: "0.0.0.0"
DSP_ALLOWED_HOSTS: {{ include "dsp.allowedHosts" . | quote }}
DSP_CORS_ORIGINS: {{ join "," .Values.config.corsOrigins | quote }}
DSP_ALLOWED_ORIGINS: {{ include "dsp.allowedOrigins" . | quote }}
DSP_HSTS_MAX_AGE: {{ include "dsp.hstsMaxAge" . | quote }}
DSP_ARTIFACT_URL: {{ .Values.config.artifactUrl | quote }}
{{- with .Values.config.s3EndpointUrl }}
DSP_S3_ENDPOINT_URL: {{ . | quote }}
{{- end }}
{{- with .Values.config.awsRegion }}
AWS_DEFAULT_REGION: {{ . | quote }}
{{- end }}
{{- with .Values.config.otelExporterOtlpEndpoint }}
OTEL_EXPORTER_OTLP_ENDPOINT: {{ . | quote }}
{{- end }}
{{- end }}

{{- define "dsp.configEnv" -}}
{{- range $key, $value := include "dsp.configData" . | fromYaml }}
- name: {{ $key }}
  value: {{ $value | quote }}
{{- end }}
{{- end }}
