package pgrun

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// A faultProxy stands between a pool's connections and the test server,
// reading PostgreSQL's protocol as it forwards it, and injects the faults
// of a network: the reply to a chosen statement lost once the server has
// committed it (loseReply), or the server gone silent, connections left
// open and nothing answered (silence). Only the pool's own statements pass
// through it: the test's other pools reach the server directly.
type faultProxy struct {
	mu     sync.Mutex
	silent bool
	rules  []*loseRule
	conns  []net.Conn // both ends of each connection, closed by close
	closed bool
}

// A loseRule drops the reply to the first statement match accepts, or if
// unsent the statement itself; or, if freeze, forwards the statement and
// its reply and then freezes the connection (see freezeAfter).
type loseRule struct {
	match  func(sql string) bool
	unsent bool
	freeze bool
	cut    chan struct{} // closed once the reply (or statement) was dropped and the connection cut, or frozen
}

// proxiedStore returns a Store on schema s.name whose pool goes through a
// new faultProxy, and the proxy. The proxy is closed, and the pool, when
// the test ends.
func proxiedStore(t *testing.T, s *Store) (*Store, *faultProxy) {
	t.Helper()
	p := &faultProxy{}
	cfg, err := pgxpool.ParseConfig(databaseURL)
	require.NoError(t, err)
	cfg.ConnConfig.TLSConfig, cfg.ConnConfig.Fallbacks = nil, nil // the proxy reads the protocol in the clear
	var d net.Dialer
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		client, inner := net.Pipe()
		if !p.track(client, inner) {
			return nil, net.ErrClosed
		}
		if p.isSilent() { // no answer to the connection either
			go func() { _, _ = io.Copy(io.Discard, inner) }()
			return client, nil
		}
		server, err := d.DialContext(ctx, network, addr)
		if err != nil {
			client.Close()
			return nil, err
		}
		if !p.track(server) {
			return nil, net.ErrClosed
		}
		c := &proxyConn{p: p, client: inner, server: server, stmts: map[string]string{}}
		go c.fromClient()
		go c.fromServer()
		return client, nil
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	t.Cleanup(p.close) // first: the pool's Close writes to connections nobody reads
	ps, err := Open(context.Background(), pool, s.name)
	require.NoError(t, err)
	return ps, p
}

// loseReply makes the proxy forward the first statement that match
// accepts (its SQL, with $1 and the like for its arguments), then drop
// the server's whole reply up to the server's ReadyForQuery, which it
// sends once the statement's transaction has committed, and cut the
// connection: the client cannot know that its statement committed. The
// channel returned is closed once that happened.
func (p *faultProxy) loseReply(match func(sql string) bool) <-chan struct{} {
	r := &loseRule{match: match, cut: make(chan struct{})}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = append(p.rules, r)
	return r.cut
}

// loseReplyTo is loseReply for the first statement holding text.
func (p *faultProxy) loseReplyTo(text string) <-chan struct{} {
	return p.loseReply(func(sql string) bool { return strings.Contains(sql, text) })
}

// loseStatement cuts the connection as the client executes the first
// statement holding text, before the server has it: as a connection
// broken on the way there. The channel returned is closed once that
// happened.
func (p *faultProxy) loseStatement(text string) <-chan struct{} {
	r := &loseRule{match: func(sql string) bool { return strings.Contains(sql, text) }, unsent: true, cut: make(chan struct{})}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = append(p.rules, r)
	return r.cut
}

// freezeAfter lets the first statement holding text, and its reply,
// through, then forwards nothing more either way on its connection, and
// keeps the server's end open even once the client closes its own: as a
// client whose process is stopped (SIGSTOP, a paused container) or whose
// network is cut without the server learning of it, in the middle of a
// transaction. The channel returned is closed once the connection froze.
func (p *faultProxy) freezeAfter(text string) <-chan struct{} {
	r := &loseRule{match: func(sql string) bool { return strings.Contains(sql, text) }, freeze: true, cut: make(chan struct{})}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = append(p.rules, r)
	return r.cut
}

// silence makes the server answer nothing from now on, on the
// connections open and on new ones, which stay open: as a network that
// drops every packet, or a server that hangs.
func (p *faultProxy) silence() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.silent = true
}

func (p *faultProxy) isSilent() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.silent
}

// track keeps conns, to close them with the proxy; it closes them and
// reports false when the proxy is closed.
func (p *faultProxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	p.conns = append(p.conns, conns...)
	return true
}

// close cuts every connection.
func (p *faultProxy) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, c := range p.conns {
		c.Close()
	}
}

