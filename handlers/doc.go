// Package handlers is Keyportal's web layer: the Echo router, its
// middleware (request ids, logs, security headers, CSRF, loading the
// session and the sign-in guard), one handler type per feature, and the
// translation of URLs and forms into apiclient calls and of their results
// into views. It holds HTTP only: how sessions are kept is
// internal/session's business and the settings are internal/config's, so
// that this package never touches a cookie codec or a Redis client.
package handlers
