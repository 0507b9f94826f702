package consistency_test

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"chatbot/pkg/store"
)

// The objects around the two Deployments: autoscaler, budgets, Service, Secret, and what every
// pod template must have.

// TestKubernetesAutoscaler: the workers scale with KEDA on the consumer group's lag of every
// request stream the ConfigMap's stream.partitions makes (names from pkg/store), on the Redis
// of the ConfigMap's redis.url; no CPU autoscaler (a worker waiting on a model uses none).
func TestKubernetesAutoscaler(t *testing.T) {
	t.Parallel()
	for _, m := range manifests(t) {
		if m.Kind == "HorizontalPodAutoscaler" && m.Spec.ScaleTargetRef != nil && m.Spec.ScaleTargetRef.Name == "chatbot-work" {
			t.Errorf("%s: HorizontalPodAutoscaler %s scales the workers; KEDA's ScaledObject does", m.file, m.Metadata.Name)
		}
	}
	so := get(t, "ScaledObject", "chatbot-work")
	ref := so.Spec.ScaleTargetRef
	if so.APIVersion != "keda.sh/v1alpha1" || ref == nil || ref.Name != "chatbot-work" || (ref.Kind != "" && ref.Kind != "Deployment") {
		t.Fatalf("ScaledObject %s scales %+v", so.APIVersion, ref)
	}
	minR, maxR := so.Spec.MinReplicaCount, so.Spec.MaxReplicaCount
	if minR == nil || maxR == nil || *minR < 1 || *maxR < *minR {
		t.Errorf("ScaledObject replicas %v..%v, want 1 <= min <= max (at least one worker answers at once)", minR, maxR)
	}
	c, _, _ := podContainer(t, ref.Name)
	_, cfg := c.run(t)
	u, err := url.Parse(cfg.Redis.URL)
	if err != nil {
		t.Fatalf("redis.url of %s: %v", c.where, err)
	}
	keys := store.NewKeys("")
	want := map[string]bool{}
	for p := range cfg.Stream.Partitions {
		want[keys.Requests(p)] = true
	}
	seen := map[string]bool{}
	for i, tr := range so.Spec.Triggers {
		md := tr.Metadata
		where := so.file + " trigger " + strconv.Itoa(i)
		if tr.Type != "redis-streams" {
			t.Errorf("%s: type %q, want redis-streams", where, tr.Type)
			continue
		}
		if !want[md["stream"]] || seen[md["stream"]] {
			t.Errorf("%s: stream %q is not one of %v, or twice", where, md["stream"], slices.Sorted(maps.Keys(want)))
		}
		seen[md["stream"]] = true
		if md["consumerGroup"] != store.Group {
			t.Errorf("%s: consumerGroup %q, want %q", where, md["consumerGroup"], store.Group)
		}
		// lagCount: scale on the requests not yet delivered (XINFO GROUPS lag), not on the
		// pending entries (held by busy workers) nor the stream's length (answered ones too).
		if n, err := strconv.Atoi(md["lagCount"]); err != nil || n < 1 {
			t.Errorf("%s: lagCount %q, want a number >= 1", where, md["lagCount"])
		}
		if md["address"] != u.Host {
			t.Errorf("%s: address %q, but the workers use the Redis at %s (redis.url)", where, md["address"], u.Host)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("ScaledObject triggers on %v, want every request stream %v (stream.partitions %d)",
			slices.Sorted(maps.Keys(seen)), slices.Sorted(maps.Keys(want)), cfg.Stream.Partitions)
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

// TestKubernetesRedisMemory: the bundled Redis refuses writes at a maxmemory below its
// container's memory limit (room for an AOF rewrite's fork) rather than being OOM-killed, and
// never evicts a key (noeviction).
func TestKubernetesRedisMemory(t *testing.T) {
	t.Parallel()
	sts := get(t, "StatefulSet", "chatbot-redis")
	if sts.Spec.Template == nil || len(sts.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("StatefulSet chatbot-redis: want one container")
	}
	k := sts.Spec.Template.Spec.Containers[0]
	maxmemory, err := redisMaxmemory(k.Args)
	if err != nil {
		t.Fatalf("%s: %v", sts.file, err)
	}
	limit, err := quantityBytes(k.Resources.Limits["memory"])
	if err != nil {
		t.Fatalf("%s: memory limit: %v", sts.file, err)
	}
	if maxmemory > limit*8/10 {
		t.Errorf("%s: maxmemory %d is above 80%% of the memory limit %d: an AOF rewrite's fork would get Redis OOM-killed", sts.file, maxmemory, limit)
	}
}

// redisMaxmemory is the --maxmemory of a redis-server command line, in bytes; an error when it
// is missing or when --maxmemory-policy is not noeviction.
func redisMaxmemory(args []string) (int64, error) {
	flags := map[string]string{}
	for i := 0; i+1 < len(args); i++ {
		if strings.HasPrefix(args[i], "--") {
			flags[args[i]] = args[i+1]
		}
	}
	if flags["--maxmemory-policy"] != "noeviction" {
		return 0, fmt.Errorf("redis-server %v: want --maxmemory-policy noeviction (docs/DEPLOY.md: an evicting Redis drops session keys one by one)", args)
	}
	n, err := quantityBytes(flags["--maxmemory"])
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("redis-server %v: want --maxmemory with a size (%v)", args, err)
	}
	return n, nil
}

// quantityBytes reads a size as Redis (768mb, 1gb) or Kubernetes (512Mi, 1Gi) writes it.
func quantityBytes(q string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}}
	for _, u := range units {
		if n, ok := strings.CutSuffix(q, u.suffix); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			return v * u.mult, err
		}
	}
	return strconv.ParseInt(q, 10, 64)
}
