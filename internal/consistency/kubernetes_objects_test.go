package consistency_test

import (
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The objects around the two Deployments: autoscaler, budgets, Service, Secret, and what every
// pod template must have.

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
