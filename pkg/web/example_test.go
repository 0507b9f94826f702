package web_test

import (
	"context"
	"log"
	"os"
	"os/signal"

	"chatbot/pkg/store"
	"chatbot/pkg/web"
)

// A web tier on a local Redis, serving until Ctrl-C, then closing every socket with 1001.
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	st, err := store.Open(ctx, store.Options{URL: "redis://127.0.0.1:6379/0"})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	srv, err := web.New(web.Options{
		Store:          st,
		Addr:           ":8080",
		AllowedOrigins: []string{"https://chat.example.com"},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Run(ctx); err != nil {
		log.Fatal(err)
	}
}
