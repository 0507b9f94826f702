package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"chatbot/pkg/retry"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// maxJWKSBytes bounds a JWKS response (identity providers publish a few KiB).
const maxJWKSBytes = 1 << 20

// jwks keeps an identity provider's public keys, by issuer and kid. One goroutine (run) does
// every fetch: at start, every refresh period, and when a token names a kid the cache does not
// hold (at most once per refresh period). A failed fetch keeps the keys already cached and is
// retried sooner (pkg/retry's backoff from 1s, doubling up to the refresh period). Tokens that need a fetch wait
// for the fetch in progress, bounded by their context; concurrent ones share it.
type jwks struct {
	url    string
	client *http.Client
	every  time.Duration
	log    *slog.Logger

	kick   chan struct{} // buffered: fetch now
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	sets     map[string]keyfunc.Keyfunc // issuer -> its keys, looked up by kid
	fetching bool                       // a fetch is running, or asked for and about to
	round    chan struct{}              // closed when the running (or next) fetch ends
	lastKick time.Time                  // last fetch asked for by an unknown kid
	fetches  int                        // fetches done, successful or not (tests)
	closed   bool                       // run has ended: no more fetches
}

func newJWKS(opt Options) *jwks {
	ctx, cancel := context.WithCancel(context.Background())
	c := &jwks{
		url: opt.JWKSURL, client: opt.HTTPClient, every: opt.JWKSRefresh, log: opt.Logger,
		kick: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{}),
		sets: map[string]keyfunc.Keyfunc{}, fetching: true, round: make(chan struct{}),
	}
	go c.run(ctx, opt.Issuer)
	return c
}

func (c *jwks) close() {
	c.cancel()
	<-c.done
}

// run fetches the keys until ctx ends.
func (c *jwks) run(ctx context.Context, issuer string) {
	defer close(c.done)
	defer func() {
		c.mu.Lock()
		c.closed = true
		close(c.round) // nobody waits for a fetch that will not come
		c.mu.Unlock()
	}()
	fails := retry.Backoff{Base: time.Second, Max: c.every, Jitter: 0.2}
	for {
		err := c.fetch(ctx, issuer)
		wait := c.every
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			wait = fails.Next()
			c.log.Warn("fetching the JWKS failed: the keys already cached stay in use",
				"url", redactURL(c.url), "retry_in", wait.String(), "err", err)
		default:
			fails.Reset()
		}
		c.endRound()
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		case <-c.kick:
			timer.Stop()
		}
		c.mu.Lock()
		c.fetching = true
		c.mu.Unlock()
	}
}

// endRound wakes the tokens waiting on the fetch that just ended and opens the next round.
func (c *jwks) endRound() {
	c.mu.Lock()
	close(c.round)
	c.round = make(chan struct{})
	c.fetching = false
	c.fetches++
	c.mu.Unlock()
}

// fetch reads the JWKS and, if it parses, replaces the issuer's keys with it. Keys of a type
// this package does not use (or that do not parse) are skipped; keys without a kid too, since
// tokens are matched to keys by kid.
func (c *jwks) fetch(ctx context.Context, issuer string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return errors.New(redactErr(err.Error(), c.url))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	if len(body) > maxJWKSBytes {
		return fmt.Errorf("the answer is larger than %d bytes", maxJWKSBytes)
	}
	var set jwkset.JWKSMarshal
	if err := json.Unmarshal(body, &set); err != nil {
		return fmt.Errorf("the answer is not a JWK set: %w", err)
	}
	store := jwkset.NewMemoryStorage()
	kept := 0
	for _, m := range set.Keys {
		if m.KID == "" {
			continue
		}
		k, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		if err != nil {
			continue
		}
		if err := store.KeyWrite(ctx, k); err != nil {
			return err
		}
		kept++
	}
	if kept == 0 && len(set.Keys) > 0 {
		return fmt.Errorf("none of its %d keys is usable (each needs a kid and an RSA, EC or Ed25519 public key)", len(set.Keys))
	}
	kf, err := keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: store, UseWhitelist: []jwkset.USE{jwkset.UseSig, ""}})
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.sets[issuer] = kf
	c.mu.Unlock()
	return nil
}

// key returns the public key of issuer's kid for token t. A kid the cache does not hold makes
// it wait for the fetch in progress, or ask for one if the last such request is at least a
// refresh period old; then it looks once more.
func (c *jwks) key(ctx context.Context, issuer, kid string, t *jwt.Token) (any, error) {
	for asked := false; ; asked = true {
		c.mu.Lock()
		set, fetching, round := c.sets[issuer], c.fetching, c.round
		if set != nil {
			c.mu.Unlock()
			key, err := set.KeyfuncCtx(ctx)(t)
			switch {
			case err == nil:
				return key, nil
			case !errors.Is(err, jwkset.ErrKeyNotFound):
				return nil, invalid(ReasonKeyMismatch) // the JWK's alg or use does not fit
			}
			c.mu.Lock()
			fetching, round = c.fetching, c.round
		}
		if asked || c.closed {
			c.mu.Unlock()
			if set == nil {
				return nil, invalid(ReasonKeysNotReady)
			}
			return nil, invalid(ReasonUnknownKey)
		}
		if !fetching {
			if now := time.Now(); c.lastKick.IsZero() || now.Sub(c.lastKick) >= c.every {
				c.lastKick, c.fetching = now, true
				select {
				case c.kick <- struct{}{}:
				default:
				}
			} else {
				c.mu.Unlock()
				if set == nil {
					return nil, invalid(ReasonKeysNotReady)
				}
				return nil, invalid(ReasonUnknownKey)
			}
		}
		c.mu.Unlock()
		select {
		case <-round:
		case <-ctx.Done():
			return nil, invalid(ReasonKeysNotReady)
		}
	}
}

// stats reports the fetches done so far (tests).
func (c *jwks) stats() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fetches
}

// redactErr removes the full URL from an HTTP client error (net/http quotes it, query
// included), keeping the redacted form.
func redactErr(msg, u string) string {
	return strings.ReplaceAll(msg, u, redactURL(u))
}
