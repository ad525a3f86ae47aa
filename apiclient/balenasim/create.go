package balenasim

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The custom key-creation endpoints of section 3. Bodies are checked the
// way open-balena's zod schemas do (a failing body is 400 with an empty
// body, unknown properties are ignored), then the handler's own checks run
// with their exact messages, then the model's length rules.

const (
	msgBadExpiry = "Key expiry date should be a valid date"
	msgNotFresh  = "Fresh authentication token required"
)

// keyBody is a validated creation body.
type keyBody struct {
	name, desc    *string
	expiryRaw     json.RawMessage // as sent; checked after the schema
	hasExpiry     bool
	apiKey        *string
	actorType     string
	actorTypeID   int64
	roles         []string
	hasActorType  bool
	hasRoles      bool
	hasActorIDKey bool
}

// badJSONPage is what Express's default error handler answers for a body
// that is not JSON.
const badJSONPage = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Error</title>\n</head>\n<body>\n<pre>SyntaxError: Unexpected token in JSON</pre>\n</body>\n</html>\n"

// parseKeyBody returns the body, or writes the 400/413 answer and false.
func parseKeyBody(w http.ResponseWriter, r *http.Request, generic bool) (keyBody, bool) {
	var kb keyBody
	raw, err := readBody(r)
	if errors.Is(err, errTooLarge) {
		writeEmpty(w, http.StatusRequestEntityTooLarge)
		return kb, false
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = []byte("{}")
	}
	var fields map[string]json.RawMessage
	if !json.Valid(raw) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(badJSONPage))
		return kb, false
	}
	if json.Unmarshal(raw, &fields) != nil || fields == nil {
		writeEmpty(w, http.StatusBadRequest)
		return kb, false
	}
	ok := true
	str := func(key string) *string {
		v, present := fields[key]
		if !present {
			return nil
		}
		s, good := nullableString(v)
		ok = ok && good
		return s
	}
	kb.name, kb.desc, kb.apiKey = str("name"), str("description"), str("apiKey")
	if v, present := fields["expiryDate"]; present {
		kb.hasExpiry, kb.expiryRaw = true, v
		t := bytes.TrimSpace(v)
		ok = ok && (t[0] == '"' || string(t) == "null")
	}
	if generic {
		if v, present := fields["actorType"]; present {
			kb.hasActorType = json.Unmarshal(v, &kb.actorType) == nil
		}
		if v, present := fields["actorTypeId"]; present {
			var n float64
			kb.hasActorIDKey = json.Unmarshal(v, &n) == nil && n == float64(int64(n))
			kb.actorTypeID = int64(n)
		}
		if v, present := fields["roles"]; present {
			kb.hasRoles = json.Unmarshal(v, &kb.roles) == nil && len(kb.roles) > 0
			for _, role := range kb.roles {
				kb.hasRoles = kb.hasRoles && role != ""
			}
		}
		switch kb.actorType {
		case "user", "application", "device":
		default:
			ok = false
		}
		ok = ok && kb.hasActorType && kb.hasActorIDKey && kb.hasRoles
	}
	if !ok {
		writeEmpty(w, http.StatusBadRequest)
		return kb, false
	}
	return kb, true
}

// expiry parses the expiryDate of a body; ok is false for a string Date
// cannot read.
func (kb keyBody) expiry() (ms int64, set, ok bool) {
	if !kb.hasExpiry {
		return 0, false, true
	}
	ms, isNull, ok := parseDateValue(kb.expiryRaw)
	return ms, ok && !isNull, ok
}

func (s *Sim) createKeyRoute(w http.ResponseWriter, r *http.Request, path string) {
	if r.Method != http.MethodPost {
		writeEmpty(w, http.StatusNotFound)
		return
	}
	seg := strings.Split(strings.Trim(path, "/"), "/")
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.authenticate(s.st, bearer(r, nil))
	switch {
	case len(seg) == 3 && seg[0] == "api-key" && seg[1] == "user" && seg[2] == "full":
		s.createUserKey(w, r, c)
	case len(seg) == 4 && seg[0] == "api-key" && seg[1] == "application" && seg[3] == "provisioning":
		s.createTargetKey(w, r, c, seg[2], fleetKeyTarget)
	case len(seg) == 4 && seg[0] == "api-key" && seg[1] == "device" && seg[3] == "device-key":
		s.createTargetKey(w, r, c, seg[2], deviceKeyTarget)
	case len(seg) == 2 && seg[0] == "api-key" && (seg[1] == "v1" || seg[1] == "v2"):
		s.createGenericKey(w, r, c, seg[1] == "v2")
	case len(seg) == 3 && seg[0] == "application" && seg[2] == "generate-api-key":
		s.createTargetKey(w, r, c, seg[1], legacyKeyTarget)
	default:
		writeEmpty(w, http.StatusNotFound)
	}
}

