{{/*
Chart name, truncated to 63 characters (DNS label limit).
*/}}
{{- define "oih-cds.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name: <release>-<chart>, or the release name when it already contains the chart name.
*/}}
{{- define "oih-cds.fullname" -}}
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

{{/*
Chart label value: name-version.
*/}}
{{- define "oih-cds.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels.
*/}}
{{- define "oih-cds.labels" -}}
helm.sh/chart: {{ include "oih-cds.chart" . }}
{{ include "oih-cds.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: api
app.kubernetes.io/part-of: oih-cds
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels (immutable on Deployments: never add to these).
*/}}
{{- define "oih-cds.selectorLabels" -}}
app.kubernetes.io/name: {{ include "oih-cds.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
ServiceAccount name.
*/}}
{{- define "oih-cds.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "oih-cds.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image reference: repository@digest when a digest is set, else repository:tag (tag defaults to appVersion).
*/}}
{{- define "oih-cds.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Externally visible base URL (OIH_PUBLIC_BASE_URL): config.publicBaseUrl, else https://<first ingress host>.
Fails the render when neither is set: the service checks JWT "aud" against it.
*/}}
{{- define "oih-cds.publicBaseUrl" -}}
{{- if .Values.config.publicBaseUrl }}
{{- .Values.config.publicBaseUrl | trimSuffix "/" }}
{{- else if and .Values.ingress.enabled .Values.ingress.hosts }}
{{- printf "https://%s" (first .Values.ingress.hosts).host }}
{{- else }}
{{- fail "config.publicBaseUrl is required (the externally visible base URL, e.g. https://cds.example.org), or enable ingress with a host" }}
{{- end }}
{{- end }}

{{/*
True ("true") when more than one pod may run at once.
*/}}
{{- define "oih-cds.multiReplica" -}}
{{- if or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1) }}true{{- end }}
{{- end }}

{{/*
Cross-value checks that the JSON schema cannot express.
*/}}
{{- define "oih-cds.validate" -}}
{{- if and (include "oih-cds.multiReplica" .) (not .Values.redis.existingSecret) }}
{{- fail "redis.existingSecret is required with more than one replica or autoscaling: the JWT replay (jti) cache must be shared by all pods" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" }}
{{- end }}
{{- if and (eq .Values.config.authMode "required") (not .Values.trustedIssuers) }}
{{- fail "trustedIssuers is required when config.authMode is \"required\" (the service refuses to start without OIH_TRUSTED_ISSUERS_FILE)" }}
{{- end }}
{{- if eq .Values.config.environment "production" }}
{{- $problems := list }}
{{- if not (hasPrefix "https://" (include "oih-cds.publicBaseUrl" .)) }}{{ $problems = append $problems "the public base URL must be https" }}{{ end }}
{{- if eq .Values.config.authMode "disabled" }}{{ $problems = append $problems "config.authMode=disabled" }}{{ end }}
{{- if .Values.config.sandboxEnabled }}{{ $problems = append $problems "config.sandboxEnabled=true" }}{{ end }}
{{- if .Values.config.fhirOpenAllowlist }}{{ $problems = append $problems "config.fhirOpenAllowlist is set" }}{{ end }}
{{- if has "*" .Values.config.corsOrigins }}{{ $problems = append $problems "config.corsOrigins contains *" }}{{ end }}
{{- if $problems }}
{{- fail (printf "config.environment=production refuses: %s (the service would not start)" (join "; " $problems)) }}
{{- end }}
{{- end }}
{{- if and .Values.serviceMonitor.enabled (gt (int .Values.config.workers) 1) }}
{{- fail "config.workers must be 1 with serviceMonitor.enabled: metrics are kept per process, so a scrape would see one random worker; scale with replicas instead" }}
{{- end }}
{{- $budget := add (int .Values.config.gracefulTimeoutSeconds) (int .Values.preStopSleepSeconds) }}
{{- if ge $budget (int .Values.terminationGracePeriodSeconds) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed config.gracefulTimeoutSeconds + preStopSleepSeconds (%d)" (int .Values.terminationGracePeriodSeconds) $budget) }}
{{- end }}
{{- end }}
