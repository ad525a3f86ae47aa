package digest_test

import (
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/keyportal/keyportal/internal/digest"
	"github.com/keyportal/keyportal/internal/redistest"
)

func TestWebhookGetsTextChatsShowAndTheStructuredList(t *testing.T) {
	w := newWorld(t, monday)
	keys := seed(t, w)
	h := newHook(t)
	svc := w.service(t, newFileLedger(t), false, digest.Webhook{URL: h.URL, Loc: time.UTC})
	mustSend(t, svc, monday)
	got := h.Payloads()
	if len(got) != 1 {
		t.Fatalf("the webhook got %d posts, want 1", len(got))
	}
	p := got[0]
	// Names show as typed, and mention nobody: Slack reads <!channel>, the others @channel.
	contains(t, "text", p.Text, "ci &lt;deploy&gt; &amp; co @\u200bchannel", "plant provisioning", "gateway key", "just expired", keysURL+"/")
	if strings.Contains(p.Text, "<deploy>") || strings.Contains(p.Text, "@channel") {
		t.Errorf("the chat text carries a name's markup or mention:\n%s", p.Text)
	}
	if len(p.Digest.Windows) != 3 || p.Digest.Windows[0].WithinSeconds != 86400 || p.Digest.Windows[0].Groups[0].Keys[0].ID != keys.soon.ID ||
		p.Digest.Windows[0].Groups[0].Keys[0].Owner != "admin" || p.Digest.Expired.Total == 0 {
		t.Errorf("structured list: %+v", p.Digest)
	}
}

func TestAFailingWebhookIsAnErrorThatNamesNoURLAndIsNotRecorded(t *testing.T) {
	w := newWorld(t, monday)
	seed(t, w)
	h := newHook(t)
	h.SetFail(true)
	ledger := newFileLedger(t)
	svc := w.service(t, ledger, false, digest.Webhook{URL: h.URL, Loc: time.UTC})
	_, err := svc.SendSlot(context.Background(), monday)
	if err == nil || !strings.Contains(err.Error(), "502") || strings.Contains(err.Error(), "token") {
		t.Errorf("error %v, want the webhook's status without its URL", err)
	}
	if _, found, _ := ledger.Last(context.Background()); found {
		t.Error("a digest that went nowhere was recorded as sent")
	}
}

func TestEmailHasAPlainAndAnEscapedHTMLPart(t *testing.T) {
	w := newWorld(t, monday)
	seed(t, w)
	mb, tlsConfig := newMailbox(t, "mailer", "hunter2")
	svc := w.service(t, newFileLedger(t), false, digest.Email{URL: "smtp://mailer:hunter2@" + mb.Addr, From: "Keyportal <keyportal@example.com>",
		To: []string{"ops@example.com", "sec@example.com"}, Loc: time.UTC, TLS: tlsConfig})
	mustSend(t, svc, monday)
	msgs := mb.Messages()
	if len(msgs) != 1 {
		t.Fatalf("the mailbox got %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.From != "keyportal@example.com" || strings.Join(m.To, " ") != "ops@example.com sec@example.com" {
		t.Errorf("envelope from %q to %v", m.From, m.To)
	}
	msg, err := mail.ReadMessage(strings.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	contains(t, "subject", subject, "Keyportal digest, Mon 30 Nov 2026 08:00 UTC", "7 keys expiring within 30 days")
	parts := map[string]string{}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("content type %q (%v), want multipart/alternative", mt, err)
	}
	r := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		parts[ct] = string(b)
	}
	contains(t, "plain part", parts["text/plain"], "ci <deploy> & co", "owner admin", "expires Mon 30 Nov 2026 10:00 UTC", keysURL+"/")
	contains(t, "HTML part", parts["text/html"], "ci &lt;deploy&gt; &amp; co", `<a href="`+keysURL+`/`, "<h2>Expiring within 1 day (1)</h2>")
	if strings.Contains(parts["text/html"], "<deploy>") || strings.Contains(m.Data, "SECRET-") || strings.Contains(m.Data, "hunter2") {
		t.Error("the mail shows a name unescaped in HTML, a key's secret or the SMTP password")
	}
}

