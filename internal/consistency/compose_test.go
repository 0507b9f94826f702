package consistency_test

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// composeFile is the part of the Compose format docker-compose.yml uses.
type composeFile struct {
	Name     string
	Services map[string]composeService
	Volumes  map[string]any
}

type composeService struct {
	Build *struct {
		Context string
		Args    map[string]string
	}
	Image         string
	Command       []string
	Environment   map[string]string
	Ports         []string
	Volumes       []string
	ContainerName string `yaml:"container_name"`
	Healthcheck   *struct {
		Test     []string
		Interval string
		Timeout  string
		Retries  int
	}
	StopGracePeriod string   `yaml:"stop_grace_period"`
	ReadOnly        bool     `yaml:"read_only"`
	CapDrop         []string `yaml:"cap_drop"`
	SecurityOpt     []string `yaml:"security_opt"`
	DependsOn       map[string]struct {
		Condition string
	} `yaml:"depends_on"`
}

func compose(t *testing.T) composeFile {
	t.Helper()
	docs := yamlDocs[composeFile](t, "docker-compose.yml")
	if len(docs) != 1 {
		t.Fatalf("docker-compose.yml: want one document, got %d", len(docs))
	}
	for _, name := range []string{"redis", "serve", "work"} {
		if _, ok := docs[0].Services[name]; !ok {
			t.Fatalf("docker-compose.yml has no %s service", name)
		}
	}
	return docs[0]
}

