package apikeys

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/keyportal/keyportal/apiclient"
)

// Error is a change the rules refuse before balena is asked, or a refusal
// of balena's that they explain. Its Code is one of apiclient's, so that
// the web layer maps every failure to a status in one table.
type Error struct {
	Code    apiclient.Code
	Message string            // a sentence for the person who asked
	Fields  map[string]string // invalid input: field -> message
}

func (e *Error) Error() string {
	switch {
	case e.Message != "":
		return e.Message
	case len(e.Fields) == 0:
		return string(e.Code)
	}
	msgs := make([]string, 0, len(e.Fields))
	for _, f := range slices.Sorted(maps.Keys(e.Fields)) {
		msgs = append(msgs, e.Fields[f])
	}
	return strings.Join(msgs, " ")
}

// Invalid is an *Error for the fields in errs (field -> message), or nil
// when there are none; its text states every problem in field order.
func Invalid(errs map[string]string) error {
	if len(errs) == 0 {
		return nil
	}
	return &Error{Code: apiclient.CodeInvalid, Fields: errs}
}

// FieldErrors are the per-field messages of an invalid input, nil for any
// other error.
func FieldErrors(err error) map[string]string {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}

// Code classifies err: its *Error's or *apiclient.Error's code, CodeTimeout
// for a passed deadline, and "" for anything else (a fault of the portal).
func Code(err error) apiclient.Code {
	if errors.As(err, new(*SecretLost)) {
		return apiclient.CodeUpstream
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if c := apiclient.ErrorCode(err); c != "" {
		return c
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return apiclient.CodeTimeout
	}
	return ""
}

// Explain says what went wrong in words a person can act on. It is the
// one place where balena's failures become words; the audit trail and
// every page use it.
func Explain(err error) string {
	var we *WriteError
	if errors.As(err, &we) {
		return we.Error()
	}
	var sl *SecretLost
	if errors.As(err, &sl) {
		return sl.Error()
	}
	var e *Error
	if errors.As(err, &e) && (e.Message != "" || len(e.Fields) > 0) {
		return e.Error()
	}
	var ae *apiclient.Error
	errors.As(err, &ae)
	switch Code(err) {
	case apiclient.CodeUnauthorized:
		return "balena no longer accepts your sign-in. Sign in again."
	case apiclient.CodeFreshAuth:
		return "balena wants you to confirm your password before this action."
	case apiclient.CodeForbidden:
		return "Your balena account is not allowed to do that."
	case apiclient.CodeNotFound:
		return "That key no longer exists, or you cannot see it."
	case apiclient.CodeInvalid:
		if ae != nil && ae.Message != "" {
			return "balena refused the request: " + ae.Message
		}
		return "balena refused the request as invalid."
	case apiclient.CodeConflict:
		return "That conflicts with an existing key."
	case apiclient.CodeRateLimited:
		return "balena is rate-limiting requests. " + RetryIn(ae.RetryAfter)
	case apiclient.CodeTimeout:
		return "balena did not answer in time. Try again in a moment."
	case apiclient.CodeUnreachable:
		why := "no connection could be made"
		if ae != nil && ae.Message != "" {
			why = ae.Message
		}
		return "The portal cannot reach balena: " + why + ". Try again in a moment; if it keeps happening, tell your administrator."
	case apiclient.CodeBadToken:
		return "That token holds characters no balena token or API key has (such as a line break or another control character). Copy it again and paste only the token."
	case apiclient.CodeTwoFactor:
		return "That code is not right. Enter the current code from your authenticator app."
	case "":
		return "Something went wrong on our side. Try again; if it keeps happening, tell your administrator."
	}
	return "balena answered with an error. Try again in a moment."
}

// RetryIn words a Retry-After delay.
func RetryIn(d time.Duration) string {
	switch {
	case d <= 0:
		return "Try again in a moment."
	case d < time.Minute:
		return fmt.Sprintf("Try again in %d seconds.", int(d.Seconds()+0.5))
	case d < 2*time.Hour:
		return fmt.Sprintf("Try again in %d minutes.", int(d.Minutes()+0.5))
	}
	return fmt.Sprintf("Try again in %d hours.", int(d.Hours()+0.5))
}
