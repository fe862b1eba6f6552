{{/*
Every Kubernetes object of one dsp service: Deployment, Service, HorizontalPodAutoscaler,
PodDisruptionBudget, ServiceMonitor and the migrate hook Job.
Call with (dict "root" $ "name" "<service>" "values" .Values.<service>).
*/}}
{{- define "dsp.service" -}}
{{- $root := .root -}}
{{- $name := .name -}}
{{- $v := .values -}}
{{- $fullname := printf "%s-%s" (include "dsp.fullname" $root) $name | trunc 63 | trimSuffix "-" -}}
{{- $ctx := dict "root" $root "name" $name "values" $v "secretName" (include "dsp.secretName" $root) -}}
{{- $selector := dict "app.kubernetes.io/name" $name "app.kubernetes.io/instance" $root.Release.Name -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $fullname }}
  labels:
    {{- include "dsp.labels" $root | nindent 4 }}
    app.kubernetes.io/name: {{ $name }}
    app.kubernetes.io/component: {{ $name }}
spec:
  {{- if not $v.autoscaling.enabled }}
  replicas: {{ $v.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- toYaml $selector | nindent 6 }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
  template:
    metadata:
      labels:
        {{- include "dsp.labels" $root | nindent 8 }}
        app.kubernetes.io/name: {{ $name }}
        app.kubernetes.io/component: {{ $name }}
        {{- with $root.Values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
        {{- if not $root.Values.secrets.existingSecret }}
        checksum/secret: {{ include (print $root.Template.BasePath "/secret.yaml") $root | sha256sum }}
        {{- end }}
        {{- with $root.Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      {{- include "dsp.podSpecCommon" $ctx | trim | nindent 6 }}
      terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
      {{- with $root.Values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $root.Values.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ $name }}
          image: {{ include "dsp.image" $ctx }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args: [serve]
          ports:
            - name: http
              containerPort: {{ $v.port }}
              protocol: TCP
            - name: metrics
              containerPort: {{ $v.metricsPort }}
              protocol: TCP
          envFrom:
            - configMapRef:
                name: {{ include "dsp.fullname" $root }}
          env:
            {{- include "dsp.env" $ctx | nindent 12 }}
          startupProbe:
            httpGet:
              path: /health/startup
              port: http
            periodSeconds: {{ $root.Values.probes.startup.periodSeconds }}
            failureThreshold: {{ default $root.Values.probes.startup.failureThreshold $v.startupFailureThreshold }}
          livenessProbe:
            httpGet:
              path: /health/live
              port: http
            periodSeconds: {{ $root.Values.probes.liveness.periodSeconds }}
            timeoutSeconds: {{ $root.Values.probes.liveness.timeoutSeconds }}
            failureThreshold: {{ $root.Values.probes.liveness.failureThreshold }}
          readinessProbe:
            httpGet:
              path: /health/ready
              port: http
            periodSeconds: {{ $root.Values.probes.readiness.periodSeconds }}
            timeoutSeconds: {{ $root.Values.probes.readiness.timeoutSeconds }}
            failureThreshold: {{ $root.Values.probes.readiness.failureThreshold }}
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          volumeMounts:
            {{- include "dsp.volumeMounts" $ctx | nindent 12 }}
      volumes:
        {{- include "dsp.volumes" $ctx | nindent 8 }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $fullname }}
  labels:
    {{- include "dsp.labels" $root | nindent 4 }}
    app.kubernetes.io/name: {{ $name }}
    app.kubernetes.io/component: {{ $name }}
spec:
  type: {{ $v.service.type }}
  selector:
    {{- toYaml $selector | nindent 4 }}
  ports:
    - name: http
      port: {{ $v.port }}
      targetPort: http
      protocol: TCP
    - name: metrics
      port: {{ $v.metricsPort }}
      targetPort: metrics
      protocol: TCP
{{- if $v.autoscaling.enabled }}
{{- $queue := $v.autoscaling.queueDepth }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ $fullname }}
  labels:
    {{- include "dsp.labels" $root | nindent 4 }}
    app.kubernetes.io/name: {{ $name }}
    app.kubernetes.io/component: {{ $name }}
  {{- if $queue.queue }}
  annotations:
    # Queue-depth scaling hints, read by KEDA or a Prometheus external-metrics adapter.
    dsp.io/scale-on-queue: {{ $queue.queue | quote }}
    dsp.io/scale-queue-metric: {{ $queue.metricName | quote }}
    dsp.io/scale-queue-target-per-replica: {{ $queue.targetAverageValue | quote }}
  {{- end }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ $fullname }}
  minReplicas: {{ $v.autoscaling.minReplicas }}
  maxReplicas: {{ $v.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $v.autoscaling.targetCPUUtilizationPercentage }}
    {{- if and $queue.enabled $queue.queue }}
    - type: External
      external:
        metric:
          name: {{ $queue.metricName }}
          selector:
            matchLabels:
              queue: {{ $queue.queue | quote }}
        target:
          type: AverageValue
          averageValue: {{ $queue.targetAverageValue | quote }}
    {{- end }}
  behavior:
    scaleDown:
      # Scale in slowly: a removed replica may be holding a long job.
      stabilizationWindowSeconds: 300
      policies:
        - type: Pods
          value: 1
          periodSeconds: 120
{{- end }}
{{- if $v.pdb.enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ $fullname }}
  labels:
    {{- include "dsp.labels" $root | nindent 4 }}
    app.kubernetes.io/name: {{ $name }}
    app.kubernetes.io/component: {{ $name }}
spec:
  {{- if hasKey $v.pdb "minAvailable" }}
  minAvailable: {{ $v.pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ $v.pdb.maxUnavailable }}
  {{- end }}
  selector:
    matchLabels:
      {{- toYaml $selector | nindent 6 }}
{{- end }}
{{- if $root.Values.serviceMonitor.enabled }}
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ $fullname }}
  labels:
    {{- include "dsp.labels" $root | nindent 4 }}
    app.kubernetes.io/name: {{ $name }}
    app.kubernetes.io/component: {{ $name }}
    {{- with $root.Values.serviceMonitor.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- toYaml $selector | nindent 6 }}
  endpoints:
    - port: metrics
      path: /metrics
      interval: {{ $root.Values.serviceMonitor.interval }}
      scrapeTimeout: {{ $root.Values.serviceMonitor.scrapeTimeout }}
      honorLabels: true
{{- end }}
{{- if $root.Values.networkPolicy.enabled }}
{{- $policy := $root.Values.networkPolicy }}
{{- $egress := $policy.egress }}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ $fullname }}
  labels:
    {{- include "dsp.labels" $root | nindent 4 }}
    app.kubernetes.io/name: {{ $name }}
    app.kubernetes.io/component: {{ $name }}
