package apikeys

import (
	"context"
	"errors"

	"github.com/keyportal/keyportal/apiclient"
)

// WriteError is a change balena did not make. Every action words its
// failure the same way: what was not done, then why.
type WriteError struct {
	Action string
	Key    apiclient.APIKey
	Err    error
}

// notDone says what a failed action left undone.
var notDone = map[string]string{
	"create":            "The key was not created.",
	"update":            "Nothing was saved.",
	"set_expiry":        "The expiry was not changed.",
	"clear_expiry":      "The expiry was not cleared.",
	"expire":            "The key was not expired.",
	"revoke":            "The key was not revoked.",
	"rotate_create":     "The key was not rotated: no new key was made.",
	"rotate_expire_old": "The new key exists, but the old one could not be set to expire (expire it from the keys page).",
}

func (e *WriteError) Error() string { return notDone[e.Action] + " " + Explain(e.Err) }
func (e *WriteError) Unwrap() error { return e.Err }

// write is the one shape of every change: send it, explain a refusal,
// record the event whatever the outcome (send may complete e, such as the
// id of a key it made), and answer with a *WriteError when it failed.
//
// balena's request for a fresh password (user keys) is a question, not
// an outcome: it is returned as it is and not recorded, so that the
// caller can confirm the password and try again.
func (s *Service) write(ctx context.Context, c Caller, e *Event, send func(context.Context) error) error {
	return s.settle(ctx, c, e, send(ctx))
}

// settle is write after the sending: what err, its outcome, means.
func (s *Service) settle(ctx context.Context, c Caller, e *Event, err error) error {
	if apiclient.ErrorCode(err) == apiclient.CodeFreshAuth {
		return err
	}
	if err != nil {
		err = refused(ctx, c, err)
	}
	e.Err = err
	s.record(ctx, c, *e)
	if err != nil {
		return &WriteError{Action: e.Action, Key: e.Key, Err: err}
	}
	return nil
}

// IsWriteError reports whether err is a change balena did not make (as
// opposed to one refused before it was sent).
func IsWriteError(err error) bool {
	var we *WriteError
	return errors.As(err, &we)
}
