// Package session keeps who is signed in to the portal, on the server: the
// browser's cookie carries only an opaque, encrypted and signed id, and the
// balena token it stands for stays in files under the data directory or in
// Redis, sealed with the same session keys. It knows nothing of HTTP
// routing or pages, so that the web layer can change without touching how
// sessions are kept, and the store can change without touching the pages.
package session
