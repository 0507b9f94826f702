package store

import (
	"context"
	"strconv"

	"chatbot/pkg/chat"

	"github.com/redis/rueidis"
)

// run executes a session script with the common KEYS and ARGV and the command timeout. A token
// that is not of the shape the project issues never reaches Redis (its keys could span hash
// slots, which rueidis refuses with a panic on a cluster): the result is ErrSessionNotFound.
func (s *Store) run(ctx context.Context, sc *rueidis.Lua, token string, args ...string) rueidis.RedisResult {
	return s.runKeys(ctx, sc, token, nil, args...)
}

// runKeys is run with more KEYS after the session's (only on a single node: they may be on
// another cluster slot).
func (s *Store) runKeys(ctx context.Context, sc *rueidis.Lua, token string, more []string, args ...string) rueidis.RedisResult {
	if !chat.ValidToken(token) {
		return rueidis.NewErrorResult(ErrSessionNotFound)
	}
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	argv := make([]string, 0, 3+len(args))
	argv = append(argv, s.keys.Notify(token), ms(s.opt.SessionTTL.Milliseconds()), strconv.Itoa(s.opt.EventsMax))
	argv = append(argv, args...)
	return sc.Exec(ctx, s.rdb, append(s.keys.SessionKeys(token), more...), argv)
}

func ms(n int64) string { return strconv.FormatInt(n, 10) }

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
