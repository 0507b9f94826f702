package config_test

import (
	"strings"
	"testing"

	"chatbot/pkg/config"
)

func TestRedactURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"redis://127.0.0.1:6379/0":         "redis://127.0.0.1:6379/0",
		"rediss://chatbot:pw@redis:6380/0": "rediss://xxxxx@redis:6380/0",
		"redis://:pw@h:1?addr=h2:2":        "redis://xxxxx@h:1?addr=h2:2",
		"redis://u:12/34@h:1/0":            "redis://xxxxx@h:1/0",
		"redis//u:pw@h:1":                  "xxxxx@h:1",
		"u:a://b@h":                        "xxxxx@h",
		"redis://h:1/%zz":                  "(unparsable URL)",
	} {
		if got := config.RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzRedactURL: whatever surrounds a password in redis.url, neither RedactURL nor the
// validation error of the configuration shows any of it. The password holds a marker that must
// never come out. Seeds: testdata/fuzz/FuzzRedactURL.
func FuzzRedactURL(f *testing.F) {
	const marker = "S3CR3T"
	f.Add("redis", "://", "user", "", "", "127.0.0.1:6379/0")
	f.Fuzz(func(t *testing.T, scheme, sep, user, before, after, rest string) {
		if strings.Contains(scheme+sep+user+rest, marker) {
			return
		}
		raw := scheme + sep + user + ":" + before + marker + after + "@" + rest
		if got := config.RedactURL(raw); strings.Contains(got, marker) {
			t.Fatalf("RedactURL(%q) = %q shows the password", raw, got)
		}
		c := config.Config{}
		c.Redis.URL = raw
		if err := c.Validate(); err != nil && strings.Contains(err.Error(), marker) {
			t.Fatalf("Validate with redis.url %q: %q shows the password", raw, err)
		}
	})
}
