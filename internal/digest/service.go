package digest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/robfig/cron/v3"
)

// Service sends the digest on its schedule.
type Service struct {
	builder   *Builder
	ledger    Ledger
	senders   []Sender
	expr      string
	sched     cron.Schedule
	loc       *time.Location
	sendEmpty bool
	now       func() time.Time
	log       *slog.Logger

	mu          sync.Mutex
	lastSuccess time.Time  // the last digest every destination took
	sent        []Delivery // by destination, in the order configured
}

// Stats is what this process delivered since it started, for metrics. Only
// the replica that claims a digest sends and counts it: across replicas,
// take the newest LastSuccess and the sum of the counts.
type Stats struct {
	LastSuccess time.Time  // the last digest every destination took; zero before
	Sent        []Delivery // each destination, in the order configured
}

// Delivery counts the digests a destination took and refused.
type Delivery struct {
	Destination string // a Sender's Name, never its URL or address
	OK, Errors  uint64
}

// Stats is a copy of what this process delivered.
func (s *Service) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{LastSuccess: s.lastSuccess, Sent: slices.Clone(s.sent)}
}

// Options are what a Service needs; Schedule is a cron expression read in
// Loc (config.ParseSchedule has checked it).
type Options struct {
	Builder   *Builder
	Ledger    Ledger
	Senders   []Sender // none: the digest can only be printed
	Schedule  string
	Loc       *time.Location
	SendEmpty bool // send even when nothing is due
	Now       func() time.Time
	Log       *slog.Logger
}

