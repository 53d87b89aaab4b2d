package sctp

// deskport: getDataPacketsToRetransmit runs on every pass of the write loop, and a pass runs for
// about every SACK. It walked the whole inflight queue looking for chunks marked for
// retransmission even when none was: on a long path with a large window that is 10 000–30 000
// chunks per pass, one pass per two packets acknowledged (5 % of the CPU of a 64 MiB transfer
// at 150 ms RTT, profiled). rtxMarked says whether a chunk may be marked: every place that marks
// one sets it, and a scan that reaches the end of the queue having taken every mark clears it.
// A chunk that leaves the queue still marked (acknowledged after all) or is unmarked by an undo
// costs one more scan, never a missed retransmission.

// markRetransmitLocked marks c for retransmission. The caller holds the lock.
func (a *Association) markRetransmitLocked(c *chunkPayloadData) {
	c.retransmit = true
	a.rtxMarked = true
}
