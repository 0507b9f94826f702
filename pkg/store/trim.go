package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// TrimStreams drops the entries older than stream.max_age (Options.StreamMaxAge) from every
// request stream and from chat:dead (XTRIM MINID, exact: its cost is the entries removed, and
// with ~ Redis would keep a stream's last node of up to 100 entries for good). The streams'
// other bound, XADD MAXLEN ~
// stream.max_len, caps them under load; this one empties them when idle, so that no key of the
// project grows for good. Workers call it periodically; it is safe to repeat and to run from
// several processes at once. It returns the entries removed.
//
// A request older than stream.max_age that is still pending is trimmed too: its consumer finds
// it gone and dead-letters it, and its session goes on with its next message.
func (s *Store) TrimStreams(ctx context.Context) (int64, error) {
	minID := strconv.FormatInt(time.Now().Add(-s.opt.StreamMaxAge).UnixMilli(), 10)
	keys := make([]string, 0, s.opt.Partitions+1)
	for p := range s.opt.Partitions {
		keys = append(keys, s.keys.Requests(p))
	}
	keys = append(keys, s.keys.Dead())
	var total int64
	var errs []error
	for _, key := range keys {
		cctx, cancel := s.timeout(ctx)
		n, err := s.rdb.Do(cctx, s.rdb.B().Xtrim().Key(key).Minid().Threshold(minID).Build()).AsInt64()
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("trim %s: %w", key, err))
			continue
		}
		total += n
	}
	return total, errors.Join(errs...)
}
