{{/* Chart name, truncated to 63 characters (DNS label). */}}
{{- define "matrixinfer.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-qualified name: the release name when it already contains the chart name. */}}
{{- define "matrixinfer.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "matrixinfer.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "matrixinfer.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: matrixinfer
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "gateway"). */}}
{{- define "matrixinfer.selectorLabels" -}}
app.kubernetes.io/name: {{ include "matrixinfer.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "matrixinfer.componentLabels" -}}
{{ include "matrixinfer.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "matrixinfer.controllerManager.fullname" -}}
{{- printf "%s-controller-manager" (include "matrixinfer.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "matrixinfer.gateway.fullname" -}}
{{- printf "%s-gateway" (include "matrixinfer.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "matrixinfer.controllerManager.serviceAccountName" -}}
{{- default (include "matrixinfer.controllerManager.fullname" .) .Values.controllerManager.serviceAccount.name -}}
{{- end -}}

{{- define "matrixinfer.gateway.serviceAccountName" -}}
{{- default (include "matrixinfer.gateway.fullname" .) .Values.gateway.serviceAccount.name -}}
{{- end -}}

{{/* Image reference of a component: (dict "root" $ "image" .Values.gateway.image). */}}
{{- define "matrixinfer.image" -}}
{{- printf "%s:%s" .image.repository (default .root.Chart.AppVersion .image.tag) -}}
{{- end -}}

{{- define "matrixinfer.webhook.serviceName" -}}
{{- printf "%s-webhook" (include "matrixinfer.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The OpenTelemetry environment of a component's container (tracing.otlpEndpoint set; nothing otherwise): the
standard OTEL_* variables, and the pod's name and namespace as resource attributes.
*/}}
{{- define "matrixinfer.tracingEnv" -}}
{{- $t := .Values.tracing -}}
{{- if $t.otlpEndpoint }}
- name: OTEL_POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ $t.otlpEndpoint | quote }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: {{ $t.protocol | quote }}
- name: OTEL_TRACES_SAMPLER
  value: {{ $t.sampler | quote }}
{{- with $t.samplerArg }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ . | quote }}
{{- end }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ printf "k8s.pod.name=$(OTEL_POD_NAME),k8s.namespace.name=%s%s" .Release.Namespace (ternary (printf ",%s" $t.resourceAttributes) "" (ne $t.resourceAttributes "")) | quote }}
{{- with $t.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Pod and container security: non-root, read-only root filesystem, no privilege escalation, no capabilities. */}}
{{- define "matrixinfer.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
fsGroup: 1000
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "matrixinfer.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}
