package balenasim

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"slices"
	"strconv"
	"unicode/utf8"
)

// serveOData answers /v7/<resource>… in pinejs's order: parse (400
// "Malformed url"), authenticate and check the resource (401), translate
// (500), then run with the caller's row permissions ANDed in.
func (s *Sim) serveOData(w http.ResponseWriter, r *http.Request, version, rest, rawURL string) {
	p, ok := parseODataURL(rest)
	if !ok {
		writeJSONString(w, http.StatusBadRequest, "Malformed url: '"+rawURL+"'")
		return
	}
	switch r.Method {
	case http.MethodGet:
		s.mu.RLock()
		defer s.mu.RUnlock()
	case http.MethodPatch, http.MethodDelete:
		s.mu.Lock()
		defer s.mu.Unlock()
	default:
		// POST and PUT: nothing in this model may be created or replaced
		// through OData by a user (keys come from the custom endpoints).
		writeEmpty(w, http.StatusUnauthorized)
		return
	}
	st := s.st
	c := s.authenticate(st, bearer(r, p.opts.params))
	res, ok := s.schema.resources[p.resource]
	if !ok || c.kind == callerAnonymous || !res.readable(c) {
		writeEmpty(w, http.StatusUnauthorized)
		return
	}
	if r.Method != http.MethodGet {
		s.mutate(w, r, st, c, res, &p)
		return
	}
	q, err := compileQuery(c, res, &p.opts, p.opts.aliases)
	if err != nil {
		writeODataError(w, err)
		return
	}
	candidates, err := candidatesOf(st, res, &p)
	if err != nil {
		writeODataError(w, err)
		return
	}
	ec := &evalCtx{st: st, c: c, now: s.now().UnixMilli()}
	buf := make([]byte, 0, 4096)
	buf = append(buf, `{"d":`...)
	if p.count {
		buf = strconv.AppendInt(buf, int64(q.count(ec, candidates)), 10)
	} else {
		buf = q.render(ec, buf, q.rows(ec, candidates), version == "v6")
	}
	buf = append(buf, '}')
	if ec.failed {
		writeEmpty(w, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(buf)
}

func writeODataError(w http.ResponseWriter, err error) {
	var oe *odataError
	if errors.As(err, &oe) {
		writeEmpty(w, oe.status)
		return
	}
	writeEmpty(w, http.StatusInternalServerError)
}

// candidatesOf yields the rows a URL addresses: one row for a key, the
// rows matching a named key such as device(uuid='…'), else all of them.
func candidatesOf(st *store, res *resource, p *odataPath) (func(fn func(int32) bool), error) {
	if !p.hasKey {
		if res.name == "api_key" {
			if ids, ok := fieldConstraint(p.opts.filter, "id"); ok {
				return rowsOfIDs(st, res, ids), nil
			}
			if actors, ok := fieldConstraint(p.opts.filter, "is_of__actor"); ok {
				return keysOfActors(st, actors), nil
			}
		}
		return allRows(st, res), nil
	}
	if p.key != nil {
		id, ok := integerKey(p.key, p.opts.aliases)
		if !ok {
			return nil, errTranslate
		}
		return func(fn func(int32) bool) {
			if row, ok := res.byID(st, id); ok {
				fn(row)
			}
		}, nil
	}
	type cond struct {
		f *field
		v value
	}
	var conds []cond
	for name, a := range p.namedKey {
		f, ok := res.byName[name]
		if !ok {
			return nil, errTranslate
		}
		if a.kind == aParam {
			if a = p.opts.aliases[a.s]; a == nil {
				return nil, errTranslate
			}
		}
		var v value
		switch {
		case a.kind == aText && f.typ == tText:
			v = vText(a.s)
		case a.kind == aNum && f.typ == tInt && a.num == math.Trunc(a.num):
			v = vInt(int64(a.num))
		default:
			return nil, errTranslate
		}
		conds = append(conds, cond{f, v})
	}
	return func(fn func(int32) bool) {
		n := res.size(st)
	rows:
		for i := 0; i < n; i++ {
			for _, c := range conds {
				if got := c.f.get(st, int32(i)); got.t == tNull || compareValues(got, c.v) != 0 {
					continue rows
				}
			}
			if !fn(int32(i)) {
				return
			}
		}
	}, nil
}

func integerKey(a *ast, aliases map[string]*ast) (int64, bool) {
	if a.kind == aParam {
		if a = aliases[a.s]; a == nil {
			return 0, false
		}
	}
	if a.kind != aNum || a.num != math.Trunc(a.num) || math.Abs(a.num) > 1<<53 {
		return 0, false
	}
	return int64(a.num), true
}

// mutate handles PATCH and DELETE, which only session users may do and only
// on api_key. Rows the caller cannot see are silently left alone, and the
// answer is 200 with an empty body however many rows changed.
func (s *Sim) mutate(w http.ResponseWriter, r *http.Request, st *store, c *caller, res *resource, p *odataPath) {
	if res != s.schema.apiKey || c.kind != callerSession {
		writeEmpty(w, http.StatusUnauthorized)
		return
	}
	var patch keyPatch
	if r.Method == http.MethodPatch {
		body, err := readBody(r)
		if errors.Is(err, errTooLarge) {
			writeEmpty(w, http.StatusRequestEntityTooLarge)
			return
		}
		var status int
		var msg string
		patch, status, msg = parseKeyPatch(body)
		if status != 0 {
			if msg != "" {
				writeJSONString(w, status, msg)
			} else {
				writeEmpty(w, status)
			}
			return
		}
	}
	q, err := compileQuery(c, res, &queryOpts{filter: p.opts.filter}, p.opts.aliases)
	if err != nil {
		writeODataError(w, err)
		return
	}
	candidates, err := candidatesOf(st, res, p)
	if err != nil {
		writeODataError(w, err)
		return
	}
	ec := &evalCtx{st: st, c: c, now: s.now().UnixMilli()}
	var rows []int32
	q.each(ec, candidates, func(row int32) bool { rows = append(rows, row); return true })
	if ec.failed {
		writeEmpty(w, http.StatusInternalServerError)
		return
	}
	if r.Method == http.MethodDelete {
		ids := map[int64]bool{}
		for _, row := range rows {
			ids[st.keys[row].id] = true
		}
		st.deleteKeys(ids)
	} else {
		for _, row := range rows {
			patch.apply(st.keys[row])
		}
	}
	w.WriteHeader(http.StatusOK)
}

// keyPatch is a validated PATCH body for api_key.
type keyPatch struct {
	setName, setDesc, setExpiry bool
	name, desc                  *string
	expiry                      *int64
}

func (kp keyPatch) apply(k *apiKey) {
	if kp.setName {
		k.hasName = kp.name != nil
		k.name = deref(kp.name)
	}
	if kp.setDesc {
		k.hasDesc = kp.desc != nil
		k.desc = deref(kp.desc)
	}
	if kp.setExpiry {
		k.hasExpiry = kp.expiry != nil
		if kp.expiry != nil {
			k.expiry = *kp.expiry
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

const (
	nameTooLong = "It is necessary that each api key that has a name, has a name that has a Length (Type) that is less than or equal to 50."
	descTooLong = "It is necessary that each api key that has a description, has a description that has a Length (Type) that is less than or equal to 150."
)

// parseKeyPatch validates a PATCH body; a non-zero status is the answer
// (with msg as a JSON string body when set).
func parseKeyPatch(body []byte) (keyPatch, int, string) {
	var kp keyPatch
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		if len(bytes.TrimSpace(body)) == 0 {
			return kp, http.StatusBadRequest, "No fields to update"
		}
		return kp, http.StatusBadRequest, ""
	}
	if len(fields) == 0 {
		return kp, http.StatusBadRequest, "No fields to update"
	}
	known := 0
	for k, raw := range fields {
		switch k {
		case "name", "description":
			s, ok := nullableString(raw)
			if !ok {
				return kp, http.StatusBadRequest, ""
			}
			if k == "name" {
				if s != nil && utf8.RuneCountInString(*s) > 50 {
					return kp, http.StatusBadRequest, nameTooLong
				}
				kp.setName, kp.name = true, s
			} else {
				if s != nil && utf8.RuneCountInString(*s) > 150 {
					return kp, http.StatusBadRequest, descTooLong
				}
				kp.setDesc, kp.desc = true, s
			}
			known++
		case "expiry_date":
			ms, isNull, ok := parseDateValue(raw)
			if !ok {
				return kp, http.StatusBadRequest, ""
			}
			kp.setExpiry = true
			if !isNull {
				kp.expiry = &ms
			}
			known++
		}
	}
	if known == 0 {
		return kp, http.StatusInternalServerError, ""
	}
	return kp, 0, ""
}

func nullableString(raw json.RawMessage) (*string, bool) {
	if string(bytes.TrimSpace(raw)) == "null" {
		return nil, true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return nil, false
	}
	return &s, true
}

// parseDateValue reads a JSON date as pinejs does: null, a string Date can
// parse, or epoch milliseconds.
func parseDateValue(raw json.RawMessage) (ms int64, isNull, ok bool) {
	t := bytes.TrimSpace(raw)
	if string(t) == "null" {
		return 0, true, true
	}
	var n float64
	if json.Unmarshal(t, &n) == nil {
		if math.IsNaN(n) || math.Abs(n) > 8.64e15 {
			return 0, false, false
		}
		return int64(n), false, true
	}
	var s string
	if json.Unmarshal(t, &s) != nil {
		return 0, false, false
	}
	if n, err := strconv.ParseFloat(s, 64); err == nil && n != 0 && math.Abs(n) <= 8.64e15 {
		return int64(n), false, true
	}
	if d, ok := parseJSDate(s); ok {
		return d.UnixMilli(), false, true
	}
	return 0, false, false
}

// fieldConstraint finds "field eq N" or "field in (…)" among the top-level
// conjuncts of a filter, so that the query can start from an index (the
// keys by id, or by actor) instead of scanning every key, as a database
// would. The whole filter still runs on each candidate.
func fieldConstraint(f *ast, field string) ([]int64, bool) {
	if f == nil {
		return nil, false
	}
	isField := func(a *ast) bool {
		return a.kind == aPath && a.path.name == field && a.path.next == nil &&
			a.path.lambda == nil && !a.path.count && a.path.call == nil
	}
	number := func(a *ast) (int64, bool) {
		return integerKey(a, nil)
	}
	switch {
	case f.kind == aBinary && f.op == "and":
		if ids, ok := fieldConstraint(f.args[0], field); ok {
			return ids, true
		}
		return fieldConstraint(f.args[1], field)
	case f.kind == aBinary && f.op == "eq" && isField(f.args[0]):
		if n, ok := number(f.args[1]); ok {
			return []int64{n}, true
		}
	case f.kind == aIn && isField(f.args[0]):
		ids := make([]int64, 0, len(f.args)-1)
		for _, item := range f.args[1:] {
			n, ok := number(item)
			if !ok {
				return nil, false
			}
			ids = append(ids, n)
		}
		return ids, true
	}
	return nil, false
}

// rowsOfIDs yields the rows of the given ids that exist, in row (id) order.
func rowsOfIDs(st *store, res *resource, ids []int64) func(fn func(int32) bool) {
	return func(fn func(int32) bool) {
		var rows []int32
		for _, id := range ids {
			if row, ok := res.byID(st, id); ok && !slices.Contains(rows, row) {
				rows = append(rows, row)
			}
		}
		slices.Sort(rows)
		for _, row := range rows {
			if !fn(row) {
				return
			}
		}
	}
}

// keysOfActors yields the keys of the given actors in row (id) order.
func keysOfActors(st *store, actors []int64) func(fn func(int32) bool) {
	return func(fn func(int32) bool) {
		var rows []int32
		seen := map[int64]bool{}
		for _, a := range actors {
			if !seen[a] {
				seen[a] = true
				rows = append(rows, st.keysByActor[a]...)
			}
		}
		slices.Sort(rows)
		for _, row := range rows {
			if !fn(row) {
				return
			}
		}
	}
}
