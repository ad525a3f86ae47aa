package deploy_test

import (
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// manifests are the Kubernetes objects of a directory, decoded strictly
// into the API's own types: a mistyped or misplaced field is an error, as
// `kubectl apply --validate=strict` would make it.
type manifests struct {
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	secrets     map[string]*corev1.Secret
	ingresses   map[string]*networkingv1.Ingress
	resources   []string // kustomization.yaml's
}

var documentSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// loadManifests decodes every *.yaml file of dir.
func loadManifests(t *testing.T, files []string) (manifests, []string) {
	t.Helper()
	m := manifests{deployments: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{},
		secrets: map[string]*corev1.Secret{}, ingresses: map[string]*networkingv1.Ingress{}}
	var problems []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range documentSeparator.Split(string(b), -1) {
			var meta struct {
				metav1.TypeMeta `json:",inline"`
				Metadata        metav1.ObjectMeta `json:"metadata"`
				Resources       []string          `json:"resources"`
			}
			if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", f, err))
				continue
			}
			var obj any
			name := meta.Metadata.Name
			switch meta.Kind {
			case "":
				continue // comments only
			case "Kustomization":
				m.resources = meta.Resources
				continue
			case "Deployment":
				obj = put(m.deployments, name)
			case "StatefulSet":
				obj = &appsv1.StatefulSet{}
			case "Service":
				obj = put(m.services, name)
			case "Secret":
				obj = put(m.secrets, name)
			case "Ingress":
				obj = put(m.ingresses, name)
			case "NetworkPolicy":
				obj = &networkingv1.NetworkPolicy{}
			case "PodDisruptionBudget":
				obj = &policyv1.PodDisruptionBudget{}
			default:
				problems = append(problems, fmt.Sprintf("%s: kind %s is not one this test decodes; add it", f, meta.Kind))
				continue
			}
			if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
				problems = append(problems, fmt.Sprintf("%s: %s %s: %v", f, meta.Kind, name, err))
			}
		}
	}
	return m, problems
}

// put adds a new object to m under name.
func put[T any](m map[string]*T, name string) *T {
	v := new(T)
	m[name] = v
	return v
}

// loadKube reads the manifests of dir; image is the environment the
// portal's image sets.
func loadKube(t *testing.T, dir string, image map[string]string) recipe {
	t.Helper()
	r := recipe{name: "kubernetes", env: maps.Clone(image)}
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if len(files) == 0 {
		t.Fatalf("no manifests in %s", dir)
	}
	r.names = namesIn(t, files...)
	m, problems := loadManifests(t, files)
	r.problems = problems
	fail := func(format string, args ...any) { r.problems = append(r.problems, fmt.Sprintf(format, args...)) }
	// kubectl apply -k applies every manifest but the Secret's, which
	// would overwrite the real one with placeholders.
	for _, f := range files {
		switch base := filepath.Base(f); {
		case base == "kustomization.yaml":
		case base == "secret.yaml" && slices.Contains(m.resources, base):
			fail("kustomization.yaml lists secret.yaml: applying it would replace the real Secret with placeholders")
		case base != "secret.yaml" && !slices.Contains(m.resources, base):
			fail("kustomization.yaml does not list %s", base)
		}
	}

	d, ok := m.deployments["keyportal"]
	if !ok || len(d.Spec.Template.Spec.Containers) != 1 {
		fail("no Deployment keyportal with one container")
		return r
	}
	pod, c := d.Spec.Template.Spec, d.Spec.Template.Spec.Containers[0]
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		fail("Deployment keyportal: want two replicas")
	}
	sc := c.SecurityContext
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	isTrue := func(b ...*bool) bool { return slices.ContainsFunc(b, func(b *bool) bool { return b != nil && *b }) }
	if pod.SecurityContext == nil || !isTrue(pod.SecurityContext.RunAsNonRoot, sc.RunAsNonRoot) {
		fail("Deployment keyportal: runAsNonRoot is not true")
	}
	if !isTrue(sc.ReadOnlyRootFilesystem) {
		fail("Deployment keyportal: readOnlyRootFilesystem is not true")
	}
	if p := sc.AllowPrivilegeEscalation; p == nil || *p {
		fail("Deployment keyportal: allowPrivilegeEscalation is not false")
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		fail("Deployment keyportal: want requests of cpu and memory and a memory limit, got %v", c.Resources)
	}

	// Ports by number or by name, as probes and Services name them.
	port := func(p intstr.IntOrString) int {
		if p.Type == intstr.Int {
			return p.IntValue()
		}
		for _, cp := range c.Ports {
			if cp.Name == p.StrVal {
				return int(cp.ContainerPort)
			}
		}
		fail("Deployment keyportal: no container port named %s", p.StrVal)
		return 0
	}
	for _, cp := range c.Ports {
		r.ports = append(r.ports, target{where: "Deployment keyportal containerPort " + cp.Name, port: int(cp.ContainerPort)})
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
	}{{"readinessProbe", c.ReadinessProbe}, {"livenessProbe", c.LivenessProbe}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			fail("Deployment keyportal: no HTTP %s", p.name)
			continue
		}
		r.probes = append(r.probes, target{where: "Deployment keyportal " + p.name, path: p.probe.HTTPGet.Path, port: port(p.probe.HTTPGet.Port)})
	}

	// Files the _FILE variables name must be keys of a Secret, mounted.
	mounted := map[string][2]string{} // path in the container: Secret, key
	for _, vm := range c.VolumeMounts {
		for _, v := range pod.Volumes {
			if v.Name == vm.Name && v.Secret != nil {
				for _, it := range v.Secret.Items {
					mounted[path.Join(vm.MountPath, it.Path)] = [2]string{v.Secret.SecretName, it.Key}
				}
			}
		}
	}
	for _, e := range c.Env {
		if !strings.HasPrefix(e.Name, "KEYPORTAL_") {
			continue
		}
		r.env[e.Name] = e.Value
		if !strings.HasSuffix(e.Name, "_FILE") {
			continue
		}
		from := mounted[e.Value]
		s, ok := m.secrets[from[0]]
		if !ok || (s.StringData[from[1]] == "" && len(s.Data[from[1]]) == 0) {
			fail("%s=%s: no Secret key is mounted there", e.Name, e.Value)
		}
	}

	// The Service sends to the portal's port; the Ingress to the Service.
	if svc, ok := m.services["keyportal"]; ok {
		for _, p := range svc.Spec.Ports {
			r.ports = append(r.ports, target{where: "Service keyportal targetPort", port: port(p.TargetPort)})
		}
	} else {
		fail("no Service keyportal")
	}
	for name, ing := range m.ingresses {
		for _, rule := range ing.Spec.Rules {
			if rule.HTTP == nil {
				continue
			}
			for _, p := range rule.HTTP.Paths {
				be := p.Backend.Service
				if be == nil {
					fail("Ingress %s: path %s has no Service backend", name, p.Path)
					continue
				}
				svc, ok := m.services[be.Name]
				if !ok || !slices.ContainsFunc(svc.Spec.Ports, func(sp corev1.ServicePort) bool {
					return (be.Port.Name != "" && sp.Name == be.Port.Name) || (be.Port.Number != 0 && sp.Port == be.Port.Number)
				}) {
					fail("Ingress %s: backend %s port %+v is no port of a Service", name, be.Name, be.Port)
				}
				r.entries = append(r.entries, p.Path)
			}
		}
	}
	if len(r.entries) == 0 {
		fail("no Ingress routes to the portal")
	}
	return r
}
