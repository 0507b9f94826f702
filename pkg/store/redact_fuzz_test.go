package store

import (
	"strings"
	"testing"
)

// FuzzRedisURLSecrets: whatever surrounds a password in redis.url (unescaped reserved
// characters included), neither the address the store shows in its messages nor the error of
// a URL it refuses contains any of the password. The password holds a marker that must never
// come out. Seeds: testdata/fuzz/FuzzRedisURLSecrets.
func FuzzRedisURLSecrets(f *testing.F) {
	const marker = "S3CR3T"
	f.Add("redis", "://", "user", "", "", "127.0.0.1:6379/0")
	f.Fuzz(func(t *testing.T, scheme, sep, user, before, after, rest string) {
		if strings.Contains(scheme+sep+user+rest, marker) {
			return
		}
		raw := scheme + sep + user + ":" + before + marker + after + "@" + rest
		if addr := redactAddr(raw); strings.Contains(addr, marker) {
			t.Fatalf("redactAddr(%q) = %q shows the password", raw, addr)
		}
		if _, err := clientOption(Options{URL: raw}); err != nil && strings.Contains(err.Error(), marker) {
			t.Fatalf("clientOption(%q): %q shows the password", raw, err)
		}
	})
}