var interpolation = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:?-([^}]*))?\}`)

// interpolate evaluates ${NAME:-default} as Compose does with NAME unset.
func interpolate(s string) string {
	return interpolation.ReplaceAllString(s, "$3")
}

// composeContainer is a chatbot service as the container it runs: the image's entrypoint
// with the service's command and environment, no files mounted.
func composeContainer(t *testing.T, name string) (container, composeService) {
	t.Helper()
	svc := compose(t).Services[name]
	env := map[string]string{}
	for k, v := range svc.Environment {
		env[k] = interpolate(v)
	}
	return container{where: "docker-compose.yml " + name, args: svc.Command, env: env}, svc
}

// graceAbove checks a stop grace period (a duration string) against a shutdown timeout.
func graceAbove(t *testing.T, where, grace string, timeout time.Duration, key string) {
	t.Helper()
	d, err := time.ParseDuration(grace)
	if err != nil {
		t.Errorf("%s: stop_grace_period %q: %v", where, grace, err)
		return
	}
	if d <= timeout {
		t.Errorf("%s: stop_grace_period %s is not above %s (%s): the process is killed mid-drain", where, d, key, timeout)
	}
}

func TestComposeServe(t *testing.T) {
	t.Parallel()
	c, svc := composeContainer(t, "serve")
	sub, cfg := c.run(t)
	if sub.Name() != "serve" {
		t.Errorf("serve service runs chatbot %s", sub.Name())
	}
	want := port(t, cfg.Server.Addr) + ":" + port(t, cfg.Server.Addr)
	if !slices.Contains(svc.Ports, want) {
		t.Errorf("serve publishes %v, want %s (server.addr %s)", svc.Ports, want, cfg.Server.Addr)
	}
	graceAbove(t, c.where, svc.StopGracePeriod, cfg.Server.ShutdownTimeout, "server.shutdown_timeout")
	// The health check runs the binary itself (the image has no curl).
	hc := svc.Healthcheck
	if hc == nil || len(hc.Test) < 3 || hc.Test[0] != "CMD" || hc.Test[1] != "/chatbot" {
		t.Fatalf(`serve healthcheck %+v: want ["CMD", "/chatbot", "healthcheck", ...]`, hc)
	}
	hcCmd, _ := container{where: c.where + " healthcheck", args: hc.Test[2:], env: c.env}.run(t)
	if hcCmd.Name() != "healthcheck" {
		t.Fatalf("serve healthcheck runs chatbot %s", hcCmd.Name())
	}
	// Compose kills a check that outlives its timeout, reporting no reason: the command's
	// own --timeout must end it first.
	own, err := time.ParseDuration(hcCmd.Flags().Lookup("timeout").Value.String())
	limit, err2 := time.ParseDuration(hc.Timeout)
	if err != nil || err2 != nil || limit <= own {
		t.Errorf("serve healthcheck timeout %q, want above the command's --timeout %s", hc.Timeout, own)
	}
}

func TestComposeWork(t *testing.T) {
	t.Parallel()
	c, svc := composeContainer(t, "work")
	sub, cfg := c.run(t)
	if sub.Name() != "work" {
		t.Errorf("work service runs chatbot %s", sub.Name())
	}
	graceAbove(t, c.where, svc.StopGracePeriod, cfg.Worker.ShutdownTimeout, "worker.shutdown_timeout")
	// The health check asks /readyz of worker.metrics_addr.
	hc := svc.Healthcheck
	if hc == nil || len(hc.Test) < 3 || hc.Test[0] != "CMD" || hc.Test[1] != "/chatbot" {
		t.Fatalf(`work healthcheck %+v: want ["CMD", "/chatbot", "healthcheck", "--url", ...]`, hc)
	}
	hcCmd, _ := container{where: c.where + " healthcheck", args: hc.Test[2:], env: c.env}.run(t)
	u, err := url.Parse(hcCmd.Flags().Lookup("url").Value.String())
	if hcCmd.Name() != "healthcheck" || err != nil || u.Path != "/readyz" || cfg.Worker.MetricsAddr == "" ||
		u.Port() != port(t, cfg.Worker.MetricsAddr) {
		t.Errorf("work healthcheck %v, want chatbot healthcheck --url http://127.0.0.1:<port of worker.metrics_addr %q>/readyz",
			hc.Test, cfg.Worker.MetricsAddr)
	}
	// `docker compose up --scale work=3` needs a service that can run three times.
	if len(svc.Ports) > 0 || svc.ContainerName != "" {
		t.Errorf("work has ports %v / container_name %q: it could not scale", svc.Ports, svc.ContainerName)
	}
}

// TestComposeChatbotServices: both roles run the one image, locked down, after Redis is
// healthy, against the compose Redis.
func TestComposeChatbotServices(t *testing.T) {
	t.Parallel()
	f := compose(t)
	for _, name := range []string{"serve", "work"} {
		svc := f.Services[name]
		if svc.Image != kustomizeImage(t) || svc.Build == nil || svc.Build.Context != "." {
			t.Errorf("%s: image %q build %+v; want %s built from .", name, svc.Image, svc.Build, kustomizeImage(t))
		}
		if !svc.ReadOnly || !slices.Equal(svc.CapDrop, []string{"ALL"}) || !slices.Contains(svc.SecurityOpt, "no-new-privileges:true") {
			t.Errorf("%s: read_only %v cap_drop %v security_opt %v; want read-only, no capabilities, no-new-privileges",
				name, svc.ReadOnly, svc.CapDrop, svc.SecurityOpt)
		}
		if svc.DependsOn["redis"].Condition != "service_healthy" {
			t.Errorf("%s: depends_on %+v, want redis: service_healthy", name, svc.DependsOn)
		}
		u, err := url.Parse(interpolate(svc.Environment["CHATBOT_REDIS_URL"]))
		if err != nil || u.Hostname() != "redis" {
			t.Errorf("%s: CHATBOT_REDIS_URL %q does not point at the redis service", name, svc.Environment["CHATBOT_REDIS_URL"])
		}
		for k, v := range svc.Environment {
			// ${CHATBOT_X:-...} passes the caller's CHATBOT_X through; another name would
			// confuse.
			for _, m := range interpolation.FindAllStringSubmatch(v, -1) {
				if strings.HasPrefix(m[1], "CHATBOT_") && m[1] != k {
					t.Errorf("%s: %s takes its value from ${%s}", name, k, m[1])
				}
			}
			if k == envName("llm.api_key") && !interpolation.MatchString(v) {
				t.Errorf("%s: %s is written into docker-compose.yml; take it from the environment", name, k)
			}
		}
	}
}

func TestComposeRedis(t *testing.T) {
	t.Parallel()
	r := compose(t).Services["redis"]
	if !strings.HasPrefix(r.Image, "redis:") {
		t.Errorf("redis image %q", r.Image)
	}
	if !strings.Contains(strings.Join(r.Command, " "), "--appendonly yes") {
		t.Errorf("redis command %v: want --appendonly yes (the AOF)", r.Command)
	}
	if _, err := redisMaxmemory(r.Command); err != nil {
		t.Errorf("compose redis: %v", err)
	}
	// Stream nodes of 1 KB (docs/DEPLOY.md), as the benchmarks measure.
	if !strings.Contains(strings.Join(r.Command, " "), "--stream-node-max-bytes 1024") {
		t.Errorf("redis command %v: want --stream-node-max-bytes 1024 (docs/DEPLOY.md)", r.Command)
	}
	if !strings.Contains(string(repoFile(t, "scripts/bench.sh")), "\nSTREAM_NODE_MAX_BYTES=1024\n") {
		t.Error("scripts/bench.sh: want STREAM_NODE_MAX_BYTES=1024, as the bundled Redis runs")
	}
	if len(r.Volumes) != 1 || !strings.HasSuffix(r.Volumes[0], ":/data") {
		t.Errorf("redis volumes %v: want a volume on /data, where the AOF is written", r.Volumes)
	}
	if r.Healthcheck == nil || strings.Join(r.Healthcheck.Test, " ") != "CMD redis-cli ping" {
		t.Errorf("redis healthcheck %+v: want redis-cli ping", r.Healthcheck)
	}
}
