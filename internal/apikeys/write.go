package apikeys

import (
	"context"
	"errors"

	"github.com/keyportal/keyportal/apiclient"
)

// Outcome is what became of a change, as far as the portal knows.
type Outcome string

const (
	Done    Outcome = "ok"
	NotDone Outcome = "failed"
	// Unknown: balena's answer was lost and checking what it holds
	// failed too.
	Unknown Outcome = "unknown"
)

// WriteError is a change balena did not make, or one whose outcome could
// not be told. Every action words it the same way: what was (or may not
// have been) done, then why.
type WriteError struct {
	Action  string
	Key     apiclient.APIKey
	Outcome Outcome // NotDone or Unknown
	Err     error
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

// unsure says what may or may not have happened.
var unsure = map[string]string{
	"create":            "balena's answer was lost, and the portal could not check whether the key was made.",
	"update":            "balena's answer was lost, and the portal could not check whether the change was saved.",
	"set_expiry":        "balena's answer was lost, and the portal could not check whether the expiry was changed.",
	"clear_expiry":      "balena's answer was lost, and the portal could not check whether the expiry was cleared.",
	"expire":            "balena's answer was lost, and the portal could not check whether the key was expired.",
	"revoke":            "balena's answer was lost, and the portal could not check whether the key was revoked.",
	"rotate_create":     "balena's answer was lost, and the portal could not check whether the new key was made.",
	"rotate_expire_old": "The new key exists, but balena's answer about the old one was lost, and the portal could not check whether it was set to expire.",
}

func (e *WriteError) Error() string {
	if e.Outcome == Unknown {
		return unsure[e.Action] + " Look at the key in the list before you try again."
	}
	return notDone[e.Action] + " " + Explain(e.Err)
}

func (e *WriteError) Unwrap() error { return e.Err }

// SecretLost is a key that was made although balena's answer, which held
// its secret, was lost: the key works, and nobody can ever read its secret.
type SecretLost struct {
	Action string // create or rotate_create
	Key    apiclient.APIKey
}

func (e *SecretLost) Error() string {
	return "The key " + Label(e.Key) + " was made, but balena's answer with its secret was lost on the way, " +
		"and balena never shows a secret again. Revoke this key and make another."
}

// lost reports whether err leaves open whether balena applied a write it
// was sent: the answer timed out, broke off, was garbled, or came from a
// gateway. A refusal in balena's own words (4xx) is certain.
func lost(err error) bool {
	switch apiclient.ErrorCode(err) {
	case apiclient.CodeTimeout, apiclient.CodeUpstream:
		return true
	}
	return false
}

// check tells, by reading balena, whether a write whose answer was lost
// was applied; an error means it cannot be told.
type check func(ctx context.Context) (done bool, err error)

// errCannotTell is a check that found neither the old state nor the new.
var errCannotTell = errors.New("balena holds neither what was there nor what was sent")

// write is the one shape of every change: send it, explain a refusal, and
// when balena's answer was lost, check what balena now holds (verify may
// be nil where nothing can be checked). It records the event whatever the
// outcome (send may complete e, such as the id of a key it made), and
// answers nil when the change is made, else a *WriteError.
//
// balena's request for a fresh password (user keys) is a question, not
// an outcome: it is returned as it is and not recorded, so that the
// caller can confirm the password and try again.
func (s *Service) write(ctx context.Context, c Caller, e *Event, send func(context.Context) error, verify check) error {
	err := send(ctx)
	if apiclient.ErrorCode(err) == apiclient.CodeFreshAuth {
		return err
	}
	if err != nil && lost(err) && verify != nil {
		done, cerr := verify(context.WithoutCancel(ctx))
		e.Verified = cerr == nil
		switch {
		case cerr != nil:
			e.Outcome, e.Err = Unknown, err
			s.record(ctx, c, *e)
			return &WriteError{Action: e.Action, Key: e.Key, Outcome: Unknown, Err: err}
		case done:
			err = nil
		}
	}
	return s.settle(ctx, c, e, err)
}

// settle records a change whose outcome err tells: done (nil), or not.
func (s *Service) settle(ctx context.Context, c Caller, e *Event, err error) error {
	if apiclient.ErrorCode(err) == apiclient.CodeFreshAuth {
		return err
	}
	if err != nil {
		err = refused(ctx, c, err)
	}
	e.Err, e.Outcome = err, Done
	if err != nil {
		e.Outcome = NotDone
	}
	s.record(ctx, c, *e)
	if err != nil {
		return &WriteError{Action: e.Action, Key: e.Key, Outcome: NotDone, Err: err}
	}
	return nil
}

// IsWriteError reports whether err is a change balena did not make, or
// whose outcome is unknown (as opposed to one refused before it was sent).
func IsWriteError(err error) bool {
	var we *WriteError
	return errors.As(err, &we)
}

// OutcomeOf is the outcome err reports of a change: Done for nil.
func OutcomeOf(err error) Outcome {
	var we *WriteError
	switch {
	case err == nil:
		return Done
	case errors.As(err, &we):
		return we.Outcome
	}
	return NotDone
}
