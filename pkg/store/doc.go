// Package store is every Redis touch of the project, on github.com/redis/rueidis: connecting
// (single node, TLS, ACL users, Redis Cluster), the key names (keys.go), sessions and their
// history, the send and finish steps as Lua scripts on the session's hash slot, the
// per-session event streams that sockets read, and the request streams workers consume.
//
// The Lua scripts are files in lua/, embedded (exec.go): each is named after the method that
// runs it and sits next to it (lua/send.lua is run by Send in send.go). The errors callers act
// on are in errors.go.
//
// Every key of one session carries the {token} hash tag, so each script touches one slot and
// works the same on a single node and on a cluster. With auth.mode jwt a user's keys (their
// index of sessions, their per-minute counters) carry their own tag (user.go).
package store
