package consistency_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"chatbot/internal/redistest"
	"chatbot/pkg/devredis"
	"chatbot/pkg/store/storetest"
)

// The probe tests run the real processes the manifests describe — the Deployment's args,
// environment and mounted ConfigMap — on a free port and a test Redis, send them what
// Kubernetes and Compose send, and stop them as Kubernetes does (SIGTERM, here the context).

// status GETs url and returns the status code, 0 when nothing answers.
func status(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// process is a running chatbot process of a manifest.
type process struct {
	c      container
	base   string // http://127.0.0.1:PORT
	cancel context.CancelFunc
	exited chan struct{} // closed when it returns, with res set
	res    result
}

// startProcess runs c against redisURL, listening on a free port through the key listenKey
// (server.addr, worker.metrics_addr), and waits until it answers /healthz.
func startProcess(t *testing.T, c container, redisURL, listenKey string) *process {
	t.Helper()
	addr := redistest.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	p := &process{c: c, base: "http://" + addr, cancel: cancel, exited: make(chan struct{})}
	done := c.start(t, ctx, "--redis.url="+redisURL, "--"+listenKey+"="+addr)
	go func() {
		p.res = <-done
		close(p.exited)
	}()
	t.Cleanup(func() {
		cancel()
		<-p.exited
	})
	storetest.Eventually(t, 30*time.Second, c.where+" to answer /healthz", func() bool {
		select {
		case <-p.exited:
			return true
		default:
			return status(p.base+"/healthz") == http.StatusOK
		}
	})
	select {
	case <-p.exited:
		t.Fatalf("%s exited at start: %v\n%s", c.where, p.res.err, p.res.out)
	default:
	}
	return p
}

// probe GETs the path of a Kubernetes httpGet probe and wants 200 within a few seconds, as
// Kubernetes probes again until it is (a serve is ready once its subscriber is connected).
func (p *process) probe(t *testing.T, name string, pr *probe) {
	t.Helper()
	if pr == nil || pr.HTTPGet == nil {
		t.Errorf("%s: no %s httpGet", p.c.where, name)
		return
	}
	got := 0
	deadline := time.Now().Add(10 * time.Second)
	for got = status(p.base + pr.HTTPGet.Path); got != http.StatusOK && time.Now().Before(deadline); got = status(p.base + pr.HTTPGet.Path) {
		time.Sleep(20 * time.Millisecond)
	}
	if got != http.StatusOK {
		t.Errorf("%s: %s GET %s: %d, want 200", p.c.where, name, pr.HTTPGet.Path, got)
	}
}

// stop ends the process as SIGTERM would and wants a clean exit within grace.
func (p *process) stop(t *testing.T, grace time.Duration) {
	t.Helper()
	p.cancel()
	select {
	case <-p.exited:
		if p.res.err != nil {
			t.Errorf("%s: exit after the stop signal: %v\n%s", p.c.where, p.res.err, p.res.out)
		}
	case <-time.After(grace):
		t.Errorf("%s: still running %s after the stop signal, when Kubernetes kills it", p.c.where, grace)
	}
}

// TestServeProcessProbes: serve as serve.yaml runs it answers its readiness and liveness
// probes and docker-compose.yml's health check, and stops cleanly within the grace period.
func TestServeProcessProbes(t *testing.T) {
	t.Parallel()
	c, pod, k := podContainer(t, "chatbot-serve")
	compose, svc := composeContainer(t, "serve")
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		p := startProcess(t, c, b.URL, "server.addr")
		p.probe(t, "readinessProbe", k.ReadinessProbe)
		p.probe(t, "livenessProbe", k.LivenessProbe)

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		hc := container{where: compose.where + " healthcheck", args: svc.Healthcheck.Test[2:], env: compose.env}
		if r := hc.execute(t, ctx, "--server.addr="+p.base[len("http://"):]); r.err != nil {
			t.Errorf("%s: %v\n%s", hc.where, r.err, r.out)
		}
		p.stop(t, gracePeriod(t, c.where, pod))
	})
}

// TestWorkProcessProbes: work as work.yaml runs it answers its probes on worker.metrics_addr
// and docker-compose.yml's health check, and stops cleanly within the grace period. It runs on
// an embedded Redis of its own: a worker on the shared test Redis would take other tests'
// requests (the default key prefix).
func TestWorkProcessProbes(t *testing.T) {
	t.Parallel()
	c, pod, k := podContainer(t, "chatbot-work")
	compose, svc := composeContainer(t, "work")
	redis, err := devredis.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(redis.Close)
	p := startProcess(t, c, redis.URL(), "worker.metrics_addr")
	p.probe(t, "readinessProbe", k.ReadinessProbe)
	p.probe(t, "livenessProbe", k.LivenessProbe)

	// Compose's check names its URL; aim it at this process's port.
	args := append([]string(nil), svc.Healthcheck.Test[2:]...)
	for i, a := range args {
		if u, err := url.Parse(a); err == nil && u.Scheme == "http" {
			u.Host = p.base[len("http://"):]
			args[i] = u.String()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hc := container{where: compose.where + " healthcheck", args: args, env: compose.env}
	if r := hc.execute(t, ctx); r.err != nil {
		t.Errorf("%s: %v\n%s", hc.where, r.err, r.out)
	}
	p.stop(t, gracePeriod(t, c.where, pod))
}
