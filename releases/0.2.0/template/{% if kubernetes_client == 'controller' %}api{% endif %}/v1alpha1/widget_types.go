package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition types and reasons of a Widget's status.
const (
	// ConditionReady is True when the widget's ConfigMap holds the spec's message.
	ConditionReady = "Ready"
	// ReasonReconciled: the ConfigMap matches the spec.
	ReasonReconciled = "Reconciled"
	// ReasonRetrying: the last attempt failed with an error that is retried with backoff.
	ReasonRetrying = "Retrying"
	// ReasonConfigMapConflict: a ConfigMap of that name exists and belongs to something else;
	// the controller does not retry until the spec changes (a terminal error).
	ReasonConfigMapConflict = "ConfigMapConflict"
)

// WidgetSpec is the desired state of a Widget: a ConfigMap that holds Message.
type WidgetSpec struct {
	// Message is written to the "message" key of the widget's ConfigMap.
	// +kubebuilder:validation:MaxLength=1024
	// +required
	Message string `json:"message"`

	// ConfigMapName names the ConfigMap the widget owns, in the widget's namespace; empty = the
	// widget's own name.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +optional
	ConfigMapName string `json:"configMapName,omitempty"`
}

// WidgetStatus is the observed state of a Widget.
type WidgetStatus struct {
	// ObservedGeneration is the metadata.generation of the spec this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions of the widget: Ready, with the generation it was computed from.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// Widget is the example custom resource: the controller keeps a ConfigMap with the widget's
// message next to it and reports on its status whether it could.
type Widget struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired state.
	// +required
	Spec WidgetSpec `json:"spec"`

	// Status is the observed state, written by the controller only.
	// +optional
	Status WidgetStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// WidgetList is a list of Widgets.
type WidgetList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Widget `json:"items"`
}
