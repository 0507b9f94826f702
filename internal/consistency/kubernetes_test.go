package consistency_test

import (
	"maps"
	"net/url"
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

func TestKubernetesAutoscaler(t *testing.T) {
	t.Parallel()
	hpa := get(t, "HorizontalPodAutoscaler", "chatbot-work")
	ref := hpa.Spec.ScaleTargetRef
	if hpa.APIVersion != "autoscaling/v2" || ref == nil || ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" {
		t.Fatalf("HPA %s scales %+v", hpa.APIVersion, ref)
	}
	_, _, k := podContainer(t, ref.Name)
	if len(hpa.Spec.Metrics) != 1 || hpa.Spec.Metrics[0].Resource.Name != "cpu" || hpa.Spec.Metrics[0].Resource.Target.Type != "Utilization" {
		t.Errorf("HPA metrics %+v, want CPU utilization", hpa.Spec.Metrics)
	}
	// Utilization is a share of the request: without one the autoscaler does nothing.
	if k.Resources.Requests["cpu"] == "" {
		t.Errorf("%s has no CPU request for the autoscaler to measure against", ref.Name)
	}
	if hpa.Spec.MinReplicas < 1 || hpa.Spec.MaxReplicas < hpa.Spec.MinReplicas {
		t.Errorf("HPA replicas %d..%d", hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
	}
}

// TestKubernetesSelectors: every budget and the Service select the pods of exactly the
// workload they are for.
func TestKubernetesSelectors(t *testing.T) {
	t.Parallel()
	pods := map[string]map[string]string{} // workload -> pod labels
	for _, m := range manifests(t) {
		if m.Spec.Template != nil {
			if !subset(m.Spec.matchLabels(), m.Spec.Template.Metadata.Labels) {
				t.Errorf("%s %s: selector %v does not select its own pods %v", m.Kind, m.Metadata.Name, m.Spec.matchLabels(), m.Spec.Template.Metadata.Labels)
			}
			pods[m.Metadata.Name] = m.Spec.Template.Metadata.Labels
		}
	}
	selects := func(sel map[string]string) []string {
		var out []string
		for name, labels := range pods {
			if len(sel) > 0 && subset(sel, labels) {
				out = append(out, name)
			}
		}
		return out
	}
	budgets := map[string]bool{}
	for _, m := range manifests(t) {
		switch m.Kind {
		case "PodDisruptionBudget":
			got := selects(m.Spec.matchLabels())
			if len(got) != 1 {
				t.Errorf("PodDisruptionBudget %s selects %v, want one workload", m.Metadata.Name, got)
				continue
			}
			budgets[got[0]] = true
			if (m.Spec.MinAvailable == nil) == (m.Spec.MaxUnavailable == nil) {
				t.Errorf("PodDisruptionBudget %s: want one of minAvailable and maxUnavailable", m.Metadata.Name)
			}
		case "Service":
			got := selects(m.Spec.selector())
			if len(got) != 1 {
				t.Errorf("Service %s selects %v, want one workload", m.Metadata.Name, got)
			}
		}
	}
	for _, d := range []string{"chatbot-serve", "chatbot-work"} {
		if !budgets[d] {
			t.Errorf("no PodDisruptionBudget for %s", d)
		}
	}
	svc := get(t, "Service", "chatbot")
	if got := selects(svc.Spec.selector()); !slices.Equal(got, []string{"chatbot-serve"}) {
		t.Errorf("Service chatbot selects %v, want chatbot-serve", got)
	}
	_, _, k := podContainer(t, "chatbot-serve")
	for _, p := range svc.Spec.Ports {
		declared := slices.ContainsFunc(k.Ports, func(cp containerPortSpec) bool {
			return cp.Name == p.TargetPort || strconv.Itoa(cp.ContainerPort) == p.TargetPort
		})
		if !declared {
			t.Errorf("Service chatbot targets port %s, which serve does not declare", p.TargetPort)
		}
	}
}

func subset(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// TestKubernetesLockedDown: every pod, Redis included, meets the "restricted" Pod Security
// Standard, and the chatbot pods run as the image's user.
func TestKubernetesLockedDown(t *testing.T) {
	t.Parallel()
	uid, gid := dockerUser(t)
	for _, m := range manifests(t) {
		if m.Spec.Template == nil {
			continue
		}
		pod := m.Spec.Template.Spec
		where := m.file + " " + m.Metadata.Name
		sc := pod.SecurityContext
		if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.SeccompProfile.Type != "RuntimeDefault" {
			t.Errorf("%s: pod securityContext %+v: want runAsNonRoot and seccomp RuntimeDefault", where, sc)
		}
		if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
			t.Errorf("%s: mounts a service account token it never uses", where)
		}
		for _, k := range pod.Containers {
			cs := k.SecurityContext
			if cs == nil || cs.AllowPrivilegeEscalation == nil || *cs.AllowPrivilegeEscalation ||
				cs.ReadOnlyRootFilesystem == nil || !*cs.ReadOnlyRootFilesystem ||
				cs.Capabilities == nil || !slices.Equal(cs.Capabilities.Drop, []string{"ALL"}) {
				t.Errorf("%s/%s: want allowPrivilegeEscalation false, readOnlyRootFilesystem, capabilities drop ALL", where, k.Name)
			}
			if k.Resources.Limits["memory"] == "" || k.Resources.Requests["memory"] == "" {
				t.Errorf("%s/%s: want a memory request and limit", where, k.Name)
			}
			if k.Image == "chatbot" && (sc.RunAsUser != uid || sc.RunAsGroup != gid) {
				t.Errorf("%s: runs as %d:%d, the image's USER is %d:%d", where, sc.RunAsUser, sc.RunAsGroup, uid, gid)
			}
		}
	}
}

// TestKubernetesImages: the chatbot containers use the image kustomize rewrites (the one
// docker-compose.yml builds), and Redis runs as in docker-compose.yml, with the AOF.
func TestKubernetesImages(t *testing.T) {
	t.Parallel()
	chatbot := 0
	for _, m := range manifests(t) {
		if m.Spec.Template == nil {
			continue
		}
		for _, k := range m.Spec.Template.Spec.Containers {
			switch {
			case k.Image == "chatbot":
				chatbot++
			case strings.HasPrefix(k.Image, "redis:"):
				r := compose(t).Services["redis"]
				if k.Image != r.Image || strings.Join(k.Args, " ") != strings.Join(r.Command, " ") {
					t.Errorf("%s: %s %v, docker-compose.yml runs %s %v", m.Metadata.Name, k.Image, k.Args, r.Image, r.Command)
				}
			default:
				t.Errorf("%s: unexpected image %s", m.Metadata.Name, k.Image)
			}
		}
	}
	if chatbot != 2 {
		t.Errorf("%d containers run the chatbot image, want 2 (serve, work)", chatbot)
	}
}

// TestKubernetesSecretIsAPlaceholder: secret.yaml documents the Secret's keys and never holds
// a real key or password; nothing else in the manifests does either.
func TestKubernetesSecretIsAPlaceholder(t *testing.T) {
	t.Parallel()
	sec := secret(t)
	if len(sec.Data) > 0 {
		t.Errorf("secret.yaml has base64 data %v; use stringData placeholders", slices.Collect(maps.Keys(sec.Data)))
	}
	for key, v := range sec.StringData {
		if u, err := url.Parse(v); err == nil && u.User != nil {
			if _, hasPassword := u.User.Password(); hasPassword {
				t.Errorf("secret.yaml %s holds a password", key)
			}
		}
		if strings.Contains(strings.ToLower(key), "key") && v != "REPLACE_ME" {
			t.Errorf("secret.yaml %s = %q, want the placeholder REPLACE_ME", key, v)
		}
	}
	for _, d := range []string{"chatbot-serve", "chatbot-work"} {
		c, _, _ := podContainer(t, d)
		for _, k := range get(t, "Deployment", d).Spec.Template.Spec.Containers[0].Env {
			if k.Value != nil && secretish.MatchString(k.Name) {
				t.Errorf("%s: %s is written into the manifest; take it from the Secret", c.where, k.Name)
			}
		}
		for _, content := range c.files {
			if strings.Contains(content, "api_key") {
				t.Errorf("%s: the ConfigMap sets llm.api_key; it belongs in the Secret", c.where)
			}
		}
	}
	key := envName("llm.api_key")
	fromSecret := slices.ContainsFunc(get(t, "Deployment", "chatbot-work").Spec.Template.Spec.Containers[0].Env, func(e envVar) bool {
		return e.Name == key && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil
	})
	if !fromSecret {
		t.Errorf("chatbot-work does not take %s from the Secret", key)
	}
}
