package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/redis/rueidis"
)

// What Open checks of the server before anything runs, so that a Redis the project cannot use
// is refused at start with one line instead of failing request by request: its version, whether
// one script may touch keys of two hash slots (redis.mode), its eviction policy (a warning), and
// that every process of the deployment uses the same stream.partitions.

// Redis modes (redis.mode): whether one script may touch keys of two hash slots.
const (
	// ModeAuto finds out at start: a Redis Cluster never may; a single endpoint may unless it
	// refuses a probe script over several slots (a proxy in front of a sharded or managed
	// Redis, which also hides CLUSTER).
	ModeAuto = "auto"
	// ModeSingle insists that it may (one Redis, every key on it): Open fails if it may not.
	ModeSingle = "single"
	// ModeCluster never lets a script leave its slot: every send takes two steps, as on a
	// cluster.
	ModeCluster = "cluster"
)

// Modes are the values of redis.mode.
var Modes = []string{ModeAuto, ModeSingle, ModeCluster}

// MinVersion is the oldest Redis the project runs on, and why.
const (
	MinVersion      = "6.2"
	minVersionNeeds = "XAUTOCLAIM, to take over the requests of workers that died, and XTRIM MINID, to trim the request streams by age"
)

// ErrPartitionsDiffer means that this process's stream.partitions is not the one the
// deployment's Redis records (Keys.Settings): Open fails with it.
var ErrPartitionsDiffer = errors.New("stream.partitions differs from the deployment's")

// settingPartitions is the field of Keys.Settings that records stream.partitions.
const settingPartitions = "partitions"

// checkServer is Open's check of the server it connected to; it sets s.oneNode.
func (s *Store) checkServer(ctx context.Context) error {
	if s.opt.Embedded {
		s.oneNode = true // miniredis: one node, no slots
		return s.checkPartitions(ctx)
	}
	if err := s.checkVersion(ctx); err != nil {
		return err
	}
	if err := s.chooseMode(ctx); err != nil {
		return err
	}
	s.checkEviction(ctx)
	return s.checkPartitions(ctx)
}

// checkVersion refuses a server older than MinVersion. The version comes from HELLO (every
// connection's handshake runs it, so no ACL refuses it), else from INFO server; a server that
// tells neither gets the benefit of the doubt, with a warning.
func (s *Store) checkVersion(ctx context.Context) error {
	version, err := s.serverVersion(ctx)
	if err != nil {
		s.opt.Logger.Warn("could not read the Redis version; it must be "+MinVersion+" or newer", "redis", s.addr, "err", err)
		return nil
	}
	if !versionAtLeast(version, MinVersion) {
		return fmt.Errorf("the server runs Redis %s, too old: chatbot needs %s or newer (%s)", version, MinVersion, minVersionNeeds)
	}
	return nil
}

func (s *Store) serverVersion(ctx context.Context) (string, error) {
	hello, err := s.rdb.Do(ctx, s.rdb.B().Hello().Build()).AsMap()
	if err == nil {
		if v, ok := hello["version"]; ok {
			if version, err := v.ToString(); err == nil && version != "" {
				return version, nil
			}
		}
	}
	info, ierr := s.rdb.Do(ctx, s.rdb.B().Info().Section("server").Build()).ToString()
	if ierr != nil {
		return "", fmt.Errorf("HELLO: %v; INFO server: %w", err, ierr)
	}
	if v := infoField(info, "redis_version"); v != "" {
		return v, nil
	}
	return "", errors.New("no redis_version in INFO server")
}

// versionAtLeast compares dotted versions by their numbers ("7.0.15" >= "6.2"); what does not
// parse counts as 0.
func versionAtLeast(version, least string) bool {
	v, l := strings.Split(version, "."), strings.Split(least, ".")
	for i := range max(len(v), len(l)) {
		var a, b int
		if i < len(v) {
			a, _ = strconv.Atoi(strings.TrimFunc(v[i], func(r rune) bool { return r < '0' || r > '9' }))
		}
		if i < len(l) {
			b, _ = strconv.Atoi(l[i])
		}
		if a != b {
			return a > b
		}
	}
	return true
}

// infoField is the value of field in an INFO text ("" when absent).
func infoField(info, field string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}

