package web

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// client is who sent a request, as far as the server can tell: the client address (behind
// trusted proxies, the one they forwarded) and the key its per-address limits count under.
type client struct {
	addr netip.Addr // invalid when the peer address is not an IP (a unix socket)
	key  string     // addr, or for IPv6 its /64: one host or one subnet of one site
	// proto is the scheme the client used, from a trusted proxy's X-Forwarded-Proto; "" when
	// unknown (the Origin check then compares hosts only).
	proto string
}

type clientKey struct{}

// clientOf is the client the edge middleware found for r.
func clientOf(r *http.Request) client {
	if c, ok := r.Context().Value(clientKey{}).(client); ok {
		return c
	}
	return client{key: r.RemoteAddr}
}

// limitKey is the key of an address for per-address limits: an IPv4 address itself, an IPv6
// address by its /64 (a single site or host is usually handed a whole /64, so counting
// addresses would leave it unlimited).
func limitKey(a netip.Addr) string {
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// edge finds the client of every request (client) and, from a trusted proxy, the public host
// the client asked for (r.Host, which the Origin checks compare with).
func (s *Server) edge(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := s.identify(r)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), clientKey{}, c)))
	})
}

// identify is the client of r (and may set r.Host). The peer is the client unless it is a
// trusted proxy: then the client is the right-most address of X-Forwarded-For (or, without
// it, Forwarded's for=) that is not a trusted proxy itself, since everything left of it was
// written by the client and may be forged.
func (s *Server) identify(r *http.Request) client {
	peer := peerAddr(r.RemoteAddr)
	c := client{addr: peer}
	if peer.IsValid() && s.trusted(peer) {
		if a, ok := s.forwardedFor(r.Header); ok {
			c.addr = a
		}
		if host := lastValue(r.Header.Values("X-Forwarded-Host")); host != "" {
			r.Host = host
		}
		switch p := strings.ToLower(lastValue(r.Header.Values("X-Forwarded-Proto"))); p {
		case "http", "https":
			c.proto = p
		}
	}
	if c.addr.IsValid() {
		c.key = limitKey(c.addr)
	} else {
		c.key = r.RemoteAddr
	}
	return c
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.opt.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedFor walks the forwarded addresses from the right: the first one that is not a
// trusted proxy is the client; if all are trusted, the left-most. A value that does not parse
// stops the walk at the last address known (a trusted proxy wrote it, so nothing left of it
// can be believed).
func (s *Server) forwardedFor(h http.Header) (netip.Addr, bool) {
	hops := splitList(h.Values("X-Forwarded-For"))
	if len(hops) == 0 {
		hops = forwardedHops(h.Values("Forwarded"))
	}
	var last netip.Addr
	for i := len(hops) - 1; i >= 0; i-- {
		a := hopAddr(hops[i])
		if !a.IsValid() {
			break
		}
		last = a
		if !s.trusted(a) {
			return a, true
		}
	}
	return last, last.IsValid()
}

// peerAddr is the IP of a RemoteAddr ("ip:port"), IPv4-mapped IPv6 as IPv4.
func peerAddr(remote string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	a, _ := netip.ParseAddr(remote)
	return a.Unmap().WithZone("")
}

// hopAddr reads one forwarded hop: "192.0.2.1", "2001:db8::1", "[2001:db8::1]:4711" or
// "192.0.2.1:4711" (Forwarded's for= may carry a port; "unknown" and obfuscated names are
// not addresses).
func hopAddr(hop string) netip.Addr {
	hop = strings.Trim(strings.TrimSpace(hop), `"`)
	if a, err := netip.ParseAddr(hop); err == nil {
		return a.Unmap().WithZone("")
	}
	if ap, err := netip.ParseAddrPort(hop); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	if h, _, err := net.SplitHostPort(hop); err == nil {
		if a, err := netip.ParseAddr(h); err == nil {
			return a.Unmap().WithZone("")
		}
	}
	if strings.HasPrefix(hop, "[") && strings.HasSuffix(hop, "]") {
		if a, err := netip.ParseAddr(hop[1 : len(hop)-1]); err == nil {
			return a.Unmap().WithZone("")
		}
	}
	return netip.Addr{}
}

// forwardedHops are the for= values of Forwarded headers (RFC 7239), in order.
func forwardedHops(values []string) []string {
	var hops []string
	for _, elem := range splitList(values) {
		for pair := range strings.SplitSeq(elem, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
			if ok && strings.EqualFold(k, "for") {
				hops = append(hops, v)
			}
		}
	}
	return hops
}

// splitList splits comma-separated header values, in order, dropping empty items.
func splitList(values []string) []string {
	var out []string
	for _, v := range values {
		for item := range strings.SplitSeq(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				out = append(out, item)
			}
		}
	}
	return out
}

// lastValue is the right-most item of a comma-separated header: what the nearest proxy set.
func lastValue(values []string) string {
	items := splitList(values)
	if len(items) == 0 {
		return ""
	}
	return items[len(items)-1]
}
