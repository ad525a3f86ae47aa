package apiclient

import (
	"errors"
	"fmt"
	"time"
)

// Code classifies an Error; the portal maps each code to a status and a
// message in one place.
type Code string

const (
	CodeUnauthorized Code = "unauthorized" // no, expired or revoked credentials (401)
	CodeFreshAuth    Code = "fresh_auth"   // "Fresh authentication token required" (401)
	CodeForbidden    Code = "forbidden"    // 403
	CodeNotFound     Code = "not_found"    // GET by id gave {"d": []}, or 404
	CodeInvalid      Code = "invalid"      // 400, Message holds balena's text when it sent one
	CodeConflict     Code = "conflict"     // 409
	CodeRateLimited  Code = "rate_limited" // 429, RetryAfter set
	CodeUpstream     Code = "upstream"     // 5xx, garbage bodies, reset connections
	CodeTimeout      Code = "timeout"      // the call's deadline passed
	CodeTwoFactor    Code = "two_factor"   // a wrong TOTP code
)

// Error is every failure apiclient returns.
type Error struct {
	Code       Code
	Status     int           // HTTP status from balena; 0 when none came
	Message    string        // balena's message, if it sent one
	RetryAfter time.Duration // for CodeRateLimited
	Op         string        // e.g. "list keys"; never contains a token
	Err        error         // the underlying cause, if any
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("balena %s: %s", e.Op, e.Code)
	if e.Status != 0 {
		msg += fmt.Sprintf(" (%d)", e.Status)
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// ErrorCode returns err's Code, or "" when err is not an *Error.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