// An SMTP password changed on the server's side: the digest still reaches
// the webhook, and the email counts as an error, so that its metric moves,
// while the last success (every destination) stays where it was.
func TestStatsCountEachDestinationAndTheLastDigestEveryOneTook(t *testing.T) {
	w := newWorld(t, monday)
	seed(t, w)
	h := newHook(t)
	mb, tlsConfig := newMailbox(t, "mailer", "new-password")
	mail := func(pass string) digest.Email {
		return digest.Email{URL: "smtp://mailer:" + pass + "@" + mb.Addr, From: "keyportal@example.com", To: []string{"ops@example.com"}, Loc: time.UTC, TLS: tlsConfig}
	}
	ledger := newFileLedger(t)
	if st := w.service(t, ledger, false, digest.Webhook{URL: h.URL, Loc: time.UTC}, mail("new-password")).Stats(); !st.LastSuccess.IsZero() ||
		len(st.Sent) != 2 || st.Sent[0] != (digest.Delivery{Destination: "webhook"}) || st.Sent[1] != (digest.Delivery{Destination: "email"}) {
		t.Errorf("before any digest: %+v, want both destinations at zero and no last success", st)
	}
	good := w.service(t, ledger, false, digest.Webhook{URL: h.URL, Loc: time.UTC}, mail("new-password"))
	mustSend(t, good, monday)
	if st := good.Stats(); !st.LastSuccess.Equal(monday) || st.Sent[0].OK != 1 || st.Sent[1].OK != 1 || st.Sent[0].Errors+st.Sent[1].Errors != 0 {
		t.Errorf("after a digest both took: %+v", st)
	}

	tuesday := monday.AddDate(0, 0, 1)
	w.clock.Set(tuesday)
	stale := w.service(t, ledger, false, digest.Webhook{URL: h.URL, Loc: time.UTC}, mail("old-password"))
	if out, err := stale.SendSlot(context.Background(), tuesday); out != digest.Sent || err == nil || strings.Contains(err.Error(), "old-password") {
		t.Errorf("with the old SMTP password: %q, %v; want sent (to the webhook) with an error that names no password", out, err)
	}
	if st := stale.Stats(); !st.LastSuccess.IsZero() || st.Sent[0] != (digest.Delivery{Destination: "webhook", OK: 1}) ||
		st.Sent[1] != (digest.Delivery{Destination: "email", Errors: 1}) {
		t.Errorf("after the email failed: %+v, want the webhook's success, the email's error and no last success", st)
	}
	if n := len(mb.Messages()); n != 1 {
		t.Errorf("the mailbox got %d digests, want Monday's only", n)
	}
}

func TestNothingIsSentWhenNothingIsDueUnlessAskedTo(t *testing.T) {
	w := newWorld(t, monday)
	w.clock.Set(time.Date(2031, 12, 1, 8, 0, 0, 0, time.UTC)) // a Monday when every demo key has long expired, or never does
	w.signIn(t)
	quiet, loud := newHook(t), newHook(t)
	ctx := context.Background()
	slot := w.service(t, newFileLedger(t), false).Slot(w.clock.Now())
	if out, err := w.service(t, newFileLedger(t), false, digest.Webhook{URL: quiet.URL, Loc: time.UTC}).SendSlot(ctx, slot); err != nil || out != digest.NothingDue {
		t.Errorf("nothing due: %q, %v", out, err)
	}
	if out, err := w.service(t, newFileLedger(t), true, digest.Webhook{URL: loud.URL, Loc: time.UTC}).SendSlot(ctx, slot); err != nil || out != digest.Sent {
		t.Errorf("send empty: %q, %v", out, err)
	}
	if n := len(quiet.Payloads()); n != 0 {
		t.Errorf("%d digests sent with nothing due", n)
	}
	if got := loud.Payloads(); len(got) != 1 || !strings.Contains(got[0].Text, "No key expires within 30 days") {
		t.Errorf("with KEYPORTAL_DIGEST_SEND_EMPTY: %+v", got)
	}
}

