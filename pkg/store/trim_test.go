package store_test

import (
	"strconv"
	"testing"
	"time"

	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"
)

// TestTrimStreams: entries older than stream.max_age leave every request stream and chat:dead;
// younger ones stay. A stream of a few entries is trimmed too (with XTRIM ~ Redis keeps a
// whole node).
func TestTrimStreams(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		s, ctx := setup(t, b, store.Options{Partitions: 2, StreamMaxAge: time.Hour})
		rdb, keys := s.Client(), s.Keys()
		old := time.Now().Add(-2 * time.Hour).UnixMilli()
		streams := []string{keys.Requests(0), keys.Requests(1), keys.Dead()}
		for _, key := range streams {
			for i := range 3 { // three entries past the age, one within it
				id := strconv.FormatInt(old+int64(i), 10) + "-1"
				if err := rdb.Do(ctx, rdb.B().Xadd().Key(key).Id(id).FieldValue().FieldValue("token", "t").FieldValue("seq", "1").Build()).Error(); err != nil {
					t.Fatal(err)
				}
			}
			if err := rdb.Do(ctx, rdb.B().Xadd().Key(key).Id("*").FieldValue().FieldValue("token", "t").FieldValue("seq", "2").Build()).Error(); err != nil {
				t.Fatal(err)
			}
		}
		n, err := s.TrimStreams(ctx)
		if err != nil || n != 9 {
			t.Fatalf("TrimStreams: %d entries, %v; want 9", n, err)
		}
		for _, key := range streams {
			got, err := rdb.Do(ctx, rdb.B().Xrange().Key(key).Start("-").End("+").Build()).AsXRange()
			if err != nil || len(got) != 1 || got[0].FieldValues["seq"] != "2" {
				t.Errorf("%s after the trim: %+v %v, want the young entry only", key, got, err)
			}
		}
		if n, err := s.TrimStreams(ctx); err != nil || n != 0 {
			t.Errorf("a second trim: %d %v, want nothing to do", n, err)
		}
	})
}
