// Package worker answers the chat: `chatbot work` runs a Worker, which is N consumers
// (--replicas) of the "workers" consumer group on every request stream chat:requests:{p}.
//
// A consumer reads requests ("session T has work up to seq N") with short blocking reads, one
// loop per partition, and keeps up to Concurrency of them in flight. For each it takes the
// session's lease (store.BeginTurn), calls the model with the system prompt and the last
// History turns, streams coalesced delta events, and stores the reply, its message event and
// "done" in one step (store.FinishTurn); while more messages of the session are pending it goes
// on with them under the same lease, so one session is answered by one worker at a time, in
// order. Only when the request's message is answered is the request acknowledged (XACK).
//
// Crash recovery: every consumer tells the group every ClaimIdle/3 that it still works on
// what it holds (XCLAIM to itself, resetting the idle time), so only the requests of a consumer
// that stopped doing so — a dead one — become idle for ClaimIdle, and then any consumer takes
// them over (XAUTOCLAIM). The session lease lasts ClaimIdle/2 (at least 1s) and is renewed
// every 500ms while a reply is generated (every third of it while deltas, which check it
// too, are written), so by the time a request is taken over the dead
// attempt's lease has expired and the new attempt begins at once; its first delta carries
// "restart": true. The lease fences every write of an attempt, so a request is answered once.
//
// Shutdown (ctx cancelled): stop reading, let in-flight replies finish for ShutdownTimeout,
// then abandon the rest: their leases are released and their requests handed back (made idle
// enough to be taken over at once), not acknowledged.
//
// Tracing (trace.go): with Options.Tracer, each delivery of a request is an attempt span (after
// its queue wait) in the trace of the request entry's traceparent, each turn a span in its
// message's trace, with the begin, every model call and the finish beneath it; the turn's
// events carry its traceparent to serve. Without one nothing of tracing is done or written.
package worker
