package merkle

// abandon drops a Log as a killed process would: the lock is released, the
// journal is not compacted.
func Abandon(l *Log) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	l.w.stop() // tiles still queued are lost, as in a crash
	releaseLock(l.lock)
}
