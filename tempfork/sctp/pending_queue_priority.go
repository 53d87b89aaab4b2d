// SPDX-FileCopyrightText: 2026 The Pion community <https://pion.ly>
// SPDX-License-Identifier: MIT

package sctp

// priorityPendingQueuePolicy is the pending queue used without user message interleaving: RFC
// 8260's priority-based scheduler (section 3.2). Each DATA chunk carries the priority its stream
// had when the message was written (Stream.SetPriority); chunks of a higher priority are taken
// before those of a lower one, and within one priority the order is messagePendingQueuePolicy's
// (unordered before ordered, otherwise first in, first out). Once the first fragment of a message
// is taken, its remaining fragments are taken before anything else, whatever their priority: DATA
// chunks (RFC 9260) carry no message identifier, so the fragments of one message must have
// consecutive TSNs, and TSNs are assigned as chunks leave this queue
// (movePendingDataChunkToInflightQueue). With every stream at the default priority there is one
// class, and the order is exactly messagePendingQueuePolicy's.
type priorityPendingQueuePolicy struct {
	classes  []*priorityClass // non-empty ones only, highest priority first
	selected *priorityClass   // the class a fragmented message is being taken from
}

type priorityClass struct {
	priority uint16
	queue    *messagePendingQueuePolicy
	n        int // chunks queued
}

func newPriorityPendingQueuePolicy() *priorityPendingQueuePolicy {
	return &priorityPendingQueuePolicy{}
}

// class returns the class of priority p, or -1 and the index it would be inserted at.
func (q *priorityPendingQueuePolicy) class(p uint16) (*priorityClass, int) {
	for i, c := range q.classes {
		switch {
		case c.priority == p:
			return c, i
		case c.priority < p:
			return nil, i
		}
	}

	return nil, len(q.classes)
}

func (q *priorityPendingQueuePolicy) push(chunk *chunkPayloadData) {
	class, i := q.class(chunk.priority)
	if class == nil {
		class = &priorityClass{priority: chunk.priority, queue: newMessagePendingQueuePolicy()}
		q.classes = append(q.classes, nil)
		copy(q.classes[i+1:], q.classes[i:])
		q.classes[i] = class
	}
	class.queue.push(chunk)
	class.n++
}

func (q *priorityPendingQueuePolicy) peek() *chunkPayloadData {
	if q.selected != nil {
		return q.selected.queue.peek()
	}
	if len(q.classes) == 0 {
		return nil
	}

	return q.classes[0].queue.peek()
}

func (q *priorityPendingQueuePolicy) pop(chunk *chunkPayloadData) error {
	class := q.selected
	if class == nil {
		if len(q.classes) == 0 || q.classes[0].priority != chunk.priority {
			return ErrUnexpectedQState // only the head of the highest class can start a message
		}
		class = q.classes[0]
	}
	if err := class.queue.pop(chunk); err != nil {
		return err
	}
	class.n--
	q.selected = nil
	if class.queue.selected {
		q.selected = class // the rest of this message comes next
	}
	if class.n == 0 && q.selected == nil {
		if c, i := q.class(class.priority); c != nil {
			q.classes = append(q.classes[:i], q.classes[i+1:]...)
		}
	}

	return nil
}
