package consistency_test

import (
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const k8sDir = "deploy/kubernetes"

// manifest is one object of deploy/kubernetes and the file it is in.
type manifest struct {
	file string
	object
}

// manifests reads every object kustomization.yaml applies.
func manifests(t *testing.T) []manifest {
	t.Helper()
	var out []manifest
	for _, file := range kustomize(t).Resources {
		for _, obj := range yamlDocs[object](t, path.Join(k8sDir, file)) {
			out = append(out, manifest{file, obj})
		}
	}
	return out
}

func kustomize(t *testing.T) kustomization {
	t.Helper()
	return yamlDocs[kustomization](t, path.Join(k8sDir, "kustomization.yaml"))[0]
}

// kustomizeImage is the image the chatbot containers get once kustomize has rewritten it.
func kustomizeImage(t *testing.T) string {
	t.Helper()
	for _, img := range kustomize(t).Images {
		if img.Name == "chatbot" {
			name := img.Name
			if img.NewName != "" {
				name = img.NewName
			}
			return name + ":" + img.NewTag
		}
	}
	t.Fatal("kustomization.yaml has no images entry for chatbot")
	return ""
}

// get returns the one object of kind and name.
func get(t *testing.T, kind, name string) manifest {
	t.Helper()
	for _, m := range manifests(t) {
		if m.Kind == kind && m.Metadata.Name == name {
			return m
		}
	}
	t.Fatalf("%s has no %s %s", k8sDir, kind, name)
	return manifest{}
}

// secret is secret.yaml, the Secret created by hand (not applied by kustomize).
func secret(t *testing.T) object {
	t.Helper()
	docs := yamlDocs[object](t, path.Join(k8sDir, "secret.yaml"))
	if len(docs) != 1 || docs[0].Kind != "Secret" {
		t.Fatalf("secret.yaml: want one Secret, got %+v", docs)
	}
	return docs[0]
}

// podContainer is the chatbot container of a Deployment as the process it runs: its args,
// its environment (Secret values from secret.yaml), and the ConfigMaps it mounts.
func podContainer(t *testing.T, deployment string) (container, podSpec, k8sContainer) {
	t.Helper()
	d := get(t, "Deployment", deployment)
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%s: want one container, got %d", deployment, len(pod.Containers))
	}
	k := pod.Containers[0]
	c := container{where: d.file + " " + deployment, args: k.Args, env: map[string]string{}, files: map[string]string{}}
	if len(k.Command) > 0 {
		t.Errorf("%s: command %v replaces the image's entrypoint /chatbot; use args", c.where, k.Command)
	}
	sec := secret(t)
	for _, e := range k.Env {
		switch {
		case e.Value != nil:
			c.env[e.Name] = *e.Value
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			if ref.Name != sec.Metadata.Name {
				t.Errorf("%s: %s comes from Secret %s; secret.yaml is %s", c.where, e.Name, ref.Name, sec.Metadata.Name)
			}
			v, ok := sec.StringData[ref.Key]
			if !ok {
				t.Errorf("%s: %s comes from key %s, which secret.yaml does not have", c.where, e.Name, ref.Key)
			}
			// The Secret is created by hand; until it is, the pod must still start.
			if !ref.Optional {
				t.Errorf("%s: %s: the secretKeyRef is not optional", c.where, e.Name)
			}
			c.env[e.Name] = v
		default:
			t.Errorf("%s: %s has neither a value nor a secretKeyRef", c.where, e.Name)
		}
	}
	for _, vm := range k.VolumeMounts {
		for _, vol := range pod.Volumes {
			if vol.Name != vm.Name || vol.ConfigMap == nil {
				continue
			}
			cm := get(t, "ConfigMap", vol.ConfigMap.Name)
			for file, content := range cm.Data {
				c.files[path.Join(vm.MountPath, file)] = content
			}
		}
	}
	return c, pod, k
}

// TestKustomizationListsEveryManifest: `kubectl apply -k` applies every manifest of the
// directory except secret.yaml, which would overwrite the real Secret with its placeholder.
func TestKustomizationListsEveryManifest(t *testing.T) {
	t.Parallel()
	entries, err := os.ReadDir(path.Join(root, k8sDir))
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		if n := e.Name(); strings.HasSuffix(n, ".yaml") && n != "kustomization.yaml" && n != "secret.yaml" {
			files = append(files, n)
		}
	}
	got := slices.Sorted(slices.Values(kustomize(t).Resources))
	if !slices.Equal(got, files) {
		t.Errorf("kustomization.yaml resources %v, files %v (secret.yaml stays out)", got, files)
	}
}

