package digest

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/wneessen/go-mail"
)

// Sender delivers a digest somewhere.
type Sender interface {
	Send(ctx context.Context, d Digest) error
	Name() string // where, without any secret: "webhook", "email"
}

// SendTimeout bounds one delivery.
const SendTimeout = 30 * time.Second

// Webhook posts a digest as JSON: "text", which Slack, Mattermost and
// Rocket.Chat incoming webhooks show as is, and "digest", the same as
// data for anything else.
type Webhook struct {
	URL    string // may hold a token: never logged
	Loc    *time.Location
	Client *http.Client // nil: one with SendTimeout
}

func (w Webhook) Name() string { return "webhook" }

// Payload is what Webhook posts.
type Payload struct {
	Text   string      `json:"text"`
	Digest PayloadData `json:"digest"`
}

// PayloadData is a digest as data.
type PayloadData struct {
	At      time.Time        `json:"at"`
	Since   time.Time        `json:"since"`
	Windows []PayloadSection `json:"windows"`
	Expired PayloadSection   `json:"expired"`
}

// PayloadSection is a window, or the expired keys (no within).
type PayloadSection struct {
	WithinSeconds int64   `json:"within_seconds,omitempty"`
	Total         int     `json:"total"`
	Groups        []Group `json:"groups"`
}

// Data is d as the webhook's structured list.
func (d Digest) Data() PayloadData {
	p := PayloadData{At: d.At, Since: d.Since, Expired: PayloadSection{Total: d.Expired.Total, Groups: nonNil(d.Expired.Groups)},
		Windows: []PayloadSection{}}
	for _, w := range d.Windows {
		p.Windows = append(p.Windows, PayloadSection{WithinSeconds: int64(w.Within / time.Second), Total: w.Total, Groups: nonNil(w.Groups)})
	}
	return p
}

func nonNil(g []Group) []Group {
	if g == nil {
		return []Group{}
	}
	return g
}

func (w Webhook) Send(ctx context.Context, d Digest) error {
	body, err := json.Marshal(Payload{Text: d.ChatText(w.Loc), Digest: d.Data()})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, SendTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return errors.New("webhook: bad URL") // the URL may hold a token
	}
	req.Header.Set("Content-Type", "application/json")
	c := w.Client
	if c == nil {
		c = &http.Client{Timeout: SendTimeout}
	}
	res, err := c.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL
		}
		return fmt.Errorf("webhook: %w", err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("webhook: answered %s", res.Status)
	}
	return nil
}

// Email sends a digest with a plain text and an HTML part.
type Email struct {
	URL  string // smtp:// or smtps://user:password@host:port; never logged
	From string
	To   []string
	Loc  *time.Location
	// TLS verifies the server; nil: the system's roots and the URL's host.
	// A password is sent only over TLS (smtps://, or STARTTLS offered).
	TLS *tls.Config
}

func (e Email) Name() string { return "email" }

func (e Email) Send(ctx context.Context, d Digest) error {
	u, err := url.Parse(e.URL)
	if err != nil {
		return errors.New("email: bad KEYPORTAL_DIGEST_SMTP_URL")
	}
	opts := []mail.Option{mail.WithTimeout(SendTimeout)}
	if e.TLS != nil {
		opts = append(opts, mail.WithTLSConfig(e.TLS))
	}
	port := 587
	if u.Scheme == "smtps" {
		port = 465
		opts = append(opts, mail.WithSSL())
	} else {
		// STARTTLS when the server offers it; loopback relays often do not.
		opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
	}
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil {
			return errors.New("email: bad port in KEYPORTAL_DIGEST_SMTP_URL")
		}
	}
	opts = append(opts, mail.WithPort(port))
	if user := u.User.Username(); user != "" {
		pass, _ := u.User.Password()
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(user), mail.WithPassword(pass))
	}
	c, err := mail.NewClient(u.Hostname(), opts...)
	if err != nil {
		return fmt.Errorf("email: %w", err)
	}
	m := mail.NewMsg()
	if err := m.From(e.From); err != nil {
		return fmt.Errorf("email: from: %w", err)
	}
	if err := m.To(e.To...); err != nil {
		return fmt.Errorf("email: to: %w", err)
	}
	m.Subject(d.Subject(e.Loc))
	m.SetBodyString(mail.TypeTextPlain, d.Text(e.Loc))
	m.AddAlternativeString(mail.TypeTextHTML, d.HTML(e.Loc))
	if err := c.DialAndSendWithContext(ctx, m); err != nil {
		return fmt.Errorf("email: %w", err)
	}
	return nil
}
