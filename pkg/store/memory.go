package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// MemoryUse is how full one Redis node is, from its INFO memory.
type MemoryUse struct {
	// Node is the node's host:port.
	Node string
	// Used is used_memory, the bytes Redis compares with maxmemory.
	Used int64
	// Max is maxmemory; 0 when the node has none (it grows until the host runs out).
	Max int64
}

// Ratio is Used over Max, 0 without a maxmemory.
func (m MemoryUse) Ratio() float64 {
	if m.Max <= 0 {
		return 0
	}
	return float64(m.Used) / float64(m.Max)
}

// Memory reads INFO memory from every node (the one node, or each node of a cluster) and
// returns the fullest node that has a maxmemory, by Ratio; when none has one, a node with Max
// 0. Nodes that do not answer are left out; the error is for none answering. It is one INFO
// per node: the web tier's memory guard (limits.redis_memory_high) samples it every second,
// never per request.
func (s *Store) Memory(ctx context.Context) (MemoryUse, error) {
	nodes := s.rdb.Nodes()
	addrs := make([]string, 0, len(nodes))
	for addr := range nodes {
		addrs = append(addrs, addr)
	}
	sort.Strings(addrs)
	var fullest MemoryUse
	var errs []error
	answered := false
	for _, addr := range addrs {
		c := nodes[addr]
		cctx, cancel := s.timeout(ctx)
		text, err := c.Do(cctx, c.B().Info().Section("memory").Build()).ToString()
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("INFO memory on %s: %w", addr, err))
			continue
		}
		m, err := parseMemory(addr, text)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !answered || m.Ratio() > fullest.Ratio() || (fullest.Max == 0 && m.Max > 0) {
			fullest = m
		}
		answered = true
	}
	if !answered {
		if len(errs) == 0 {
			errs = append(errs, errors.New("no node known"))
		}
		return MemoryUse{}, fmt.Errorf("redis %s memory: %w", s.addr, errors.Join(errs...))
	}
	return fullest, nil
}

// parseMemory reads used_memory and maxmemory from an INFO memory reply.
func parseMemory(addr, info string) (MemoryUse, error) {
	m := MemoryUse{Node: addr}
	var haveUsed bool
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		switch k {
		case "used_memory":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return m, fmt.Errorf("INFO memory on %s: used_memory %q", addr, v)
			}
			m.Used, haveUsed = n, true
		case "maxmemory":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return m, fmt.Errorf("INFO memory on %s: maxmemory %q", addr, v)
			}
			m.Max = n
		}
	}
	if !haveUsed {
		return m, fmt.Errorf("INFO memory on %s: no used_memory", addr)
	}
	return m, nil
}