// createUserKey is POST /api-key/user/full: session JWTs only (API keys lack
// auth.create_token), and only freshly signed-in ones.
func (s *Sim) createUserKey(w http.ResponseWriter, r *http.Request, c *caller) {
	if c.kind != callerSession {
		writeEmpty(w, http.StatusUnauthorized)
		return
	}
	kb, ok := parseKeyBody(w, r, false)
	if !ok {
		return
	}
	if kb.name == nil || *kb.name == "" {
		writeEmpty(w, http.StatusBadRequest)
		return
	}
	s.issue(w, c, c.user.actor, roleNamedUserKey, kb, true)
}

// keyTarget describes the endpoints that create a key for a fleet or device
// named in the path.
type keyTarget struct {
	what    string // "Application" or "Device", for the id error
	role    string
	allowed func(c *caller) bool
	// find resolves the id to the actor the key belongs to, or to the
	// status of the answer (see writeTargetError).
	find func(s *Sim, c *caller, id int64) (actor int64, status int)
}

var (
	fleetKeyTarget = keyTarget{
		what: "Application", role: roleProvisioningKey,
		allowed: (*caller).isUser,
		find:    (*Sim).fleetActor,
	}
	deviceKeyTarget = keyTarget{
		what: "Device", role: roleDeviceKey,
		allowed: func(c *caller) bool { return c.kind != callerAnonymous },
		find:    (*Sim).deviceActor,
	}
	// The deprecated /application/:id/generate-api-key makes an (unnamed
	// by default) user key; the fleet only has to be manageable.
	legacyKeyTarget = keyTarget{
		what: "Application", role: roleUserKey,
		allowed: func(c *caller) bool { return c.kind == callerSession },
		find: func(s *Sim, c *caller, id int64) (int64, int) {
			if _, status := s.fleetActor(c, id); status != 0 {
				return 0, status
			}
			return c.user.actor, 0
		},
	}
)

// createTargetKey is POST /api-key/application/:id/provisioning,
// /api-key/device/:id/device-key and /application/:id/generate-api-key.
func (s *Sim) createTargetKey(w http.ResponseWriter, r *http.Request, c *caller, idText string, t keyTarget) {
	if !t.allowed(c) {
		writeEmpty(w, http.StatusUnauthorized)
		return
	}
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil {
		writeText(w, http.StatusBadRequest, t.what+" id must be a number")
		return
	}
	kb, ok := parseKeyBody(w, r, false)
	if !ok {
		return
	}
	actor, status := t.find(s, c, id)
	if status != 0 {
		writeTargetError(w, status)
		return
	}
	s.issue(w, c, actor, t.role, kb, false)
}

// createGenericKey is POST /api-key/v1 and /api-key/v2 (v2 insists on an
// expiryDate property, null allowed).
func (s *Sim) createGenericKey(w http.ResponseWriter, r *http.Request, c *caller, v2 bool) {
	if !c.isUser() {
		writeEmpty(w, http.StatusUnauthorized)
		return
	}
	kb, ok := parseKeyBody(w, r, true)
	if !ok {
		return
	}
	if v2 && !kb.hasExpiry {
		writeJSONString(w, http.StatusBadRequest, msgBadExpiry)
		return
	}
	if len(kb.roles) > 1 {
		writeJSONString(w, http.StatusBadRequest, "API Keys currently only support a single role")
		return
	}
	role := kb.roles[0]
	if strings.HasPrefix(role, "named-") && (kb.name == nil || *kb.name == "") {
		writeJSONString(w, http.StatusBadRequest, "API keys with the '"+role+"' role require a name")
		return
	}
	switch kb.actorType {
	case "user":
		if role != roleNamedUserKey && role != roleUserKey || kb.actorTypeID != c.user.id {
			writeEmpty(w, http.StatusForbidden)
			return
		}
		if c.kind != callerSession {
			writeEmpty(w, http.StatusUnauthorized)
			return
		}
		s.issue(w, c, c.user.actor, role, kb, role == roleNamedUserKey)
	case "application":
		s.issueFor(w, c, kb, role, roleProvisioningKey, s.fleetActor)
	default:
		s.issueFor(w, c, kb, role, roleDeviceKey, s.deviceActor)
	}
}

