package handlers

import (
	"context"
	"strings"
	"time"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/internal/digest"
)

// digestLease bounds how long a replica may hold a scheduled digest's
// claim in Redis: reading the keys and both deliveries, with room.
const digestLease = 5 * time.Minute

// newDigest wires the digest: read with the watcher's credential, linked
// to this portal's keys page at KEYPORTAL_PUBLIC_URL, sent to the
// configured destinations, and shared with other replicas through the
// session store (Redis) or the data directory.
func (s *Server) newDigest(balena *apiclient.Client) error {
	cfg := s.cfg
	if cfg.SessionStore != "" {
		s.ledger = digest.NewRedisLedger(cfg.SessionStore, digestLease)
	} else {
		l, err := digest.NewFileLedger(cfg.DataDir)
		if err != nil {
			return err
		}
		s.ledger = l
	}
	// The route already carries the base path, which is also the public
	// URL's path: keep only the URL's scheme and host.
	origin := strings.TrimSuffix(cfg.PublicURL, cfg.BasePath)
	if origin == "" { // a dry run without it: links to where the portal listens
		origin = "http://" + cfg.Addr
	}
	var senders []digest.Sender
	if cfg.DigestWebhookURL != "" {
		senders = append(senders, digest.Webhook{URL: cfg.DigestWebhookURL, Loc: cfg.DigestTZ})
	}
	if cfg.DigestSMTPURL != "" {
		senders = append(senders, digest.Email{URL: cfg.DigestSMTPURL, From: cfg.DigestEmailFrom, To: cfg.DigestEmailTo, Loc: cfg.DigestTZ})
	}
	d, err := digest.New(digest.Options{
		Builder:   digest.NewBuilder(balena.As(cfg.WatchToken), cfg.DigestWithin, origin+s.url(routeKeys)),
		Ledger:    s.ledger,
		Senders:   senders,
		Schedule:  cfg.DigestSchedule,
		Loc:       cfg.DigestTZ,
		SendEmpty: cfg.DigestSendEmpty,
		Now:       s.now,
		Log:       s.log,
	})
	s.digest = d
	return err
}

// Digest is the server's digest, nil without KEYPORTAL_WATCH_TOKEN. It can
// be printed whether or not it has a destination.
func (s *Server) Digest() *digest.Service { return s.digest }

// RunDigest sends a digest missed while the portal was down, then each
// scheduled one, until ctx ends; it returns at once when the digest has
// no destination.
func (s *Server) RunDigest(ctx context.Context) error {
	if s.digest == nil || !s.cfg.DigestEnabled() {
		return nil
	}
	return s.digest.Run(ctx)
}
