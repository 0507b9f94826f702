package store_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tlsRedis is a redis-server the test started, listening only on a TLS port on loopback,
// with a certificate signed by a CA made for this test.
type tlsRedis struct {
	Addr   string // 127.0.0.1:port
	CAFile string // PEM of the CA that signed the server's certificate
	Dir    string
}

// URL is the rediss:// URL of the server, with userinfo ("user:pass" or "") when given.
func (r tlsRedis) URL(userinfo string) string {
	if userinfo != "" {
		userinfo += "@"
	}
	return "rediss://" + userinfo + r.Addr + "/0"
}

// startTLSRedis generates a CA and a server certificate for 127.0.0.1 in t.TempDir() and starts
// `redis-server --port 0 --tls-port P` on a free loopback port, stopped when the test ends.
// Clients need not present a certificate (--tls-auth-clients no).
func startTLSRedis(t *testing.T) tlsRedis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server is not on PATH (scripts/deps.sh redis installs it): %v", err)
	}
	dir := t.TempDir()
	ca, caKey := newCA(t, "chatbot test CA")
	writePEM(t, filepath.Join(dir, "ca.pem"), "CERTIFICATE", ca.Raw)
	cert, key := newServerCert(t, ca, caKey)
	writePEM(t, filepath.Join(dir, "server.pem"), "CERTIFICATE", cert)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, "server-key.pem"), "PRIVATE KEY", keyDER)

	pool := x509.NewCertPool()
	pool.AddCert(ca)
	// A port picked free can be taken before redis-server binds it: try a few.
	var lastErr error
	for range 5 {
		port := freePort(t)
		srv := tlsRedis{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), CAFile: filepath.Join(dir, "ca.pem"), Dir: dir}
		if lastErr = srv.start(t, port, pool); lastErr == nil {
			return srv
		}
	}
	t.Fatalf("start redis-server with TLS: %v", lastErr)
	return tlsRedis{}
}

// start runs the server on port and waits until it answers PING over TLS. An error means it
// exited (port taken, TLS not supported...) or did not answer in time; it is stopped then.
func (r tlsRedis) start(t *testing.T, port int, pool *x509.CertPool) error {
	t.Helper()
	logPath := filepath.Join(r.Dir, fmt.Sprintf("redis-%d.log", port))
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command("redis-server",
		"--bind", "127.0.0.1", "--port", "0", "--tls-port", strconv.Itoa(port),
		"--tls-cert-file", filepath.Join(r.Dir, "server.pem"),
		"--tls-key-file", filepath.Join(r.Dir, "server-key.pem"),
		"--tls-ca-cert-file", r.CAFile,
		"--tls-auth-clients", "no",
		"--dir", r.Dir, "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", "")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	deadline := time.Now().Add(10 * time.Second)
	for wait := time.Millisecond; ; wait = min(wait*2, 50*time.Millisecond) {
		select {
		case err := <-exited:
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("redis-server exited (%v): %s", err, lastLines(string(log), 5))
		default:
		}
		if pingTLS(r.Addr, pool) == nil {
			t.Cleanup(stop)
			return nil
		}
		if time.Now().After(deadline) {
			stop()
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("redis-server on %s did not answer over TLS in 10s: %s", r.Addr, lastLines(string(log), 5))
		}
		time.Sleep(wait)
	}
}

// pingTLS sends PING over TLS, trusting only pool (so only our server can answer it).
func pingTLS(addr string, pool *x509.CertPool) error {
	d := &net.Dialer{Timeout: time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return errors.New("unexpected answer " + strconv.Quote(line))
	}
	return nil
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}

// newCA makes a self-signed CA certificate.
func newCA(t *testing.T, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// newServerCert makes a server certificate for 127.0.0.1 and localhost signed by ca.
func newServerCert(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey) ([]byte, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: "redis test server"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return der, key
}

func serial(t *testing.T) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// otherCAFile writes the PEM of a CA that signed nothing the server has.
func otherCAFile(t *testing.T) string {
	t.Helper()
	ca, _ := newCA(t, "unrelated CA")
	path := filepath.Join(t.TempDir(), "other-ca.pem")
	writePEM(t, path, "CERTIFICATE", ca.Raw)
	return path
}
