package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
)

// auditLog receives one event per change made through the portal. Events
// go to the main log, and, when KEYPORTAL_AUDIT_FILE is set, also to that
// file as JSON lines, so that they can be kept longer than request logs.
type auditLog struct {
	log  *slog.Logger
	file *slog.Logger
	f    *os.File
}

func openAudit(path string, log *slog.Logger) (*auditLog, error) {
	a := &auditLog{log: log}
	if path == "" {
		return a, nil
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("KEYPORTAL_AUDIT_FILE: %w", err)
	}
	a.f, a.file = f, slog.New(slog.NewJSONHandler(f, nil))
	return a, nil
}

// record writes one event. It outlives the request's cancellation: a
// change that happened is recorded even if the browser has gone.
func (a *auditLog) record(ctx context.Context, level slog.Level, attrs ...slog.Attr) {
	ctx = context.WithoutCancel(ctx)
	a.log.LogAttrs(ctx, level, "audit", attrs...)
	if a.file != nil {
		a.file.LogAttrs(ctx, level, "audit", attrs...)
	}
}

func (a *auditLog) close() error {
	if a.f == nil {
		return nil
	}
	return errors.Join(a.f.Sync(), a.f.Close())
}