// take returns the first rule that sql matches, removed, or nil.
func (p *faultProxy) take(sql string) *loseRule {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, r := range p.rules {
		if r.match(sql) {
			p.rules = append(p.rules[:i], p.rules[i+1:]...)
			return r
		}
	}
	return nil
}

// A proxyConn is one connection through the proxy.
type proxyConn struct {
	p              *faultProxy
	client, server net.Conn
	stmts          map[string]string // the SQL of each prepared statement, by name; fromClient's

	mu       sync.Mutex
	dropping *loseRule // the rule whose statement's reply is being dropped
	freezing *loseRule // the freeze rule whose statement's reply is awaited
	frozen   bool      // nothing is forwarded any more, and the server's end stays open
}

// isFrozen reports whether the connection froze (see freezeAfter).
func (c *proxyConn) isFrozen() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.frozen
}

// cut closes both sides.
func (c *proxyConn) cut() {
	c.client.Close()
	c.server.Close()
}

// fromClient forwards the client's messages: the startup message, then
// typed ones, noting the statements prepared (Parse) and arming a rule
// when a statement it matches is executed (Bind, or a simple Query).
func (c *proxyConn) fromClient() {
	defer func() {
		if !c.isFrozen() {
			c.cut()
		}
	}()
	r := bufio.NewReader(c.client)
	startup, err := readMessage(r, false)
	if err != nil || !c.forward(c.server, startup) {
		return
	}
	for {
		m, err := readMessage(r, true)
		if err != nil {
			return
		}
		if c.isFrozen() {
			continue
		}
		var sql string
		switch m[0] {
		case 'P': // Parse: name, query
			name, rest := cString(m[5:])
			query, _ := cString(rest)
			c.stmts[name] = query
		case 'B': // Bind: portal, statement
			_, rest := cString(m[5:])
			name, _ := cString(rest)
			sql = c.stmts[name]
		case 'Q':
			sql, _ = cString(m[5:])
		}
		if sql != "" {
			if rule := c.p.take(sql); rule != nil && rule.unsent {
				c.cut()
				close(rule.cut)
				return
			} else if rule != nil && rule.freeze {
				c.mu.Lock()
				c.freezing = rule
				c.mu.Unlock()
			} else if rule != nil {
				c.mu.Lock()
				c.dropping = rule
				c.mu.Unlock()
			}
		}
		if !c.forward(c.server, m) {
			return
		}
	}
}

// fromServer forwards the server's messages, dropping those of a reply
// being lost and cutting the connection at its ReadyForQuery.
func (c *proxyConn) fromServer() {
	defer func() {
		if !c.isFrozen() {
			c.cut()
		}
	}()
	r := bufio.NewReader(c.server)
	for {
		m, err := readMessage(r, true)
		if err != nil {
			return
		}
		c.mu.Lock()
		rule, freezing, frozen := c.dropping, c.freezing, c.frozen
		if freezing != nil && m[0] == 'Z' { // the statement done, its transaction open: forward this, then nothing
			c.frozen, c.freezing = true, nil
		}
		c.mu.Unlock()
		if frozen {
			continue
		}
		if freezing != nil && m[0] == 'Z' {
			c.forward(c.client, m)
			close(freezing.cut)
			continue
		}
		if rule != nil {
			if m[0] == 'Z' { // committed (or rolled back), and the client never hears
				c.cut()
				close(rule.cut)
				return
			}
			continue
		}
		if !c.forward(c.client, m) {
			return
		}
	}
}

// forward writes m to dst, unless the proxy is silent; it reports whether
// the connection is still open.
func (c *proxyConn) forward(dst net.Conn, m []byte) bool {
	if c.p.isSilent() {
		return true
	}
	_, err := dst.Write(m)
	return err == nil
}

// readMessage reads one message of PostgreSQL's protocol, whole: a type
// byte (when typed) and a length that counts itself.
func readMessage(r *bufio.Reader, typed bool) ([]byte, error) {
	head := 4
	if typed {
		head = 5
	}
	m := make([]byte, head)
	if _, err := io.ReadFull(r, m); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(m[head-4:]))
	if n < 4 || n > 1<<30 {
		return nil, io.ErrUnexpectedEOF
	}
	m = append(m, make([]byte, n-4)...)
	_, err := io.ReadFull(r, m[head:])
	return m, err
}

// cString splits b after its first NUL-terminated string.
func cString(b []byte) (string, []byte) {
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return string(b), nil
	}
	return string(b[:i]), b[i+1:]
}
