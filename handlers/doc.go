// Package handlers is Keyportal's web layer: the Echo router, its
// middleware (request ids, logs, security headers, sessions, CSRF, the
// sign-in guard), one handler type per feature, and the translation of
// URLs and forms into apiclient calls and of their results into views.
package handlers
