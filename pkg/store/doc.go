// Package store is every Redis touch of the project, on github.com/redis/rueidis: connecting
// (single node, TLS, ACL users, Redis Cluster), the key names (keys.go), sessions and their
// history, the send and finish steps as Lua scripts on the session's hash slot (scripts.go),
// the per-session event streams that sockets read, and the request streams workers consume.
//
// Every key of one session carries the {token} hash tag, so each script touches one slot and
// works the same on a single node and on a cluster. With auth.mode jwt a user's keys (their
// index of sessions, their per-minute counters) carry their own tag (user.go).
package store
