{{- define "cachalot-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "cachalot-operator.fullname" -}}
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

{{- define "cachalot-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cachalot-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "cachalot-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "cachalot-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: cachalot
{{- end }}

{{- define "cachalot-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "cachalot-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The operator's rules on namespaced kinds: a ClusterRole's (scope: cluster) or a Role's (scope: namespace). */}}
{{- define "cachalot-operator.namespacedRules" -}}
- apiGroups: [cachalot.io]
  resources: [cacheclusters]
  verbs: [get, list, watch]
- apiGroups: [cachalot.io]
  resources: [cacheclusters/status]
  verbs: [get, update, patch]
# Children carry blockOwnerDeletion; with OwnerReferencesPermissionEnforcement (OpenShift) setting it needs
# update on the owner's finalizers.
- apiGroups: [cachalot.io]
  resources: [cacheclusters/finalizers]
  verbs: [update]
- apiGroups: [apps]
  resources: [statefulsets]
  verbs: [get, list, watch, create, update, patch, delete]
# Replicas still follow the ring when the whole StatefulSet cannot be applied.
- apiGroups: [apps]
  resources: [statefulsets/scale]
  verbs: [get, update, patch]
- apiGroups: [""]
  resources: [services, configmaps]
  verbs: [get, list, watch, create, update, patch, delete]
# The router behind the client Service: a Deployment (watched, so its first available pod moves the Service
# onto it) and the ServiceAccount, Role and RoleBinding that let its pods read the ring ConfigMap. Granting
# that Role needs no escalate or bind verb: the operator holds configmaps get/list/watch itself.
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [""]
  resources: [serviceaccounts]
  verbs: [get, create, update, patch, delete]
- apiGroups: [rbac.authorization.k8s.io]
  resources: [roles, rolebindings]
  verbs: [get, create, update, patch, delete]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [monitoring.coreos.com]
  resources: [servicemonitors]
  verbs: [get, list, watch, create, update, patch, delete]
# spec.networkPolicy; spec.tls.certManager (the operator never reads Secrets: servers mount them).
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [cert-manager.io]
  resources: [certificates]
  verbs: [get, create, update, patch, delete]
# Node-loss recovery deletes the claim and force-deletes the pod. Claims are watched for VolumePending, grown
# in place when spec.flash.size grows, and replaced when they never bound under an older StorageClass.
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch, delete]
- apiGroups: [""]
  resources: [persistentvolumeclaims]
  verbs: [get, list, watch, patch, delete]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
{{- end }}
