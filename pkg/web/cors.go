package web

import (
	"net/http"
	"net/url"
	"path"
	"strings"
)

// originAllowed applies the rule coder/websocket applies to the WebSocket (AcceptOptions
// OriginPatterns) to the HTTP routes: the same host as the request, or a pattern of
// server.allowed_origins. A pattern with "://" matches scheme://host, one without matches
// the host; both may use path.Match wildcards ("*.example.com", "*"). proto, when known (a
// trusted proxy's X-Forwarded-Proto), must be the origin's scheme too for the same origin.
func originAllowed(origin, host, proto string, patterns []string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, host) && (proto == "" || strings.EqualFold(u.Scheme, proto)) {
		return true
	}
	for _, p := range patterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(target)); ok {
			return true
		}
	}
	return false
}

// cors answers preflight requests and marks responses to allowed origins readable by them.
// A request from another origin is still served (a browser keeps the response from the
// page); a preflight from one is refused with 403.
func (s *Server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" || r.URL.Path == "/chat" {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Add("Vary", "Origin")
		allowed := originAllowed(origin, r.Host, clientOf(r).proto, s.opt.AllowedOrigins)
		if allowed {
			w.Header().Set("Access-Control-Allow-Origin", origin)
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			if !allowed {
				writeJSON(w, http.StatusForbidden, detail("Origin not allowed"))
				return
			}
			h := w.Header()
			h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
