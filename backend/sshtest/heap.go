package sshtest

import (
	"runtime"
	"sync"
	"time"
)

// HeapWatch samples the heap in use while a test streams a device that
// never stops talking (devicesim's endless fault), so the test can bound
// how much of the stream the code under test holds.
type HeapWatch struct {
	base    uint64
	mu      sync.Mutex
	peak    uint64
	done    chan struct{}
	sampled chan struct{}
}

// WatchHeap collects garbage, takes the heap in use as the base and
// samples it every interval until Stop.
func WatchHeap(every time.Duration) *HeapWatch {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	w := &HeapWatch{base: ms.HeapInuse, peak: ms.HeapInuse, done: make(chan struct{}), sampled: make(chan struct{})}
	go func() {
		defer close(w.sampled)
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			w.mu.Lock()
			w.peak = max(w.peak, m.HeapInuse)
			w.mu.Unlock()
			select {
			case <-w.done:
				return
			case <-time.After(every):
			}
		}
	}()
	return w
}

// Stop ends the sampling and returns the peak heap in use and its growth
// over the base, in bytes (never negative: the peak starts at the base).
func (w *HeapWatch) Stop() (peak uint64, growth int64) {
	close(w.done)
	<-w.sampled
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.peak, int64(w.peak) - int64(w.base)
}
