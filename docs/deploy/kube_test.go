package deploy_test

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// kubeObject is the part of a Kubernetes object the checks read; fields of
// kinds that do not have them stay empty.
type kubeObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Resources  []string          `yaml:"resources"` // Kustomization
	StringData map[string]string `yaml:"stringData"`
	Data       map[string]string `yaml:"data"`
	Spec       struct {
		Replicas int `yaml:"replicas"`
		Template struct {
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
		Ports []servicePort `yaml:"ports"` // Service
		Rules []struct {    // Ingress
			HTTP struct {
				Paths []struct {
					Path    string `yaml:"path"`
					Backend struct {
						Service struct {
							Name string `yaml:"name"`
							Port struct {
								Name   string `yaml:"name"`
								Number int    `yaml:"number"`
							} `yaml:"port"`
						} `yaml:"service"`
					} `yaml:"backend"`
				} `yaml:"paths"`
			} `yaml:"http"`
		} `yaml:"rules"`
	} `yaml:"spec"`
}

type servicePort struct {
	Name       string `yaml:"name"`
	Port       int    `yaml:"port"`
	TargetPort any    `yaml:"targetPort"`
}

type podSpec struct {
	SecurityContext securityContext `yaml:"securityContext"`
	Containers      []struct {
		Name  string `yaml:"name"`
		Image string `yaml:"image"`
		Env   []struct {
			Name  string `yaml:"name"`
			Value string `yaml:"value"`
		} `yaml:"env"`
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		ReadinessProbe  *httpProbe      `yaml:"readinessProbe"`
		LivenessProbe   *httpProbe      `yaml:"livenessProbe"`
		SecurityContext securityContext `yaml:"securityContext"`
		Resources       struct {
			Requests map[string]string `yaml:"requests"`
			Limits   map[string]string `yaml:"limits"`
		} `yaml:"resources"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
		} `yaml:"volumeMounts"`
	} `yaml:"containers"`
	Volumes []struct {
		Name   string `yaml:"name"`
		Secret *struct {
			SecretName string `yaml:"secretName"`
			Items      []struct {
				Key  string `yaml:"key"`
				Path string `yaml:"path"`
			} `yaml:"items"`
		} `yaml:"secret"`
	} `yaml:"volumes"`
}

type securityContext struct {
	RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
	ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
	AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
}

type httpProbe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

// loadKube reads every manifest in dir; image is the environment the
// portal's image sets.
func loadKube(t *testing.T, dir string, image map[string]string) recipe {
	t.Helper()
	r := recipe{name: "kubernetes", env: maps.Clone(image)}
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if len(files) == 0 {
		t.Fatalf("no manifests in %s", dir)
	}
	r.names = namesIn(t, files...)
	byKind := map[string]map[string]kubeObject{}
	for _, f := range files {
		file, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(file)
		for {
			var o kubeObject
			if err := dec.Decode(&o); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if byKind[o.Kind] == nil {
				byKind[o.Kind] = map[string]kubeObject{}
			}
			byKind[o.Kind][o.Metadata.Name] = o
		}
		file.Close()
	}
	fail := func(format string, args ...any) { r.problems = append(r.problems, fmt.Sprintf(format, args...)) }
	for _, k := range byKind["Kustomization"] {
		for _, f := range files {
			if base := filepath.Base(f); base != "kustomization.yaml" && !slices.Contains(k.Resources, base) {
				fail("kustomization.yaml does not list %s", base)
			}
		}
	}

	d, ok := byKind["Deployment"]["keyportal"]
	if !ok || len(d.Spec.Template.Spec.Containers) != 1 {
		fail("no Deployment keyportal with one container")
		return r
	}
	pod, c := d.Spec.Template.Spec, d.Spec.Template.Spec.Containers[0]
	if d.Spec.Replicas < 2 {
		fail("Deployment keyportal: %d replicas, want two", d.Spec.Replicas)
	}
	isTrue := func(b ...*bool) bool { return slices.ContainsFunc(b, func(b *bool) bool { return b != nil && *b }) }
	if !isTrue(pod.SecurityContext.RunAsNonRoot, c.SecurityContext.RunAsNonRoot) {
		fail("Deployment keyportal: runAsNonRoot is not true")
	}
	if !isTrue(c.SecurityContext.ReadOnlyRootFilesystem) {
		fail("Deployment keyportal: readOnlyRootFilesystem is not true")
	}
	if p := c.SecurityContext.AllowPrivilegeEscalation; p == nil || *p {
		fail("Deployment keyportal: allowPrivilegeEscalation is not false")
	}
	if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
		fail("Deployment keyportal: want requests of cpu and memory and a memory limit, got %+v", c.Resources)
	}

	// Ports by name, as probes and Services name them.
	port := func(p any) int {
		if n, ok := p.(int); ok {
			return n
		}
		for _, cp := range c.Ports {
			if cp.Name == p {
				return cp.ContainerPort
			}
		}
		fail("Deployment keyportal: no container port named %v", p)
		return 0
	}
	for _, cp := range c.Ports {
		r.ports = append(r.ports, target{where: "Deployment keyportal containerPort " + cp.Name, port: cp.ContainerPort})
	}
	for name, p := range map[string]*httpProbe{"readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe} {
		if p == nil || p.HTTPGet == nil {
			fail("Deployment keyportal: no HTTP %s", name)
			continue
		}
		r.probes = append(r.probes, target{where: "Deployment keyportal " + name, path: p.HTTPGet.Path, port: port(p.HTTPGet.Port)})
	}

	// Files the _FILE variables name must be keys of a Secret, mounted.
	mounted := map[string]string{} // path in the container: Secret/key
	for _, vm := range c.VolumeMounts {
		for _, v := range pod.Volumes {
			if v.Name == vm.Name && v.Secret != nil {
				for _, it := range v.Secret.Items {
					mounted[path.Join(vm.MountPath, it.Path)] = v.Secret.SecretName + "/" + it.Key
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
		secret, key, _ := strings.Cut(mounted[e.Value], "/")
		s, ok := byKind["Secret"][secret]
		if _, has := s.StringData[key]; !ok || (!has && s.Data[key] == "") {
			fail("%s=%s: no Secret key is mounted there", e.Name, e.Value)
		}
	}

	// The Service sends to the portal's port; the Ingress to the Service.
	for name, svc := range byKind["Service"] {
		if name != "keyportal" {
			continue
		}
		for _, p := range svc.Spec.Ports {
			r.ports = append(r.ports, target{where: "Service keyportal targetPort", port: port(p.TargetPort)})
		}
	}
	for name, ing := range byKind["Ingress"] {
		for _, rule := range ing.Spec.Rules {
			for _, p := range rule.HTTP.Paths {
				be := p.Backend.Service
				svc, ok := byKind["Service"][be.Name]
				if !ok || !slices.ContainsFunc(svc.Spec.Ports, func(sp servicePort) bool {
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