// chooseMode decides whether a script may touch keys of two hash slots (s.oneNode), after
// redis.mode.
func (s *Store) chooseMode(ctx context.Context) error {
	if s.rdb.Mode() == rueidis.ClientModeCluster {
		if s.opt.Mode == ModeSingle {
			return errors.New("redis.mode is single, but the server is a Redis Cluster: set redis.mode to auto or cluster")
		}
		return nil
	}
	if s.opt.Mode == ModeCluster {
		return nil
	}
	why, err := s.probeSlots(ctx)
	switch {
	case err != nil:
		return fmt.Errorf("checking whether a script may touch two hash slots: %w", err)
	case why == "":
		s.oneNode = true
	case s.opt.Mode == ModeSingle:
		return fmt.Errorf("redis.mode is single, but a script over two hash slots fails here (%s): "+
			"a proxy or a sharded Redis behind one endpoint? set redis.mode to auto or cluster", why)
	default:
		s.opt.Logger.Info("this Redis does not let one script touch two hash slots (a proxy or a sharded Redis behind one endpoint): "+
			"messages are queued in two steps, as on a Redis Cluster", "redis", s.addr, "why", why)
	}
	return nil
}

var probeSlotsScript = luaScript("probe_slots.lua")

// probeSlots runs, as a send on one node would, one script that writes keys of several hash
// slots (one like a session's, one on the slot of each request stream), then reads each back
// with a plain GET, which a proxy routes by its key. It returns "" when every key holds what
// the script wrote, else why not (the refusal, or which key went elsewhere); err is a failure
// to ask at all.
func (s *Store) probeSlots(ctx context.Context) (why string, err error) {
	nonce := uuid.NewString()
	keys := []string{s.keys.prefix + "probe:{" + nonce + "}"}
	for p := range s.opt.Partitions {
		keys = append(keys, s.keys.prefix+"probe:{"+strconv.Itoa(p)+"}")
	}
	err = probeSlotsScript.Exec(ctx, s.rdb, keys, []string{nonce, "10000"}).Error()
	if refused(err) {
		return err.Error(), nil
	}
	if err != nil {
		return "", err
	}
	cmds := make(rueidis.Commands, 0, len(keys))
	for _, k := range keys {
		cmds = append(cmds, s.rdb.B().Get().Key(k).Build())
	}
	for i, res := range s.rdb.DoMulti(ctx, cmds...) {
		got, err := res.ToString()
		switch {
		case isNil(err) || (err == nil && got != nonce):
			return "key " + keys[i] + " written by the script is not where a plain GET finds it", nil
		case refused(err):
			return err.Error(), nil
		case err != nil:
			return "", err
		}
	}
	return "", nil
}

// checkEviction warns when Redis may evict keys (maxmemory-policy other than noeviction):
// every key of a session carries a TTL, so a volatile-* policy drops them one by one and
// leaves sessions half there. INFO refused (an ACL, a managed service) is not worth a warning.
func (s *Store) checkEviction(ctx context.Context) {
	info, err := s.rdb.Do(ctx, s.rdb.B().Info().Section("memory").Build()).ToString()
	if err != nil {
		s.opt.Logger.Debug("could not read Redis's maxmemory-policy", "redis", s.addr, "err", err)
		return
	}
	if policy := infoField(info, "maxmemory_policy"); policy != "" && policy != "noeviction" {
		s.opt.Logger.Warn("Redis may evict keys under memory pressure (maxmemory-policy "+policy+"): "+
			"it would drop a session's keys one by one, or queued requests; set maxmemory-policy noeviction (docs/DEPLOY.md)",
			"redis", s.addr)
	}
}

// checkPartitions records stream.partitions in Keys.Settings if nothing is recorded yet, and
// fails with ErrPartitionsDiffer if another value is: every process of a deployment must read
// and write the same request streams.
func (s *Store) checkPartitions(ctx context.Context) error {
	key := s.keys.Settings()
	want := strconv.Itoa(s.opt.Partitions)
	set, err := s.rdb.Do(ctx, s.rdb.B().Hsetnx().Key(key).Field(settingPartitions).Value(want).Build()).AsBool()
	if err != nil {
		return fmt.Errorf("record stream.partitions in %s: %w", key, err)
	}
	if set {
		return nil
	}
	got, err := s.rdb.Do(ctx, s.rdb.B().Hget().Key(key).Field(settingPartitions).Build()).ToString()
	if err != nil {
		return fmt.Errorf("read stream.partitions from %s: %w", key, err)
	}
	if got != want {
		return fmt.Errorf("%w: stream.partitions is %s, but this deployment's Redis records %s (%s): "+
			"every serve and work must use the same value; to change it, see docs/OPERATIONS.md (Sizing)",
			ErrPartitionsDiffer, want, got, key)
	}
	return nil
}
