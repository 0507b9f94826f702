package worker

import "errors"

// errStopped means the user stopped the reply being generated (store.RenewLease reported a
// stop): the generation ends and the text so far is stored as a stopped reply.
var errStopped = errors.New("stopped by the user")
