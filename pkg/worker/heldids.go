package worker

import "sync"

// heldIDs is the set of IDs of the requests a consumer holds (read and not yet done with), per
// partition. The keep-alive renews those not known to be lost to another consumer; dispatch
// starts no second handler for an ID held already.
type heldIDs struct {
	mu  sync.Mutex
	ids map[int]map[string]bool // id -> lost
}

// add reports false when id is held already (a request claimed twice by this consumer).
func (h *heldIDs) add(p int, id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.ids[p]
	if m == nil {
		m = map[string]bool{}
		h.ids[p] = m
	}
	if _, ok := m[id]; ok {
		return false
	}
	m[id] = false
	return true
}

func (h *heldIDs) remove(p int, id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.ids[p], id)
}

// list is the IDs of partition p still to keep alive.
func (h *heldIDs) list(p int) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.ids[p]))
	for id, lost := range h.ids[p] {
		if !lost {
			out = append(out, id)
		}
	}
	return out
}

// lost marks the IDs of taken that are still held as lost and returns how many there were.
func (h *heldIDs) lost(p int, taken []string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, id := range taken {
		if lost, held := h.ids[p][id]; held && !lost {
			h.ids[p][id] = true
			n++
		}
	}
	return n
}