spec:
  podSelector:
    matchLabels:
      {{- toYaml $selector | nindent 6 }}
  policyTypes: [Ingress, Egress]
  {{- $ingress := list }}
  {{- if eq $name "gateway" }}
  {{- /* The gateway is the public entry point: its HTTP port, from the ingress controller. */}}
  {{- $rule := dict "ports" (list (dict "port" "http" "protocol" "TCP")) }}
  {{- with $policy.gatewayFrom }}
  {{- $_ := set $rule "from" . }}
  {{- end }}
  {{- $ingress = append $ingress $rule }}
  {{- else if eq $name "ml" }}
  {{- /* ml's internal predict route: from gateway pods only (which also send the service token). */}}
  {{- $gatewayPods := dict "podSelector" (dict "matchLabels" (dict "app.kubernetes.io/name" "gateway" "app.kubernetes.io/instance" $root.Release.Name)) }}
  {{- $ingress = append $ingress (dict "from" (list $gatewayPods) "ports" (list (dict "port" "http" "protocol" "TCP"))) }}
  {{- end }}
  {{- with $policy.metricsFrom }}
  {{- /* Prometheus, on the metrics port only. */}}
  {{- $ingress = append $ingress (dict "from" . "ports" (list (dict "port" "metrics" "protocol" "TCP"))) }}
  {{- end }}
  ingress:
    {{- if $ingress }}
    {{- toYaml $ingress | nindent 4 }}
    {{- else }} []
    {{- end }}
  egress:
    {{- range $rule := list $egress.dns $egress.postgres $egress.rabbitmq $egress.redis $egress.objectStore }}
    - ports:
        {{- toYaml $rule.ports | nindent 8 }}
      {{- with $rule.to }}
      to:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- end }}
    {{- if $root.Values.config.otelExporterOtlpEndpoint }}
    - ports:
        {{- toYaml $egress.otel.ports | nindent 8 }}
      {{- with $egress.otel.to }}
      to:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- end }}
    {{- if eq $name "gateway" }}
    # Predictions are proxied to ml.
    - to:
        - podSelector:
            matchLabels:
              app.kubernetes.io/name: ml
              app.kubernetes.io/instance: {{ $root.Release.Name }}
      ports:
        - port: {{ $root.Values.ml.port }}
          protocol: TCP
    {{- end }}
    {{- with $egress.extra }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end }}
{{- if $root.Values.migrate.enabled }}
{{- $migrateCtx := merge (dict "secretName" (include "dsp.migrateSecretName" $root)) $ctx }}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ printf "%s-migrate" $fullname | trunc 63 | trimSuffix "-" }}
  labels:
    {{- include "dsp.labels" $root | nindent 4 }}
    app.kubernetes.io/name: {{ $name }}
    app.kubernetes.io/component: {{ $name }}-migrate
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: "0"
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
spec:
  backoffLimit: {{ $root.Values.migrate.backoffLimit }}
  activeDeadlineSeconds: {{ $root.Values.migrate.activeDeadlineSeconds }}
  ttlSecondsAfterFinished: {{ $root.Values.migrate.ttlSecondsAfterFinished }}
  template:
    metadata:
      labels:
        {{- include "dsp.labels" $root | nindent 8 }}
        app.kubernetes.io/name: {{ $name }}
        app.kubernetes.io/component: {{ $name }}-migrate
    spec:
      {{- include "dsp.podSpecCommon" (merge (dict "hook" true) $ctx) | trim | nindent 6 }}
      restartPolicy: Never
      containers:
        - name: migrate
          image: {{ include "dsp.image" $ctx }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args: [migrate]
          env:
            {{- include "dsp.configEnv" $root | trim | nindent 12 }}
            {{- include "dsp.env" $migrateCtx | nindent 12 }}
            - name: DSP_ADMIN_DATABASE_URL
              valueFrom:
                secretKeyRef:
                  name: {{ $migrateCtx.secretName }}
                  key: admin-database-url
          resources:
            {{- toYaml $root.Values.migrate.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: {{ $root.Values.tmpSizeLimit }}
{{- end }}
{{- end }}
