package apiclient

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// keyFields is what is read of a key. Never "key": the secret is shown
// once, by the create call, even where a server would return it again.
// The owner comes expanded (ownerExpand) or, where actor cannot be read,
// as the bare actor id (keyFieldsAndActor).
var (
	keyFields         = []string{"id", "name", "description", "created_at", "expiry_date"}
	keyFieldsAndActor = []string{"id", "name", "description", "created_at", "expiry_date", "is_of__actor"}
)

// keyRow is an api_key row as balena sends it, its actor a bare reference
// (see actorRef). A null name or description decodes as "".
type keyRow struct {
	keyColumns
	Actor actorRef `json:"is_of__actor"`
}

type keyColumns struct {
	ID          int64      `json:"id"`
	Name        string     `json:"name"`
	Description string     `json:"description"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiryDate  *time.Time `json:"expiry_date"`
}

// expandedKeyRow is a row of a list with ownerExpand: its actor comes as
// balena writes every expanded navigation, an array, read straight into
// actorRows (a custom decoder would parse the owners, half of a page's
// JSON, a second time).
type expandedKeyRow struct {
	keyColumns
	Actor []actorRow `json:"is_of__actor"`
}

func (f keyColumns) key(actorID int64) APIKey {
	return APIKey{
		ID: f.ID, Name: f.Name, Description: f.Description, CreatedAt: f.CreatedAt, ExpiryDate: f.ExpiryDate,
		Owner: Owner{ActorID: actorID},
	}
}

func (r keyRow) key() APIKey { return r.keyColumns.key(r.Actor.ID) }

func (r expandedKeyRow) key() APIKey {
	if len(r.Actor) == 0 {
		return r.keyColumns.key(0)
	}
	k := r.keyColumns.key(r.Actor[0].ID)
	k.Kind, k.Owner = r.Actor[0].owner()
	return k
}

// ListKeys returns one page of the keys q selects and how many it selects
// in all. The page and the count are asked for at the same time.
func (s *Session) ListKeys(ctx context.Context, q KeyQuery) (KeyPage, error) {
	return s.listKeys(ctx, "list keys", q, true)
}

// Keys returns the keys q selects (one page of them when q.Top is set)
// without counting them: one call where the caller may read actor, for a
// page that already knows, or does not need, the total.
func (s *Session) Keys(ctx context.Context, q KeyQuery) ([]APIKey, error) {
	page, err := s.listKeys(ctx, "list keys", q, false)
	return page.Keys, err
}

func (s *Session) listKeys(ctx context.Context, op string, q KeyQuery, count bool) (KeyPage, error) {
	if err := q.validate(op); err != nil {
		return KeyPage{}, err
	}
	ctx, cancel := s.c.withTimeout(ctx)
	defer cancel()

	if s.c.actorAccess.Load() != actorHidden {
		o := q.page(q.lambdaFilter())
		o.Select, o.Expand = keyFields, ownerExpand
		page, err := s.listAndCount(ctx, op, q, o, count)
		if !s.actorHidden(ctx, err) {
			return page, err
		}
	}

	ax, err := s.resolve(ctx, q)
	if err != nil {
		return KeyPage{}, err
	}
	filter, none := q.actorFilter(ax)
	if none {
		return KeyPage{Keys: []APIKey{}}, nil
	}
	o := q.page(filter)
	o.Select = keyFieldsAndActor
	page, err := s.listAndCount(ctx, op, q, o, count)
	if err != nil {
		return KeyPage{}, err
	}
	if err := s.label(ctx, page.Keys, ax); err != nil {
		return KeyPage{}, err
	}
	return page, nil
}

// CountKeys returns how many keys q selects, asking balena only their
// count (one /$count call where the caller may read actor): Top, Skip and
// Sort are ignored.
func (s *Session) CountKeys(ctx context.Context, q KeyQuery) (int, error) {
	const op = "count keys"
	if err := q.validate(op); err != nil {
		return 0, err
	}
	ctx, cancel := s.c.withTimeout(ctx)
	defer cancel()
	if s.c.actorAccess.Load() != actorHidden {
		n, err := s.count(ctx, op, q.lambdaFilter())
		if !s.actorHidden(ctx, err) {
			return n, err
		}
	}
	ax, err := s.resolve(ctx, q)
	if err != nil {
		return 0, err
	}
	filter, none := q.actorFilter(ax)
	if none {
		return 0, nil
	}
	return s.count(ctx, op, filter)
}

// listAndCount reads q's page o and, if count, the total of its filter, in
// parallel.
func (s *Session) listAndCount(ctx context.Context, op string, q KeyQuery, o odata, count bool) (KeyPage, error) {
	if q.Sort == SortName && q.Desc {
		return s.namedFirst(ctx, op, o)
	}
	if !count {
		keys, err := s.keys(ctx, op, "/v7/api_key", o)
		return KeyPage{Keys: keys}, err
	}
	var page KeyPage
	err := parallel(ctx,
		func(ctx context.Context) error {
			var err error
			page.Keys, err = s.keys(ctx, op, "/v7/api_key", o)
			return err
		},
		func(ctx context.Context) (err error) {
			page.Total, err = s.count(ctx, op, o.Filter)
			return err
		})
	if err != nil {
		return KeyPage{}, err
	}
	return page, nil
}

// namedFirst reads page o of keys by name Z–A with the unnamed keys last,
// where A–Z puts them too. pinejs orders nulls first when descending and
// cannot order by an expression such as "name eq null", so the named and
// the unnamed keys are two queries: the named keys' page and both counts
// in one round trip, and the unnamed keys (by id) only on the pages past
// the named ones.
func (s *Session) namedFirst(ctx context.Context, op string, o odata) (KeyPage, error) {
	named := o
	named.Filter = and(o.Filter, "name ne null")
	var page KeyPage
	var namedTotal int
	err := parallel(ctx,
		func(ctx context.Context) error {
			var err error
			page.Keys, err = s.keys(ctx, op, "/v7/api_key", named)
			return err
		},
		func(ctx context.Context) (err error) {
			page.Total, err = s.count(ctx, op, o.Filter)
			return err
		},
		func(ctx context.Context) (err error) {
			namedTotal, err = s.count(ctx, op, named.Filter)
			return err
		})
	if err != nil {
		return KeyPage{}, err
	}
	if (o.Top > 0 && len(page.Keys) >= o.Top) || namedTotal >= page.Total {
		return page, nil
	}
	unnamed := o
	unnamed.Filter = and(o.Filter, "name eq null")
	unnamed.OrderBy = []string{"id desc"}
	unnamed.Skip = max(0, o.Skip-namedTotal)
	if o.Top > 0 {
		unnamed.Top = o.Top - len(page.Keys)
	}
	rest, err := s.keys(ctx, op, "/v7/api_key", unnamed)
	if err != nil {
		return KeyPage{}, err
	}
	page.Keys = append(page.Keys, rest...)
	return page, nil
}

// count is the number of keys filter matches.
func (s *Session) count(ctx context.Context, op, filter string) (int, error) {
	var count struct {
		D *int `json:"d"`
	}
	if err := s.get(ctx, op, "/v7/api_key/$count", odata{Filter: filter}.encode(), &count); err != nil {
		return 0, err
	}
	if count.D == nil {
		return 0, upstreamError(op, "response without d", nil)
	}
	return *count.D, nil
}

func (s *Session) keys(ctx context.Context, op, path string, o odata) ([]APIKey, error) {
	if o.Expand == ownerExpand {
		return decodeKeys(ctx, s, op, path, o, seedExpandedRows(o.Top))
	}
	return decodeKeys[keyRow](ctx, s, op, path, o, nil)
}

func decodeKeys[R interface{ key() APIKey }](ctx context.Context, s *Session, op, path string, o odata, seed []R) ([]APIKey, error) {
	rows, err := getRowsInto(ctx, s, op, path, o, seed)
	if err != nil {
		return nil, err
	}
	keys := make([]APIKey, len(rows))
	for i, r := range rows {
		keys[i] = r.key()
	}
	return keys, nil
}

// GetKey returns one key; CodeNotFound when it does not exist or the
// caller cannot see it (balena does not tell the two apart).
func (s *Session) GetKey(ctx context.Context, id int64) (APIKey, error) {
	const op = "get key"
	ctx, cancel := s.c.withTimeout(ctx)
	defer cancel()
	keys, err := s.keysWithOwners(ctx, op, keyPath(id), "")
	return firstKey(op, keys, err)
}

// KeysByID returns the keys among ids that the caller can see, with their
// owners, in one call; ids of keys that are gone or hidden are left out.
// At most MaxReadIDs ids; none makes no call.
func (s *Session) KeysByID(ctx context.Context, ids []int64) ([]APIKey, error) {
	const op = "get keys"
	if len(ids) == 0 {
		return nil, nil
	}
	if len(ids) > MaxReadIDs {
		return nil, invalidError(op, fmt.Sprintf("at most %d ids per call", MaxReadIDs))
	}
	ctx, cancel := s.c.withTimeout(ctx)
	defer cancel()
	return s.keysWithOwners(ctx, op, "/v7/api_key", in("id", ids))
}

// keysWithOwners reads the keys at path that filter selects, with their
// owners, in whichever way this deployment lets the caller learn them.
func (s *Session) keysWithOwners(ctx context.Context, op, path, filter string) ([]APIKey, error) {
	if s.c.actorAccess.Load() != actorHidden {
		keys, err := s.keys(ctx, op, path, odata{Select: keyFields, Expand: ownerExpand, Filter: filter})
		if !s.actorHidden(ctx, err) {
			return keys, err
		}
	}
	keys, err := s.keys(ctx, op, path, odata{Select: keyFieldsAndActor, Filter: filter})
	if err != nil || len(keys) == 0 {
		return keys, err
	}
	me, err := s.identity(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.label(ctx, keys, &actorSet{me: me}); err != nil {
		return nil, err
	}
	return keys, nil
}

// KeyExpiries reads back what balena holds of ids after a change: the
// expiry (nil: never) of each key that still exists and that the caller
// can see. An id that is not in the map is gone, or hidden. One call for
// at most MaxReadIDs ids; none makes no call.
func (s *Session) KeyExpiries(ctx context.Context, ids []int64) (map[int64]*time.Time, error) {
	const op = "check keys"
	if len(ids) == 0 {
		return map[int64]*time.Time{}, nil
	}
	if len(ids) > MaxReadIDs {
		return nil, invalidError(op, fmt.Sprintf("at most %d ids per call", MaxReadIDs))
	}
	rows, err := getRows[keyColumns](ctx, s, op, "/v7/api_key", odata{Select: []string{"id", "expiry_date"}, Filter: in("id", ids)})
	if err != nil {
		return nil, err
	}
	held := make(map[int64]*time.Time, len(rows))
	for _, r := range rows {
		held[r.ID] = r.ExpiryDate
	}
	return held, nil
}

func firstKey(op string, keys []APIKey, err error) (APIKey, error) {
	if err != nil {
		return APIKey{}, err
	}
	if len(keys) == 0 {
		return APIKey{}, &Error{Op: op, Code: CodeNotFound}
	}
	return keys[0], nil
}

// MaxReadIDs and MaxWriteIDs bound the ids that one call names in
// $filter=id in (...): URLs stay short (200 ids of 8 digits are under
// 2 KB of filter), and one write touches at most 100 rows.
const (
	MaxReadIDs  = 200
	MaxWriteIDs = 100
)

// UpdateKey changes a key's name, description or expiry. An empty Name or
// Description is stored as null. Like balena, it succeeds without effect
// for a key the caller cannot see.
func (s *Session) UpdateKey(ctx context.Context, id int64, u KeyUpdate) error {
	const op = "update key"
	body, err := updateBody(op, u)
	if err != nil {
		return err
	}
	_, err = s.c.do(ctx, request{op: op, method: http.MethodPatch, path: keyPath(id), body: body, token: s.token})
	return err
}

// UpdateKeys applies u to every key of ids in one PATCH of the collection
// filtered by id. Like balena, it succeeds without saying which rows
// changed: balena skips, silently, keys the caller may not change or
// cannot see, so read them back (KeyExpiries) to know. At most
// MaxWriteIDs ids; none makes no call. It is never retried.
func (s *Session) UpdateKeys(ctx context.Context, ids []int64, u KeyUpdate) error {
	const op = "update keys"
	body, err := updateBody(op, u)
	if err != nil {
		return err
	}
	return s.writeKeys(ctx, op, http.MethodPatch, ids, body)
}

// updateBody is the PATCH body of u.
func updateBody(op string, u KeyUpdate) (map[string]any, error) {
	body := map[string]any{}
	if u.Name != nil {
		body["name"] = nullable(*u.Name)
	}
	if u.Description != nil {
		body["description"] = nullable(*u.Description)
	}
	switch {
	case u.ClearExpiry && u.ExpiryDate != nil:
		return nil, invalidError(op, "both ExpiryDate and ClearExpiry set")
	case u.ClearExpiry:
		body["expiry_date"] = nil
	case u.ExpiryDate != nil:
		body["expiry_date"] = u.ExpiryDate.UTC().Format(isoMillis)
	}
	if len(body) == 0 {
		return nil, invalidError(op, "nothing to update")
	}
	return body, nil
}

// DeleteKey revokes a key. Like balena, it succeeds for a key that is
// already gone or that the caller cannot see.
func (s *Session) DeleteKey(ctx context.Context, id int64) error {
	_, err := s.c.do(ctx, request{op: "delete key", method: http.MethodDelete, path: keyPath(id), token: s.token})
	return err
}

// DeleteKeys revokes every key of ids in one DELETE of the collection
// filtered by id. Like UpdateKeys, it does not learn which keys went: read
// them back. At most MaxWriteIDs ids; none makes no call.
func (s *Session) DeleteKeys(ctx context.Context, ids []int64) error {
	return s.writeKeys(ctx, "delete keys", http.MethodDelete, ids, nil)
}

// writeKeys sends one PATCH or DELETE to the keys of ids. Without ids it
// sends nothing: the collection unfiltered is every key the caller can
// change.
func (s *Session) writeKeys(ctx context.Context, op, method string, ids []int64, body any) error {
	if len(ids) == 0 {
		return nil
	}
	if len(ids) > MaxWriteIDs {
		return invalidError(op, fmt.Sprintf("at most %d ids per call", MaxWriteIDs))
	}
	_, err := s.c.do(ctx, request{op: op, method: method, path: "/v7/api_key",
		query: odata{Filter: in("id", ids)}.encode(), body: body, token: s.token})
	return err
}

// CreateUserKey creates a named key for the signed-in user and returns its
// secret, which balena never shows again. It needs a session token signed
// in less than 20 minutes ago (else CodeFreshAuth: see RefreshToken);
// API keys may not create user keys (CodeUnauthorized).
func (s *Session) CreateUserKey(ctx context.Context, k NewKey) (string, error) {
	const op = "create user key"
	if k.Name == "" {
		return "", invalidError(op, "a user key needs a name")
	}
	return s.create(ctx, op, "/api-key/user/full", newKeyBody(k))
}

// CreateProvisioningKey creates a key that registers devices into a fleet,
// the way balena's SDK does.
func (s *Session) CreateProvisioningKey(ctx context.Context, fleetID int64, k NewKey) (string, error) {
	body := newKeyBody(k)
	body["actorType"] = "application"
	body["actorTypeId"] = fleetID
	body["roles"] = []string{"provisioning-api-key"}
	return s.create(ctx, "create provisioning key", "/api-key/v2/", body)
}

// CreateDeviceKey creates a key for one device.
func (s *Session) CreateDeviceKey(ctx context.Context, deviceID int64, k NewKey) (string, error) {
	return s.create(ctx, "create device key", fmt.Sprintf("/api-key/device/%d/device-key", deviceID), newKeyBody(k))
}

// NewestKeyID returns the id of the newest key of an actor with this name
// ("" for a key without one), 0 when the caller sees none. balena answers
// a creation with the secret alone; this is how the key just made is
// found afterwards.
func (s *Session) NewestKeyID(ctx context.Context, actorID int64, name string) (int64, error) {
	const op = "find new key"
	named := "name eq null"
	if name != "" {
		named = "name eq " + quote(name)
	}
	rows, err := getRows[struct {
		ID int64 `json:"id"`
	}](ctx, s, op, "/v7/api_key", odata{
		Select: []string{"id"}, Filter: and("is_of__actor eq "+num(actorID), named),
		OrderBy: []string{"id desc"}, Top: 1,
	})
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	return rows[0].ID, nil
}

func (s *Session) create(ctx context.Context, op, path string, fields map[string]any) (string, error) {
	body, err := s.c.do(ctx, request{op: op, method: http.MethodPost, path: path, body: fields, token: s.token})
	if err != nil {
		return "", err
	}
	return decodeToken(op, body)
}

// newKeyBody is the body every create endpoint takes. expiryDate is always
// sent, null for never: /api-key/v2 insists on it.
func newKeyBody(k NewKey) map[string]any {
	body := map[string]any{
		"name":        nullable(k.Name),
		"description": nullable(k.Description),
		"expiryDate":  nil,
	}
	if k.ExpiryDate != nil {
		body["expiryDate"] = k.ExpiryDate.UTC().Format(isoMillis)
	}
	return body
}

// nullable maps "" to null, which is how balena stores "no name".
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// keyIDPage is how many ids one call of KeyIDs reads: a few bytes each.
const keyIDPage = 10_000

// KeyIDs returns the ids of every key the caller can see, and nothing
// else of them: the audit page shows the events of these keys. Ids only,
// in pages of keyIDPage, so that a large account costs a call or two.
func (s *Session) KeyIDs(ctx context.Context) ([]int64, error) {
	const op = "list key ids"
	ctx, cancel := s.c.withTimeout(ctx)
	defer cancel()
	ids := []int64{}
	for skip := 0; ; skip += keyIDPage {
		rows, err := getRows[struct {
			ID int64 `json:"id"`
		}](ctx, s, op, "/v7/api_key", odata{Select: []string{"id"}, OrderBy: []string{"id asc"}, Top: keyIDPage, Skip: skip})
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			ids = append(ids, r.ID)
		}
		if len(rows) < keyIDPage {
			return ids, nil
		}
	}
}
