// Package balenasim is a stand-in for balenaCloud's API, faithful enough to
// test any balena client against: the /v7 OData resources (user, actor,
// application, device, organization, organization_membership and api_key)
// with pinejs's dialect and quirks, the custom key-creation endpoints,
// login with 2FA, whoami and token refresh, permissions as balenaCloud (or,
// with ProfileOpenBalena, open-balena) applies them, deterministic
// datasets, fault injection and request counters.
//
// The contract it follows is docs/balena-api.md (sections 1-10): status
// codes, error bodies (empty or a JSON-encoded string) and OData behaviour
// come from balena's source and from a running open-balena server. Where
// the two deployments differ, Options.Profile picks one.
//
// Sim is an http.Handler; serve it with httptest.NewServer or the
// cmd/balena-sim binary. It knows nothing about any particular client.
package balenasim