func TestKubernetesServe(t *testing.T) {
	t.Parallel()
	c, pod, k := podContainer(t, "chatbot-serve")
	sub, cfg := c.run(t)
	if sub.Name() != "serve" {
		t.Fatalf("%s runs chatbot %s", c.where, sub.Name())
	}
	checkProbes(t, c.where, k, cfg.Server.Addr)
	// The readiness handler gives Redis 2s before it answers 503; a shorter probe timeout
	// would report a timeout instead of the reason.
	if k.ReadinessProbe != nil && k.ReadinessProbe.TimeoutSeconds <= 2 {
		t.Errorf("%s: readinessProbe timeoutSeconds %d, want above 2", c.where, k.ReadinessProbe.TimeoutSeconds)
	}
	// preStop sleeps while the pod leaves the endpoints; then SIGTERM starts the drain. Both
	// count against the grace period.
	if k.Lifecycle == nil || k.Lifecycle.PreStop == nil || k.Lifecycle.PreStop.Sleep == nil || k.Lifecycle.PreStop.Sleep.Seconds <= 0 {
		t.Fatalf("%s: want lifecycle.preStop.sleep.seconds > 0 (the image has no sleep binary)", c.where)
	}
	sleep := time.Duration(k.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	grace := gracePeriod(t, c.where, pod)
	if grace <= sleep+cfg.Server.ShutdownTimeout {
		t.Errorf("%s: terminationGracePeriodSeconds %s is not above preStop sleep %s + server.shutdown_timeout %s",
			c.where, grace, sleep, cfg.Server.ShutdownTimeout)
	}
}

func TestKubernetesWork(t *testing.T) {
	t.Parallel()
	c, pod, k := podContainer(t, "chatbot-work")
	sub, cfg := c.run(t)
	if sub.Name() != "work" {
		t.Fatalf("%s runs chatbot %s", c.where, sub.Name())
	}
	if cfg.Worker.MetricsAddr == "" {
		t.Errorf("%s: worker.metrics_addr is not set: no metrics and nothing to probe", c.where)
	} else {
		checkProbes(t, c.where, k, cfg.Worker.MetricsAddr)
	}
	grace := gracePeriod(t, c.where, pod)
	if k.Lifecycle != nil && k.Lifecycle.PreStop != nil && k.Lifecycle.PreStop.Sleep != nil {
		grace -= time.Duration(k.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	}
	if grace <= cfg.Worker.ShutdownTimeout {
		t.Errorf("%s: terminationGracePeriodSeconds (less any preStop sleep) %s is not above worker.shutdown_timeout %s",
			c.where, grace, cfg.Worker.ShutdownTimeout)
	}
	if get(t, "Deployment", "chatbot-work").Spec.Replicas != nil {
		t.Errorf("%s sets replicas, which every apply would reset under the autoscaler", c.where)
	}
}

// checkProbes: readiness is GET /readyz and liveness GET /healthz, on the port the process
// listens on (listen, a host:port).
func checkProbes(t *testing.T, where string, k k8sContainer, listen string) {
	t.Helper()
	for _, p := range []struct {
		name  string
		probe *probe
		path  string
	}{{"readinessProbe", k.ReadinessProbe, "/readyz"}, {"livenessProbe", k.LivenessProbe, "/healthz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path {
			got := "no httpGet"
			if p.probe != nil && p.probe.HTTPGet != nil {
				got = "GET " + p.probe.HTTPGet.Path
			}
			t.Errorf("%s: %s %s, want GET %s", where, p.name, got, p.path)
			continue
		}
		if got := containerPort(t, k, p.probe.HTTPGet.Port); got != port(t, listen) {
			t.Errorf("%s: %s port %s is %s, the process listens on %s", where, p.name, p.probe.HTTPGet.Port, got, listen)
		}
	}
}

func gracePeriod(t *testing.T, where string, pod podSpec) time.Duration {
	t.Helper()
	if pod.TerminationGracePeriodSeconds == nil {
		t.Fatalf("%s: no terminationGracePeriodSeconds", where)
	}
	return time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
}

// containerPort resolves a probe's or Service's port (a number or a port name).
func containerPort(t *testing.T, k k8sContainer, p string) string {
	t.Helper()
	for _, cp := range k.Ports {
		if cp.Name == p {
			return strconv.Itoa(cp.ContainerPort)
		}
	}
	return p
}