// New makes a Service.
func New(o Options) (*Service, error) {
	sched, err := cron.ParseStandard(o.Schedule)
	if err != nil {
		return nil, fmt.Errorf("digest schedule: %w", err)
	}
	if o.Loc == nil {
		o.Loc = time.UTC
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	// Every destination counts from zero, so that a first error is an
	// increase that Prometheus sees.
	var sent []Delivery
	for _, snd := range o.Senders {
		if !slices.ContainsFunc(sent, func(d Delivery) bool { return d.Destination == snd.Name() }) {
			sent = append(sent, Delivery{Destination: snd.Name()})
		}
	}
	return &Service{builder: o.Builder, ledger: o.Ledger, senders: o.Senders, expr: o.Schedule, sched: sched,
		loc: o.Loc, sendEmpty: o.SendEmpty, now: o.Now, log: o.Log, sent: sent}, nil
}

// Next is the first scheduled time after t.
func (s *Service) Next(t time.Time) time.Time { return s.sched.Next(t.In(s.loc)) }

// Slot is the last scheduled time at or before t, zero if there is none in
// the last four years.
func (s *Service) Slot(t time.Time) time.Time {
	t = t.In(s.loc)
	for _, back := range []time.Duration{time.Hour, 25 * time.Hour, 8 * 24 * time.Hour, 32 * 24 * time.Hour, 367 * 24 * time.Hour, 4 * 366 * 24 * time.Hour} {
		var last time.Time
		for n := s.sched.Next(t.Add(-back)); !n.IsZero() && !n.After(t); n = s.sched.Next(n) {
			last = n
		}
		if !last.IsZero() {
			return last
		}
	}
	return time.Time{}
}

// Outcome is what handling a slot came to.
type Outcome string

const (
	Sent         Outcome = "sent"
	NothingDue   Outcome = "nothing due"                 // recorded, not sent
	AlreadySent  Outcome = "already sent"                // by this or another replica
	OtherReplica Outcome = "another replica sends it"    // it holds the claim
	FirstStart   Outcome = "first start: nothing missed" // recorded as the baseline
	NoSlot       Outcome = "no scheduled time yet"
)

// SendSlot sends the digest of the scheduled time slot, unless it has been
// sent or another replica is sending it.
func (s *Service) SendSlot(ctx context.Context, slot time.Time) (Outcome, error) {
	return s.deliver(ctx, slot, false)
}

// CatchUp sends, at start, the digest of the last scheduled time if it was
// not sent (every replica was down then). On the very first start there is
// no record, and nothing was missed: the last scheduled time becomes the
// record that the next digest's expired keys are counted from.
func (s *Service) CatchUp(ctx context.Context) (Outcome, error) {
	slot := s.Slot(s.now())
	if slot.IsZero() {
		return NoSlot, nil
	}
	return s.deliver(ctx, slot, true)
}

// LedgerError is a ledger that did not answer (Redis away) before anything
// was sent: the digest is neither sent nor recorded, and Run tries it again
// until the ledger answers. A record that fails after a send is not one: a
// retry would send that digest twice.
type LedgerError struct{ Err error }

func (e LedgerError) Error() string { return e.Err.Error() }
func (e LedgerError) Unwrap() error { return e.Err }

// recordTimeout bounds writing down a digest that was sent.
const recordTimeout = 10 * time.Second

// unsent wraps a ledger's failure before any send as a LedgerError.
func unsent(err error) error {
	if err == nil {
		return nil
	}
	return LedgerError{err}
}

func (s *Service) deliver(ctx context.Context, slot time.Time, catchUp bool) (Outcome, error) {
	release, ok, err := s.ledger.Claim(ctx, slot)
	if err != nil {
		return "", unsent(err)
	}
	if !ok {
		return OtherReplica, nil
	}
	defer release()
	rec, found, err := s.ledger.Last(ctx)
	if err != nil {
		return "", unsent(err)
	}
	now := s.now()
	switch {
	case found && !rec.Slot.Before(slot):
		return AlreadySent, nil
	case !found && catchUp:
		return FirstStart, unsent(s.ledger.Put(ctx, Record{Slot: slot, At: now}))
	}
	d, err := s.builder.Build(ctx, now, s.since(rec, found, slot, now))
	if err != nil {
		return "", fmt.Errorf("digest: reading keys: %w", err)
	}
	if d.Empty() && !s.sendEmpty {
		return NothingDue, unsent(s.ledger.Put(ctx, Record{Slot: slot, At: now}))
	}
	sent, err := s.send(ctx, d)
	if sent > 0 {
		// Some destination has it: sending it again at the next start would
		// repeat it there. The failure is still reported. The record is
		// written even as the portal stops (ctx ends right after a send):
		// without it the next start would send the digest again.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
		defer cancel()
		return Sent, errors.Join(err, s.ledger.Put(rctx, Record{Slot: slot, At: now}))
	}
	return "", err
}

// since is when the digest's expired keys start: the last digest, or,
// when there was none, the last scheduled time before t.
func (s *Service) since(rec Record, found bool, t, now time.Time) time.Time {
	if found {
		return rec.At
	}
	if prev := s.Slot(t.Add(-time.Nanosecond)); !prev.IsZero() {
		return prev
	}
	return now.Add(-7 * 24 * time.Hour)
}

// send delivers d everywhere, reporting how many destinations took it.
func (s *Service) send(ctx context.Context, d Digest) (int, error) {
	var errs []error
	sent := 0
	for _, snd := range s.senders {
		err := snd.Send(ctx, d)
		s.count(snd.Name(), err)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		sent++
	}
	if len(s.senders) == 0 {
		errs = append(errs, errors.New("digest: no destination (KEYPORTAL_DIGEST_WEBHOOK_URL or KEYPORTAL_DIGEST_SMTP_URL)"))
	} else if sent == len(s.senders) {
		s.mu.Lock()
		s.lastSuccess = s.now()
		s.mu.Unlock()
	}
	return sent, errors.Join(errs...)
}

func (s *Service) count(destination string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.sent, func(d Delivery) bool { return d.Destination == destination })
	if err != nil {
		s.sent[i].Errors++
	} else {
		s.sent[i].OK++
	}
}

