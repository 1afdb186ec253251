package coordinator

import (
	"container/list"
	"sync"
)

// lru is a cache bounded by entries and by a cost (bytes) that evicts the
// least recently used entry first. Safe for concurrent use.
type lru[K comparable, V any] struct {
	mu         sync.Mutex
	maxEntries int
	maxCost    int64
	cost       func(K, V) int64
	total      int64
	order      *list.List // front: most recently used
	items      map[K]*list.Element
}

type lruEntry[K comparable, V any] struct {
	key  K
	val  V
	cost int64
}

func newLRU[K comparable, V any](maxEntries int, maxCost int64, cost func(K, V) int64) *lru[K, V] {
	return &lru[K, V]{maxEntries: maxEntries, maxCost: maxCost, cost: cost, order: list.New(), items: map[K]*list.Element{}}
}

func (c *lru[K, V]) get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[k]
	if !ok {
		var zero V
		return zero, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*lruEntry[K, V]).val, true
}

// has says k is cached, without making it the most recently used.
func (c *lru[K, V]) has(k K) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.items[k]
	return ok
}

func (c *lru[K, V]) put(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		c.remove(e)
	}
	cost := c.cost(k, v)
	if cost > c.maxCost {
		return // larger than the whole cache: not worth evicting everything for
	}
	c.items[k] = c.order.PushFront(&lruEntry[K, V]{key: k, val: v, cost: cost})
	c.total += cost
	for c.order.Len() > c.maxEntries || c.total > c.maxCost {
		c.remove(c.order.Back())
	}
}

func (c *lru[K, V]) remove(e *list.Element) {
	en := c.order.Remove(e).(*lruEntry[K, V])
	delete(c.items, en.key)
	c.total -= en.cost
}

// size is the number of entries and their total cost.
func (c *lru[K, V]) size() (int, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len(), c.total
}
