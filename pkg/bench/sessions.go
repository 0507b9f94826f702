package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"
)

// createSessions makes n sessions with POST /token, ConnectConcurrency at a time. It returns
// the tokens it got and the failures by kind; it stops early on ctx.
func (c *client) createSessions(ctx context.Context, n, concurrency int) ([]string, map[string]int64) {
	tokens := make([]string, n)
	errs := make([]string, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	for i := range n {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			tok, err := c.createSession(gctx, "bench-"+strconv.Itoa(i))
			if err != nil {
				errs[i] = kindOf(err)
			}
			tokens[i] = tok
			return nil
		})
	}
	_ = g.Wait()
	failed := map[string]int64{}
	out := tokens[:0]
	for i, tok := range tokens {
		switch {
		case tok != "":
			out = append(out, tok)
		case errs[i] != "":
			failed[errs[i]]++
		default:
			failed["token_not_tried"]++
		}
	}
	return out, failed
}

// createSession is one POST /token.
func (c *client) createSession(ctx context.Context, name string) (string, error) {
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + "/token"
	u.RawQuery = url.Values{"name": {name}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), nil)
	if err != nil {
		return "", err
	}
	resp, err := c.api.Do(req)
	if err != nil {
		return "", &kindError{kind: "token_" + dialKind(err), err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", &kindError{kind: "token_read", err: err}
	}
	if resp.StatusCode != http.StatusOK {
		return "", &kindError{kind: "token_http_" + strconv.Itoa(resp.StatusCode), err: fmt.Errorf("POST /token: %s: %.200s", resp.Status, body)}
	}
	var sess struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(body, &sess); err != nil || sess.Token == "" {
		return "", &kindError{kind: "token_bad_body", err: fmt.Errorf("POST /token: no token in %.200s", body)}
	}
	return sess.Token, nil
}