// SendNow builds the digest now and sends it, recorded as the last digest,
// for operators who schedule it themselves (cron, a Kubernetes CronJob).
func (s *Service) SendNow(ctx context.Context) (Outcome, error) {
	return s.deliver(ctx, s.now().Truncate(time.Minute), false)
}

// Print builds the digest now and writes it as text, sending nothing and
// recording nothing.
func (s *Service) Print(ctx context.Context, w io.Writer) error {
	now := s.now()
	rec, found, err := s.ledger.Last(ctx)
	if err != nil {
		return err
	}
	d, err := s.builder.Build(ctx, now, s.since(rec, found, now, now))
	if err != nil {
		return fmt.Errorf("digest: reading keys: %w", err)
	}
	_, err = io.WriteString(w, d.Text(s.loc))
	return err
}

// catchUpSlack lets a run that gocron starts a moment early still count as
// its scheduled time: cron times are whole minutes.
const catchUpSlack = 30 * time.Second

// The ledger is asked again a second after it failed, backing off to
// every half minute: a Redis that is failed over is not hammered, and a
// digest waits at most that long once it is back.
const (
	retryFirst = time.Second
	retryMax   = 30 * time.Second
)

// Run sends a missed digest, then each scheduled one, until ctx ends. A
// digest whose ledger did not answer (Redis away, at start or at its time)
// is tried again until it does, so it is sent once Redis is back; the
// ledger's claim keeps it to one replica and one send.
func (s *Service) Run(ctx context.Context) error {
	type due struct {
		slot    time.Time
		catchUp bool
	}
	var (
		mu      sync.Mutex
		pending *due // the latest digest the ledger did not answer for
		wake    = make(chan struct{}, 1)
	)
	try := func(d *due) {
		o, err := s.deliver(ctx, d.slot, d.catchUp)
		s.report(o, err)
		if errors.As(err, new(LedgerError)) {
			mu.Lock()
			if pending == nil || !d.slot.Before(pending.slot) {
				pending = d // a later digest counts from the last one sent: it covers an earlier
			}
			mu.Unlock()
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	}
	if slot := s.Slot(s.now()); slot.IsZero() {
		s.report(NoSlot, nil)
	} else {
		try(&due{slot, true})
	}
	sc, err := gocron.NewScheduler(gocron.WithLocation(s.loc))
	if err != nil {
		return err
	}
	_, err = sc.NewJob(gocron.CronJob(s.expr, false), gocron.NewTask(func() {
		try(&due{s.Slot(s.now().Add(catchUpSlack)), false})
	}), gocron.WithSingletonMode(gocron.LimitModeReschedule))
	if err != nil {
		return errors.Join(err, sc.Shutdown())
	}
	sc.Start()
	wait := retryFirst
	var again <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return sc.Shutdown()
		case <-wake:
			if again == nil {
				again = time.After(wait)
			}
		case <-again:
			again = nil
			mu.Lock()
			d := pending
			mu.Unlock()
			if d == nil {
				continue
			}
			o, err := s.deliver(ctx, d.slot, d.catchUp)
			if errors.As(err, new(LedgerError)) {
				// Said once when it failed first; not again each try.
				s.log.Debug("digest: the ledger still does not answer", "error", err)
				wait = min(2*wait, retryMax)
				again = time.After(wait)
				continue
			}
			mu.Lock()
			if pending == d {
				pending = nil
			}
			mu.Unlock()
			wait = retryFirst
			s.report(o, err)
		}
	}
}

func (s *Service) report(o Outcome, err error) {
	switch {
	case errors.Is(err, context.Canceled): // stopping, not failing
	case errors.As(err, new(LedgerError)):
		// Nothing was sent: the digest waits for its ledger, and goes out
		// once, when the ledger answers.
		s.log.Warn("digest waits: its ledger does not answer; it goes out once it does", "error", err)
	case err != nil:
		s.log.Error("digest failed", "error", err, "outcome", string(o))
	default:
		s.log.Info("digest", "outcome", string(o))
	}
}