// writeTargetError answers for a fleet or device that cannot be used: an
// unknown one fails inside open-balena's handler (500, Express's text), a
// visible one the caller may not manage is a 403.
func writeTargetError(w http.ResponseWriter, status int) {
	if status == http.StatusInternalServerError {
		writeText(w, status, "Internal Server Error")
		return
	}
	writeEmpty(w, status)
}

// issueFor creates a key of the generic endpoints for a fleet or device,
// whose role must be the one that kind of actor takes.
func (s *Sim) issueFor(w http.ResponseWriter, c *caller, kb keyBody, role, want string, find func(*caller, int64) (int64, int)) {
	actor, status := find(c, kb.actorTypeID)
	if status == 0 && role != want {
		status = http.StatusForbidden
	}
	if status != 0 {
		writeTargetError(w, status)
		return
	}
	s.issue(w, c, actor, role, kb, false)
}

// fleetActor is the actor of a fleet the caller manages.
func (s *Sim) fleetActor(c *caller, id int64) (int64, int) {
	app, ok := rowOf(s.st.apps, id)
	if !ok || !s.schema.resources["application"].visible(c, s.st, int32(id-1)) {
		return 0, http.StatusInternalServerError
	}
	if c.grants == nil || !c.grants.fleets[id] {
		return 0, http.StatusForbidden
	}
	return app.actor, 0
}

// deviceActor is the actor of a device the caller can see.
func (s *Sim) deviceActor(c *caller, id int64) (int64, int) {
	dev, ok := rowOf(s.st.devices, id)
	if !ok || !s.schema.resources["device"].visible(c, s.st, int32(id-1)) {
		return 0, http.StatusInternalServerError
	}
	return dev.actor, 0
}

// issue runs the checks shared by every creation, in open-balena's order,
// and stores the key.
func (s *Sim) issue(w http.ResponseWriter, c *caller, actor int64, role string, kb keyBody, needFresh bool) {
	expiry, hasExpiry, ok := kb.expiry()
	if !ok {
		writeJSONString(w, http.StatusBadRequest, msgBadExpiry)
		return
	}
	now := s.now()
	if needFresh && now.UnixMilli()-c.claims.AuthTime > FreshAuthWindow.Milliseconds() {
		writeJSONString(w, http.StatusUnauthorized, msgNotFresh)
		return
	}
	if kb.name != nil && utf8.RuneCountInString(*kb.name) > 50 {
		writeJSONString(w, http.StatusBadRequest, nameTooLong)
		return
	}
	if kb.desc != nil && utf8.RuneCountInString(*kb.desc) > 150 {
		writeJSONString(w, http.StatusBadRequest, descTooLong)
		return
	}
	secret := ""
	if kb.apiKey != nil && *kb.apiKey != "" {
		secret = *kb.apiKey
		if _, taken := s.st.keyBySecret[secret]; taken {
			writeJSONString(w, http.StatusConflict, "\"key\" must be unique.")
			return
		}
	} else {
		secret = randomKey()
	}
	k := &apiKey{
		actor: actor, key: secret, created: now.UnixMilli(),
		expiry: expiry, hasExpiry: hasExpiry, role: role,
		name: deref(kb.name), hasName: kb.name != nil,
		desc: deref(kb.desc), hasDesc: kb.desc != nil,
	}
	s.st.addKey(k)
	writeJSON(w, http.StatusOK, secret)
}

const keyAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// randomKey is randomstring.generate(): 32 characters of [0-9A-Za-z].
func randomKey() string {
	b := make([]byte, 32)
	n := big.NewInt(int64(len(keyAlphabet)))
	for i := range b {
		x, err := rand.Int(rand.Reader, n)
		if err != nil {
			panic(err)
		}
		b[i] = keyAlphabet[x.Int64()]
	}
	return string(b)
}
