package store

import "strings"

// ACLCommands are the only commands the project's Redis user needs, as Redis ACL names
// ("command" or "command|subcommand"). Redis checks the commands a Lua script calls against
// the caller's ACL too, so the commands of the scripts (lua/*.lua) are listed with EVALSHA and
// EVAL.
// acl_test.go fails when code or a script uses a command missing here.
var ACLCommands = []string{
	// Every connection: handshake (HELLO 3 AUTH ... SETNAME), keep-alive, and on a cluster
	// the slot map and the redirect during a slot migration.
	"hello", "ping", "cluster|slots", "cluster|shards", "asking",
	// The web tier's memory guard (memory.go, limits.redis_memory_high): INFO memory, once a
	// second per node; the start's checks (server.go): the version (HELLO, else INFO server),
	// the eviction policy (INFO memory), the stream.partitions recorded (HSETNX, HGET below).
	"info", "hsetnx",
	// The scripts (lua/*.lua) and what they call.
	"evalsha", "eval",
	"exists", "del", "pexpire", "pttl", "get", "set", "incr",
	"hset", "hget", "hmget", "hdel", "hgetall",
	"lrange", "lindex", "lset", "rpush", "ltrim", "llen",
	"xadd", "xdel", "publish",
	// The index of a user's sessions (auth.mode jwt: user.go).
	"zadd", "zrem", "zremrangebyscore", "zrange",
	// Reads of a session's event stream (resume, gap filling).
	"xrange", "xrevrange", "xlen",
	// The web tier's session notifications: one named connection per process (pubsub.go).
	"subscribe", "unsubscribe", "client|setname",
	// The workers' request streams (requests.go): consumer group, reads, acknowledgements,
	// keep-alive and takeover, group stats, and the dead-letter stream (xadd above).
	"xgroup|create", "xgroup|delconsumer", "xreadgroup", "xack", "xautoclaim", "xclaim",
	"xpending", "xinfo|groups",
	// The workers' trim of the request streams and chat:dead by age (trim.go).
	"xtrim",
	// The operator's commands (inspect.go: chatbot inspect, chatbot dead): more of the
	// group's state, the server's clock, and deleting dead letters (replay, purge: xdel above).
	"xinfo|consumers", "time",
}

// ACLKeys and ACLChannels fence the user in: every key and channel starts with DefaultPrefix.
const (
	ACLKeys     = "~" + DefaultPrefix + "*"
	ACLChannels = "&" + DefaultPrefix + "*"
)

// ACLSetUser is the ACL SETUSER command that creates (or resets) user with password and
// exactly the rights the project needs: its keys, its channels, its commands. Run it on every
// node (ACL users are per node, also in a cluster). SECURITY.md shows it.
func ACLSetUser(user, password string) string {
	return "ACL SETUSER " + strings.Join(ACLRules(user, password), " ")
}

// ACLRules are the arguments of ACLSetUser after "ACL SETUSER".
func ACLRules(user, password string) []string {
	rules := []string{user, "reset", "on", ">" + password, ACLKeys, ACLChannels}
	for _, c := range ACLCommands {
		rules = append(rules, "+"+c)
	}
	return rules
}
