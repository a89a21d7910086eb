package sim

// prefixCache remembers the hashes of computed full KV blocks, least
// recently used first out, up to the number of KV blocks. A request whose
// leading blocks are in it skips their prefill compute (vLLM's automatic
// prefix caching). Approximation: shared blocks still count once per request
// in the KV usage.
type prefixCache struct {
	capacity int
	m        map[uint64]*pcEntry
	head     pcEntry // sentinel; head.next is the most recently used
}

type pcEntry struct {
	key        uint64
	prev, next *pcEntry
}

func newPrefixCache(capacity int) *prefixCache {
	c := &prefixCache{capacity: capacity, m: make(map[uint64]*pcEntry)}
	c.head.prev, c.head.next = &c.head, &c.head
	return c
}

// match counts the leading hashes present, without touching them.
func (c *prefixCache) match(hashes []uint64) int {
	n := 0
	for _, h := range hashes {
		if _, ok := c.m[h]; !ok {
			break
		}
		n++
	}
	return n
}

// insert adds (or refreshes) hashes and evicts beyond capacity.
func (c *prefixCache) insert(hashes []uint64) {
	for _, h := range hashes {
		if e, ok := c.m[h]; ok {
			c.unlink(e)
			c.pushFront(e)
			continue
		}
		e := &pcEntry{key: h}
		c.m[h] = e
		c.pushFront(e)
		for len(c.m) > c.capacity {
			old := c.head.prev
			c.unlink(old)
			delete(c.m, old.key)
		}
	}
}

func (c *prefixCache) unlink(e *pcEntry) {
	e.prev.next = e.next
	e.next.prev = e.prev
}

func (c *prefixCache) pushFront(e *pcEntry) {
	e.prev = &c.head
	e.next = c.head.next
	c.head.next.prev = e
	c.head.next = e
}
