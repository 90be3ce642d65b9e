// Package v1alpha1 is the example API of widget-op: the Widget custom resource its
// controller (internal/kube) reconciles. Replace Widget with your own types and run `make manifests`:
// controller-gen regenerates the deep copies, the CRD (deploy/helm/widget-op/crds) and the RBAC
// rules the chart grants (deploy/helm/widget-op/files/role.yaml) from the markers.
//
// +kubebuilder:object:generate=true
// +groupName=widget-op.example.com
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the API group and version of the types in this package.
	GroupVersion = schema.GroupVersion{Group: "widget-op.example.com", Version: "v1alpha1"}

	// SchemeBuilder registers the types of this package with a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// addKnownTypes registers Widget and WidgetList under GroupVersion.
func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(GroupVersion, &Widget{}, &WidgetList{})
	metav1.AddToGroupVersion(scheme, GroupVersion)
	return nil
}
