{{- define "cims.name" -}}{{ .Release.Name }}-cims{{- end -}}
{{- define "cims.labels" -}}
app.kubernetes.io/name: cims
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}
{{- define "cims.claim" -}}
{{- if .Values.sharedVolume.existingClaim -}}{{ .Values.sharedVolume.existingClaim }}{{- else -}}{{ include "cims.name" . }}-shared{{- end -}}
{{- end -}}
