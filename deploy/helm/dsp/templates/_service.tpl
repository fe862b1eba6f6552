{{/*
Every Kubernetes object of one dsp service: Deployment, Service, a HorizontalPodAutoscaler (gateway) or
a KEDA ScaledObject on the queue (workers), PodDisruptionBudget, ServiceMonitor, NetworkPolicy and the
migrate hook Job.
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
  {{- if not (and $v.autoscaling.enabled (or (eq $name "gateway") $root.Values.keda.enabled)) }}
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
{{- $keda := and $v.autoscaling.enabled $root.Values.keda.enabled (ne $name "gateway") }}
{{- if and $v.autoscaling.enabled (eq $name "gateway") }}
---
# The gateway answers HTTP: it scales on CPU.
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ $fullname }}
  labels:
    {{- include "dsp.labels" $root | nindent 4 }}
    app.kubernetes.io/name: {{ $name }}
    app.kubernetes.io/component: {{ $name }}
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
  behavior:
    scaleDown:
      stabilizationWindowSeconds: 300
      policies:
        - type: Pods
          value: 1
          periodSeconds: 120
{{- end }}
{{- if $keda }}
---
# A worker scales on the depth of its queue (KEDA owns the HPA it creates; the chart renders none for it).
apiVersion: keda.sh/v1alpha1
kind: TriggerAuthentication
metadata:
  name: {{ $fullname }}-amqp
  labels:
    {{- include "dsp.labels" $root | nindent 4 }}
    app.kubernetes.io/name: {{ $name }}
    app.kubernetes.io/component: {{ $name }}
spec:
  secretTargetRef:
    # The management API (keda.managementUrlSecretKey: ready and unacknowledged messages) when given, else the
    # service's own broker URL (AMQP: ready messages only), whose user may inspect its own queue.
    - parameter: host
      name: {{ $ctx.secretName }}
      {{- if $root.Values.keda.managementUrlSecretKey }}
      key: {{ $root.Values.keda.managementUrlSecretKey }}
      {{- else }}
      key: {{ ternary (printf "%s-amqp-url" $name) "amqp-url" (not (empty (index $root.Values.secrets.amqpUrls $name))) }}
      {{- end }}
---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: {{ $fullname }}
  labels:
    {{- include "dsp.labels" $root | nindent 4 }}
    app.kubernetes.io/name: {{ $name }}
    app.kubernetes.io/component: {{ $name }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ $fullname }}
  minReplicaCount: {{ $v.autoscaling.minReplicas }}
  maxReplicaCount: {{ $v.autoscaling.maxReplicas }}
  pollingInterval: {{ $v.autoscaling.pollingIntervalSeconds }}
  cooldownPeriod: {{ $v.autoscaling.cooldownPeriodSeconds }}
  advanced:
    horizontalPodAutoscalerConfig:
      behavior:
        scaleDown:
          # One replica at a time, slowly: the pod removed drains its delivery in flight first
          # (terminationGracePeriodSeconds).
          stabilizationWindowSeconds: {{ $v.autoscaling.cooldownPeriodSeconds }}
          policies:
            - type: Pods
              value: 1
              periodSeconds: 120
  triggers:
    - type: rabbitmq
      metadata:
        protocol: {{ ternary "http" "amqp" (not (empty $root.Values.keda.managementUrlSecretKey)) }}
        queueName: {{ required (printf "%s.autoscaling.queue is required" $name) $v.autoscaling.queue | quote }}
        mode: QueueLength
        value: {{ $v.autoscaling.messagesPerReplica | quote }}
      authenticationRef:
        name: {{ $fullname }}-amqp
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
