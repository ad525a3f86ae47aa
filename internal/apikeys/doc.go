// Package apikeys holds the rules of balena API keys, apart from HTTP: the
// kinds and their owners, how a key is named in a sentence, the expiry
// presets and statuses, the view of a key that pages, exports and alerts
// share, the inventory's counts (CountEach, the overview's StatusViews
// and weeks of expiries, which the key watcher counts the same way), and the changes a person can make (create, edit, set or clear
// expiry, expire now, revoke, rotate, bulk), each with its audit event
// and a typed outcome.
//
// It talks to balena only through the small Balena interface, which an
// *apiclient.Session satisfies, and knows nothing of Echo, templ or
// sessions: the web layer parses a request, calls a Service and renders
// what comes back; background jobs call the same Service.
package apikeys
