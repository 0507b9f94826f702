package store

import (
	"context"
	"crypto/sha1"
	"embed"
	"encoding/hex"
	"maps"
	"strconv"
	"strings"
	"time"

	"chatbot/pkg/chat"

	"github.com/redis/rueidis"
)

// The Lua scripts live in lua/, one file per step, each named after the Store method that
// runs it (send.lua: Send, in send.go). Each file's header says what it does and returns,
// and its first lines name every KEYS[i] and ARGV[i].
//
//go:embed lua/*.lua
var luaFiles embed.FS

// sessionScript is the script lua/<name> on a session's keys, after lua/prelude.lua and the
// libraries libs (lua/<lib>, functions it calls): the prelude names the KEYS and first ARGV
// every session script gets (evalSession passes them) and defines the helpers they share
// (num, put, emit, slide).
func sessionScript(name string, libs ...string) *rueidis.Lua {
	return newScript(name, append([]string{"prelude.lua"}, libs...)...)
}

// luaScript is the script lua/<name> after the libraries libs, without the prelude: the
// scripts on one request stream or on one user's keys.
func luaScript(name string, libs ...string) *rueidis.Lua { return newScript(name, libs...) }

// scriptNames maps each script's SHA1 (what EVALSHA names it by) to its file name.
var scriptNames = map[string]string{}

func newScript(name string, libs ...string) *rueidis.Lua {
	var src strings.Builder
	for _, l := range libs {
		src.WriteString(luaSource(l))
	}
	src.WriteString(luaSource(name))
	sum := sha1.Sum([]byte(src.String()))
	scriptNames[hex.EncodeToString(sum[:])] = name
	return rueidis.NewLuaScript(src.String())
}

// ScriptNames maps the SHA1 of each script the store runs (as EVALSHA names it, e.g. in
// MONITOR) to its file name in lua/ ("send.lua"): chatbot bench names the scripts by it.
func ScriptNames() map[string]string { return maps.Clone(scriptNames) }

func luaSource(name string) string {
	b, err := luaFiles.ReadFile("lua/" + name)
	if err != nil {
		panic(err) // a script missing from lua/: any test of the package fails at once
	}
	return string(b)
}

// evalSession evaluates a session script (sessionScript) with the session's KEYS, the common
// ARGV (notify channel, session TTL, events kept (eventCaps), now: lua/prelude.lua) followed by args, and the
// command timeout. A token that is not of the shape the project issues never reaches Redis
// (its keys could span hash slots, which rueidis refuses with a panic on a cluster): the
// result is ErrSessionNotFound.
func (s *Store) evalSession(ctx context.Context, sc *rueidis.Lua, token string, args ...string) rueidis.RedisResult {
	return s.evalSessionKeys(ctx, sc, token, nil, args...)
}

// evalSessionKeys is evalSession with more KEYS after the session's (only on a single node:
// they may be on another cluster slot). A script safe to repeat (repeatableScript) is sent
// again if it went out on a broken connection.
func (s *Store) evalSessionKeys(ctx context.Context, sc *rueidis.Lua, token string, more []string, args ...string) rueidis.RedisResult {
	return s.evalSessionRepeat(ctx, sc, repeatable[sc], token, more, args...)
}

// evalSessionRepeat is evalSessionKeys where the caller says whether this call is safe to
// repeat.
func (s *Store) evalSessionRepeat(ctx context.Context, sc *rueidis.Lua, repeat bool, token string, more []string, args ...string) rueidis.RedisResult {
	if !chat.ValidToken(token) {
		return rueidis.NewErrorResult(ErrSessionNotFound)
	}
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	argv := make([]string, 0, 4+len(args))
	argv = append(argv, s.keys.Notify(token), ms(s.opt.SessionTTL.Milliseconds()), s.eventCaps(), ms(time.Now().UnixMilli()))
	argv = append(argv, args...)
	keys := append(s.keys.SessionKeys(token), more...)
	if !repeat {
		return sc.Exec(ctx, s.rdb, keys, argv)
	}
	return againResult(ctx, func() rueidis.RedisResult { return sc.Exec(ctx, s.rdb, keys, argv) })
}

func ms(n int64) string { return strconv.FormatInt(n, 10) }

// eventCaps and historyCaps are the "count bytes" argument of the scripts that add to a
// session's events (every session script, lua/prelude.lua) and history: what they keep.
func (s *Store) eventCaps() string {
	return strconv.Itoa(s.opt.EventsMax) + " " + strconv.Itoa(s.opt.EventsMaxBytes)
}

func (s *Store) historyCaps() string {
	return strconv.Itoa(s.opt.HistoryMax) + " " + strconv.Itoa(s.opt.HistoryMaxBytes)
}

// reply splits a script's array reply into its status word and the rest.
func reply(res rueidis.RedisResult) (string, []rueidis.RedisMessage, error) {
	arr, err := res.ToArray()
	if err != nil {
		return "", nil, err
	}
	if len(arr) == 0 {
		return "", nil, nil
	}
	status, err := arr[0].ToString()
	return status, arr[1:], err
}
