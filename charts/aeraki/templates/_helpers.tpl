{{/*
The release's base name: "aeraki" for a release named aeraki (or one whose
name contains it), else <release>-aeraki; fullnameOverride replaces it.
Every object is named after it, so two releases never collide.
*/}}
{{- define "aeraki.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels every object carries. */}}
{{- define "aeraki.labels" -}}
app: {{ include "aeraki.fullname" . }}
{{ include "aeraki.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: aeraki
{{- end -}}

{{/* The Deployment's selector: immutable, so only name and instance. */}}
{{- define "aeraki.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "aeraki.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "aeraki.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "aeraki.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The Service's cluster DNS name: what istiod dials and checks. */}}
{{- define "aeraki.host" -}}
{{- printf "%s.%s.svc" (include "aeraki.fullname" .) .Release.Namespace -}}
{{- end -}}

{{/*
The address istiod's meshConfig.configSources names: the Service, by its
cluster DNS name, on the TLS port when istiod can check aeraki's
certificate (tls.secretName), else on the plaintext port.
*/}}
{{- define "aeraki.xdsAddress" -}}
{{- printf "xds://%s:%s" (include "aeraki.host" .) (ternary "15012" "15010" (ne .Values.tls.secretName "")) -}}
{{- end -}}

