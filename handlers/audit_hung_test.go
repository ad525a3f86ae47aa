package handlers_test

import (
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/handlers/portaltest"
	"github.com/keyportal/keyportal/internal/config"
	"github.com/keyportal/keyportal/internal/pgtest"
)

// A PostgreSQL that hangs (overloaded, a network that drops packets, a
// failover under way) rather than refusing connections does not hang the
// keys: the list and a key's page answer, the key's page says the trail is
// not available, as with a database that is down.
func TestKeysAnswerWhileTheAuditDatabaseHangs(t *testing.T) {
	pg := pgtest.Start(t)
	frz := newFreezer(t, "127.0.0.1:"+strconv.Itoa(pg.Port))
	u, err := url.Parse(pg.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Host = frz.addr()
	env, b := signedIn(t, portaltest.Options{Config: func(c *config.Config) { c.DatabaseURL = u.String() }})
	k := seedKey(t, env, balenasim.KindUser, balenasim.DemoEmail, "kept while the trail hangs", nil)
	if r := b.get("/readyz"); r.status != http.StatusOK {
		t.Fatalf("/readyz before: %d %q", r.status, r.body)
	}
	if r := b.get("/keys?q=kept"); r.status != http.StatusOK {
		t.Fatalf("keys before: %d", r.status)
	}

	frz.freeze()
	// Without an answer the test would wait forever: its client gives up
	// well after the portal should have.
	b.http.Timeout = 30 * time.Second
	if r := b.get("/keys?q=kept"); r.status != http.StatusOK || r.doc.Find("tbody tr").Length() != 1 {
		t.Errorf("keys with the trail hanging: %d, %d rows", r.status, r.doc.Find("tbody tr").Length())
	}
	p := b.get(keyURL(k))
	if p.status != http.StatusOK || !strings.Contains(p.doc.Find(".flash").Text(), "The audit trail is not available right now") {
		t.Errorf("key page with the trail hanging: %d %q", p.status, p.doc.Find(".flash").Text())
	}
	// The audit page itself waits longer (a page of a large trail may take
	// a while), then says so rather than hang.
	if a := b.get("/audit"); a.status != http.StatusServiceUnavailable || !strings.Contains(a.doc.Find(".flash").Text(), "The audit trail is not available right now") {
		t.Errorf("/audit with the trail hanging: %d %q", a.status, a.doc.Find(".flash").Text())
	}
}

// freezer forwards TCP connections to target until frozen: then it holds
// every byte, as a server that hangs does, until the test ends.
type freezer struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cond   *sync.Cond
	frozen bool
	closed bool
	conns  []net.Conn
}

func newFreezer(t *testing.T, target string) *freezer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{ln: ln, target: target}
	f.cond = sync.NewCond(&f.mu)
	go f.serve()
	t.Cleanup(f.close)
	return f
}

func (f *freezer) addr() string { return f.ln.Addr().String() }

func (f *freezer) freeze() {
	f.mu.Lock()
	f.frozen = true
	f.mu.Unlock()
}

func (f *freezer) close() {
	f.ln.Close()
	f.mu.Lock()
	f.closed = true
	for _, c := range f.conns {
		c.Close()
	}
	f.cond.Broadcast()
	f.mu.Unlock()
}

func (f *freezer) serve() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", f.target)
		if err != nil {
			c.Close()
			continue
		}
		f.mu.Lock()
		f.conns = append(f.conns, c, up)
		f.mu.Unlock()
		go f.pipe(up, c)
		go f.pipe(c, up)
	}
}

func (f *freezer) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			f.mu.Lock()
			for f.frozen && !f.closed {
				f.cond.Wait()
			}
			closed := f.closed
			f.mu.Unlock()
			if closed {
				return
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return // io.EOF or a closed connection: both ends close
		}
	}
}
