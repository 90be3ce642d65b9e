// Command servicemonitor-check validates ServiceMonitor objects strictly against the
// Prometheus-Operator Go API types: it reads a JSON array of objects on stdin, decodes each one
// into monitoringv1.ServiceMonitor rejecting unknown fields and wrong types, and checks the
// kubebuilder patterns and enums of the Duration and Scheme fields. It exits 1 on any error.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// durationPattern is the +kubebuilder:validation:Pattern of monitoringv1.Duration.
var durationPattern = regexp.MustCompile(`^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$`)

// schemes is the +kubebuilder:validation:Enum of monitoringv1.Scheme.
var schemes = []string{"http", "https", "HTTP", "HTTPS"}

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer) error {
	var docs []json.RawMessage
	if err := json.NewDecoder(in).Decode(&docs); err != nil {
		return fmt.Errorf("read input: %w", err)
	}
	var failed bool
	for i, doc := range docs {
		if err := check(doc); err != nil {
			fmt.Fprintf(out, "object %d: %v\n", i, err)
			failed = true
		}
	}
	if failed {
		return fmt.Errorf("invalid ServiceMonitor objects")
	}
	fmt.Fprintf(out, "%d ServiceMonitor objects valid\n", len(docs))
	return nil
}

func check(doc []byte) error {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	var sm monitoringv1.ServiceMonitor
	if err := dec.Decode(&sm); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	if sm.APIVersion != "monitoring.coreos.com/v1" || sm.Kind != "ServiceMonitor" {
		return fmt.Errorf("apiVersion/kind %s/%s is not monitoring.coreos.com/v1/ServiceMonitor", sm.APIVersion, sm.Kind)
	}
	if errs := validation.IsDNS1123Subdomain(sm.Name); len(errs) > 0 {
		return fmt.Errorf("metadata.name %q: %v", sm.Name, errs)
	}
	if len(sm.Spec.Endpoints) == 0 {
		return fmt.Errorf("spec.endpoints is empty")
	}
	return walk(reflect.ValueOf(sm.Spec), "spec")
}

// walk checks every Duration, NonEmptyDuration and Scheme value reachable from v.
func walk(v reflect.Value, path string) error {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return walk(v.Elem(), path)
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			if err := walk(v.Field(i), path+"."+f.Name); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if err := walk(v.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case reflect.String:
		s := v.String()
		switch v.Type() {
		case reflect.TypeFor[monitoringv1.Duration]():
			if !durationPattern.MatchString(s) {
				return fmt.Errorf("%s: %q is not a Prometheus duration", path, s)
			}
		case reflect.TypeFor[monitoringv1.NonEmptyDuration]():
			if s == "" || !durationPattern.MatchString(s) {
				return fmt.Errorf("%s: %q is not a non-empty Prometheus duration", path, s)
			}
		case reflect.TypeFor[monitoringv1.Scheme]():
			if !slices.Contains(schemes, s) {
				return fmt.Errorf("%s: %q is not one of %v", path, s, schemes)
			}
		}
	}
	return nil
}