func newFileLedger(t *testing.T) *digest.FileLedger {
	l, err := digest.NewFileLedger(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// race runs each replica's send of slot at once and returns the outcomes.
func race(t *testing.T, replicas []*digest.Service, send func(*digest.Service) (digest.Outcome, error)) []digest.Outcome {
	t.Helper()
	outs := make([]digest.Outcome, len(replicas))
	var wg sync.WaitGroup
	for i, r := range replicas {
		wg.Go(func() {
			var err error
			if outs[i], err = send(r); err != nil {
				t.Errorf("replica %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	return outs
}

// exactlyOnce checks that of replicas that each tried one slot, one sent.
func exactlyOnce(t *testing.T, what string, h *hook, before int, outs []digest.Outcome) {
	t.Helper()
	if n := len(h.Payloads()) - before; n != 1 {
		t.Errorf("%s: the webhook got %d digests, want 1 (outcomes %q)", what, n, outs)
	}
	sent := 0
	for _, o := range outs {
		if o == digest.Sent {
			sent++
		} else if o != digest.AlreadySent && o != digest.OtherReplica {
			t.Errorf("%s: outcome %q", what, o)
		}
	}
	if sent != 1 {
		t.Errorf("%s: %d replicas say they sent it (%q)", what, sent, outs)
	}
}

// ledgers are the two ways replicas share what was sent.
var ledgers = map[string]func(t *testing.T) func() digest.Ledger{
	"redis": func(t *testing.T) func() digest.Ledger {
		r := redistest.Start(t)
		return func() digest.Ledger {
			l := digest.NewRedisLedger(r.URL, time.Minute)
			t.Cleanup(func() { l.Close() })
			return l
		}
	},
	"file": func(t *testing.T) func() digest.Ledger {
		dir := t.TempDir()
		return func() digest.Ledger {
			l, err := digest.NewFileLedger(dir)
			if err != nil {
				t.Fatal(err)
			}
			return l
		}
	},
}

func TestTwoReplicasSendEachScheduledDigestOnce(t *testing.T) {
	for name, shared := range ledgers {
		t.Run(name, func(t *testing.T) {
			open := shared(t)
			w := newWorld(t, monday)
			seed(t, w)
			h := newHook(t)
			replicas := []*digest.Service{
				w.service(t, open(), false, digest.Webhook{URL: h.URL, Loc: time.UTC}),
				w.service(t, open(), false, digest.Webhook{URL: h.URL, Loc: time.UTC}),
			}
			ctx := context.Background()
			outs := race(t, replicas, func(s *digest.Service) (digest.Outcome, error) { return s.SendSlot(ctx, monday) })
			exactlyOnce(t, "both at 08:00", h, 0, outs)
			// A replica whose timer fires late finds it sent.
			if out, err := replicas[1].SendSlot(ctx, monday); err != nil || out != digest.AlreadySent {
				t.Errorf("late replica: %q, %v", out, err)
			}
			if n := len(h.Payloads()); n != 1 {
				t.Errorf("the webhook got %d digests after a late replica, want 1", n)
			}
		})
	}
}

func TestADigestMissedWhileEveryReplicaWasDownIsSentAtTheNextStart(t *testing.T) {
	for name, shared := range ledgers {
		t.Run(name, func(t *testing.T) {
			open := shared(t)
			w := newWorld(t, monday)
			seed(t, w)
			h := newHook(t)
			replica := func() *digest.Service { return w.service(t, open(), false, digest.Webhook{URL: h.URL, Loc: time.UTC}) }
			ctx := context.Background()

			// The very first start misses nothing: it only records where to count from.
			w.clock.Set(monday.Add(3 * time.Hour))
			if out, err := replica().CatchUp(ctx); err != nil || out != digest.FirstStart {
				t.Fatalf("first start: %q, %v", out, err)
			}
			if n := len(h.Payloads()); n != 0 {
				t.Fatalf("the first start sent %d digests", n)
			}
			// Tuesday's digest goes out on time.
			tuesday := monday.AddDate(0, 0, 1)
			w.clock.Set(tuesday)
			mustSend(t, replica(), tuesday)
			// Every replica is down on Wednesday at 08:00; two start at noon.
			w.clock.Set(tuesday.AddDate(0, 0, 1).Add(4 * time.Hour))
			outs := race(t, []*digest.Service{replica(), replica()}, func(s *digest.Service) (digest.Outcome, error) { return s.CatchUp(ctx) })
			exactlyOnce(t, "after the outage", h, 1, outs)
			got := h.Payloads()
			if len(got) != 2 || !got[1].Digest.Since.Equal(tuesday) {
				t.Fatalf("the missed digest counts expired keys from %v, want from Tuesday's digest (%v)", got[len(got)-1].Digest.Since, tuesday)
			}
			// Each key that expired is in one digest only: Tuesday's counts from the first start.
			if !got[0].Digest.Since.Equal(monday.Add(3 * time.Hour)) {
				t.Errorf("Tuesday's digest counts expired keys from %v, want from the first start", got[0].Digest.Since)
			}
			for _, g := range got[1].Digest.Expired.Groups {
				for _, k := range g.Keys {
					if !k.Expires.After(tuesday) {
						t.Errorf("Wednesday's digest repeats %q, which expired before Tuesday's", k.Title)
					}
				}
			}
			if got[1].Digest.Expired.Total == 0 {
				t.Error("Wednesday's digest lists no key expired since Tuesday's; the demo has one")
			}
			// A later start the same day has nothing to catch up.
			if out, err := replica().CatchUp(ctx); err != nil || out != digest.AlreadySent {
				t.Errorf("restart: %q, %v", out, err)
			}
		})
	}
}

func TestScheduleIsReadInItsTimeZone(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no time zone data")
	}
	s, err := digest.New(digest.Options{Schedule: "0 8 * * 1-5", Loc: paris})
	if err != nil {
		t.Fatal(err)
	}
	fri := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC) // a Friday
	if got, want := s.Next(fri), time.Date(2026, 12, 7, 8, 0, 0, 0, paris); !got.Equal(want) {
		t.Errorf("next after Friday noon: %v, want Monday 08:00 Paris %v", got, want)
	}
	if got, want := s.Slot(time.Date(2026, 12, 7, 6, 59, 0, 0, time.UTC)), time.Date(2026, 12, 4, 8, 0, 0, 0, paris); !got.Equal(want) {
		t.Errorf("slot before Monday 07:59 Paris: %v, want Friday 08:00 Paris %v", got, want)
	}
	if got := s.Slot(time.Date(2026, 12, 7, 7, 0, 0, 0, time.UTC)); !got.Equal(time.Date(2026, 12, 7, 8, 0, 0, 0, paris)) {
		t.Errorf("slot at Monday 08:00 Paris: %v", got)
	}
}

func TestRunSendsTheMissedDigestThenKeepsTheScheduleUntilStopped(t *testing.T) {
	w := newWorld(t, monday)
	seed(t, w)
	posted := make(chan struct{}, 4)
	h := newHook(t)
	ledger := newFileLedger(t)
	if err := ledger.Put(context.Background(), digest.Record{Slot: monday, At: monday}); err != nil {
		t.Fatal(err)
	}
	w.clock.Set(monday.AddDate(0, 0, 1).Add(time.Hour)) // Tuesday 09:00: Tuesday's 08:00 digest was missed
	svc := w.service(t, ledger, false, notify{digest.Webhook{URL: h.URL, Loc: time.UTC}, posted})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	<-posted
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run stopped with %v", err)
	}
	if rec, _, _ := ledger.Last(context.Background()); !rec.Slot.Equal(monday.AddDate(0, 0, 1)) || len(h.Payloads()) != 1 {
		t.Errorf("after the start: record %+v, %d digests sent", rec, len(h.Payloads()))
	}
}

// notify tells when its sender has sent.
type notify struct {
	digest.Sender
	sent chan<- struct{}
}

func (n notify) Send(ctx context.Context, d digest.Digest) error {
	err := n.Sender.Send(ctx, d)
	n.sent <- struct{}{}
	return err
}

// mustSend sends slot's digest, which must go out.
func mustSend(t *testing.T, svc *digest.Service, slot time.Time) {
	t.Helper()
	if out, err := svc.SendSlot(context.Background(), slot); err != nil || out != digest.Sent {
		t.Fatalf("SendSlot: %q, %v", out, err)
	}
}

// A digest due while Redis is away (failed over, upgraded as the replica
// starts) is neither sent nor recorded then, and is sent once, by one
// replica, once Redis answers, without a restart.
func TestADigestDueWhileRedisIsAwayIsSentOnceItAnswers(t *testing.T) {
	rs := redistest.Start(t)
	w := newWorld(t, monday)
	seed(t, w)
	h := newHook(t)
	ctx := context.Background()
	open := func() digest.Ledger {
		l := digest.NewRedisLedger(rs.URL, time.Minute)
		t.Cleanup(func() { l.Close() })
		return l
	}
	if err := open().Put(ctx, digest.Record{Slot: monday, At: monday}); err != nil {
		t.Fatal(err)
	}
	saveRedis(t, rs) // a Redis that keeps its data, as one being upgraded does
	rs.Stop()
	w.clock.Set(monday.AddDate(0, 0, 1).Add(time.Hour)) // Tuesday 09:00: Tuesday's 08:00 digest is due

	away := w.service(t, open(), false, digest.Webhook{URL: h.URL, Loc: time.UTC})
	if out, err := away.CatchUp(ctx); !errors.As(err, new(digest.LedgerError)) || out != "" {
		t.Errorf("with Redis away: %q, %v; want a LedgerError", out, err)
	}
	if n := len(h.Payloads()); n != 0 {
		t.Fatalf("%d digests sent while Redis was away", n)
	}

	posted := make(chan struct{}, 4)
	failed := make(chan struct{}, 1)
	svc := w.service(t, failing{open(), failed}, false, notify{digest.Webhook{URL: h.URL, Loc: time.UTC}, posted})
	run, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(run) }()
	select {
	case <-failed:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not ask the ledger within 30 s")
	}
	rs.Restart(t)
	select {
	case <-posted:
	case <-time.After(time.Minute):
		t.Fatal("the digest was not sent within a minute of Redis answering")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run stopped with %v", err)
	}
	got := h.Payloads()
	if len(got) != 1 || !got[0].Digest.Since.Equal(monday) {
		t.Fatalf("once Redis answered: %d digests, want Tuesday's, counting from Monday's", len(got))
	}
	// Another replica, or a restart, finds it sent.
	if out, err := w.service(t, open(), false, digest.Webhook{URL: h.URL, Loc: time.UTC}).CatchUp(ctx); err != nil || out != digest.AlreadySent {
		t.Errorf("another replica after: %q, %v", out, err)
	}
	if n := len(h.Payloads()); n != 1 {
		t.Errorf("the webhook got %d digests, want 1", n)
	}
}

// failing tells when its ledger fails to claim a digest.
type failing struct {
	digest.Ledger
	failed chan<- struct{}
}

func (f failing) Claim(ctx context.Context, slot time.Time) (func(), bool, error) {
	release, ok, err := f.Ledger.Claim(ctx, slot)
	if err != nil {
		select {
		case f.failed <- struct{}{}:
		default:
		}
	}
	return release, ok, err
}

// saveRedis writes rs's data to disk, which a restart reads back.
func saveRedis(t *testing.T, rs *redistest.Server) {
	t.Helper()
	conn, err := redis.Dial("tcp", rs.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Do("SAVE"); err != nil {
		t.Fatal(err)
	}
}

// A portal that stops just as a digest went out (its context ends right
// after the send) still writes down that it was sent: the next start, or
// another replica, must not send it again.
func TestADigestSentAsThePortalStopsIsRecorded(t *testing.T) {
	rs := redistest.Start(t)
	w := newWorld(t, monday)
	seed(t, w)
	h := newHook(t)
	open := func() digest.Ledger {
		l := digest.NewRedisLedger(rs.URL, time.Minute)
		t.Cleanup(func() { l.Close() })
		return l
	}
	if err := open().Put(context.Background(), digest.Record{Slot: monday, At: monday}); err != nil {
		t.Fatal(err)
	}
	w.clock.Set(monday.AddDate(0, 0, 1).Add(time.Hour)) // Tuesday's digest is due
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	svc := w.service(t, open(), false, stopping{digest.Webhook{URL: h.URL, Loc: time.UTC}, stop})
	if out, err := svc.CatchUp(ctx); out != digest.Sent {
		t.Fatalf("CatchUp: %q, %v; want it sent", out, err)
	}
	if out, err := w.service(t, open(), false, digest.Webhook{URL: h.URL, Loc: time.UTC}).CatchUp(context.Background()); err != nil || out != digest.AlreadySent {
		t.Errorf("the next start: %q, %v; want it already sent", out, err)
	}
	if n := len(h.Payloads()); n != 1 {
		t.Errorf("the webhook got %d digests, want 1", n)
	}
}

// stopping is a destination after which the portal stops.
type stopping struct {
	digest.Sender
	stop func()
}

func (s stopping) Send(ctx context.Context, d digest.Digest) error {
	err := s.Sender.Send(ctx, d)
	s.stop()
	return err
}
