// Package admin is what the operator's commands show and do: `chatbot inspect session`,
// `chatbot inspect queue` and `chatbot dead list|show|replay|purge`. Each view is a struct
// with JSON tags (--json prints it as it is) and a WriteText method (the table a person reads);
// cmd only picks one.
//
// Everything here is read-only except the two dead-letter commands that say so (replay
// re-queues, purge deletes). No output holds a session token: sessions are named by the same
// short hash the logs use (SessionTag), so an output pasted into a ticket gives no one a
// conversation.
package admin
