package store

import (
	"crypto/sha256"
	"encoding/hex"
	"hash/fnv"
	"strconv"
)

// DefaultPrefix starts every key and channel, so one ACL rule (~chat:* &chat:*) fences the
// project in.
const DefaultPrefix = "chat:"

// Keys names every key and channel. The zero value is not usable: use NewKeys.
type Keys struct {
	prefix string
}

// NewKeys returns the key namer for prefix (DefaultPrefix when empty). Tests give each test its
// own prefix under "chat:" so they can share one Redis.
func NewKeys(prefix string) Keys {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return Keys{prefix: prefix}
}

// Prefix is the prefix every key starts with.
func (k Keys) Prefix() string { return k.prefix }

func (k Keys) tagged(token, suffix string) string { return k.prefix + "{" + token + "}" + suffix }

// Session is the session hash, of the fields sessionFields.
func (k Keys) Session(token string) string { return k.tagged(token, "") }

// sessionFields are the fields of the session hash, as the scripts in lua/ and user.go name
// them: name, start (RFC 3339), seq (last queued), done (last answered), last (newest event
// ID, but a lease holder's deltas), deltas ("1" while a turn's deltas are written), started (turn a worker last began), stop (turn the user asked to stop), lease and until
// (the worker attempt working on the session, and until when, Unix ms), base (the seq before
// the first message kept in Pending), rate and rate_end (messages in the current one-minute
// window, and when it ends, Unix ms), expires (when the keys' TTL runs out, Unix ms),
// hist_bytes (the bytes of the history's entries), ev_n and ev_bytes (the events in Out, and
// the bytes of those but deltas): session.history_max_bytes, session.events_max(_bytes); and with auth.mode jwt user (the
// owner's sub) and title (from the first message). A client_id's
// record ("seq id offset", for an idempotent resend) is the field "c:" + client_id.
// lua_test.go checks that the code uses exactly these and that docs/ARCHITECTURE.md lists them.
var sessionFields = []string{"name", "start", "seq", "done", "last", "deltas", "started", "stop", "lease", "until", "base",
	"rate", "rate_end", "expires", "hist_bytes", "ev_n", "ev_bytes", "user", "title",
	"usage_day", "usage_prompt", "usage_completion", "usage_turns", "usage_grant"}

// Messages is the history list, one JSON Message per entry.
func (k Keys) Messages(token string) string { return k.tagged(token, ":messages") }

// Pending is the list of messages sent, in order, from the one after seq base (a session hash
// field) on: those up to done are answered, and trimmed in batches.
func (k Keys) Pending(token string) string { return k.tagged(token, ":pending") }

// Out is the session's event stream; its IDs are the offsets clients resume from.
func (k Keys) Out(token string) string { return k.tagged(token, ":out") }

// Notify is the pub/sub channel on which every write to Out is announced.
func (k Keys) Notify(token string) string { return k.tagged(token, ":notify") }

// SessionKeys is every key that names the token, in the order the session scripts expect them
// (KEYS[1..4], named in lua/prelude.lua).
func (k Keys) SessionKeys(token string) []string {
	return []string{k.Session(token), k.Messages(token), k.Pending(token), k.Out(token)}
}

// A user's keys (auth.mode jwt) carry the hash tag {UserTag(sub)}: they share a cluster slot,
// and a sub of any bytes makes a key name of fixed shape that does not show it.

// UserTag is the tag of a user's keys: 32 hex digits of the SHA-256 of the sub.
func UserTag(user string) string {
	sum := sha256.Sum256([]byte(user))
	return hex.EncodeToString(sum[:16])
}

func (k Keys) user(user, suffix string) string {
	return k.prefix + "user:{" + UserTag(user) + "}" + suffix
}

// UserSessions is the user's index of sessions: a sorted set of tokens scored by the time of
// their last activity (Unix ms). It expires, and its members leave it, session.ttl after it.
func (k Keys) UserSessions(user string) string { return k.user(user, ":sessions") }

// UserMessages counts the user's messages in the current one-minute window.
func (k Keys) UserMessages(user string) string { return k.user(user, ":messages") }

// UserCreated counts the sessions the user created in the current one-minute window.
func (k Keys) UserCreated(user string) string { return k.user(user, ":created") }

// UserUsage is the user's token usage of the UTC day (YYYY-MM-DD): a hash of prompt,
// completion, turns, grant and the reservations of turns in flight (lua/usage.lua). It expires
// Budget.Keep after the day ends.
func (k Keys) UserUsage(user, day string) string { return k.user(user, ":usage:"+day) }

// Requests is the request stream of partition p, consumed by the workers group.
func (k Keys) Requests(p int) string { return k.prefix + "requests:{" + strconv.Itoa(p) + "}" }

// Dead is the stream of requests that failed past their retries.
func (k Keys) Dead() string { return k.prefix + "dead" }

// Settings is the hash of what every process of a deployment must agree on, recorded by the
// first one that starts: partitions (stream.partitions). One small key, never expired.
func (k Keys) Settings() string { return k.prefix + "settings" }

// Group is the consumer group of the request streams.
const Group = "workers"

// Partition is the request stream partition of token: fnv-1a(token) mod partitions.
func Partition(token string, partitions int) int {
	h := fnv.New32a()
	h.Write([]byte(token))
	return int(h.Sum32() % uint32(partitions))
}
