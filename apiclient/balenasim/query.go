package balenasim

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// A compiled query: the $filter, $orderby, $select, $top/$skip and $expand
// of one resource, ready to run under the store's read lock.
type query struct {
	res    *resource
	filter predicate
	order  []orderKey
	fields []*field // in output order, expanded foreign keys removed
	expand []*expansion
	top    int64
	hasTop bool
	skip   int64
	nslots int
}

type orderKey struct {
	e    expr
	desc bool
}

type expansion struct {
	name  string
	nav   *navigation
	count bool
	sub   *query
}

// compileQuery binds parsed options to res for caller c.
func compileQuery(c *caller, res *resource, o *queryOpts, aliases map[string]*ast) (*query, error) {
	if !res.readable(c) {
		return nil, errUnauthorized
	}
	cp := newCompiler(c, res, aliases)
	q := &query{res: res, top: o.top, hasTop: o.hasTop, skip: o.skip}
	if o.filter != nil {
		f, err := cp.compileFilter(o.filter)
		if err != nil {
			return nil, err
		}
		q.filter = f
	}
	for _, it := range o.orderby {
		e, t, err := cp.compilePath(it.path)
		if err != nil {
			return nil, err
		}
		if t == tDur {
			return nil, errTranslate
		}
		q.order = append(q.order, orderKey{e: e, desc: it.desc})
	}
	expanded := map[string]bool{}
	for _, it := range o.expand {
		nav, ok := res.navs[it.name]
		if !ok || !nav.target.readable(c) {
			return nil, errUnauthorized
		}
		if it.next != nil {
			return nil, errTranslate
		}
		sub, err := compileQuery(c, nav.target, it.opts, aliases)
		if err != nil {
			return nil, err
		}
		q.expand = append(q.expand, &expansion{name: it.name, nav: nav, count: it.count, sub: sub})
		expanded[it.name] = true
	}
	if o.selects == nil {
		for _, f := range res.fields {
			if !expanded[f.name] {
				q.fields = append(q.fields, f)
			}
		}
	} else {
		for _, pe := range o.selects {
			f, ok := res.byName[pe.name]
			if pe.next != nil || pe.count || pe.lambda != nil {
				return nil, errTranslate
			}
			if !ok {
				return nil, errTranslate
			}
			if !expanded[f.name] {
				q.fields = append(q.fields, f)
			}
		}
	}
	q.nslots = cp.nslots
	return q, nil
}

// each calls fn for every candidate row the caller may see and the filter
// accepts, until fn returns false. ec.rows holds the query's slots while fn
// runs, with the row in slot 0.
func (q *query) each(ec *evalCtx, candidates func(fn func(int32) bool), fn func(int32) bool) {
	saved := ec.rows
	ec.rows = make([]int32, q.nslots)
	defer func() { ec.rows = saved }()
	candidates(func(row int32) bool {
		if !q.res.visible(ec.c, ec.st, row) {
			return true
		}
		ec.rows[0] = row
		if q.filter != nil {
			if q.filter.test(ec) != triTrue {
				return true
			}
			ec.rows[0] = row
		}
		return fn(row)
	})
}

// count is /$count: the filter applies, $top, $skip and $orderby do not.
func (q *query) count(ec *evalCtx, candidates func(fn func(int32) bool)) int {
	n := 0
	q.each(ec, candidates, func(int32) bool { n++; return true })
	return n
}

// rows returns the matching rows, sorted and paged. Without $orderby rows
// come in id order and the scan stops once the page is full; with it, a
// bounded heap keeps only the first $skip+$top.
func (q *query) rows(ec *evalCtx, candidates func(fn func(int32) bool)) []int32 {
	limit := int64(-1) // no $top, or one too large to matter
	if q.hasTop && q.top <= math.MaxInt64-q.skip {
		limit = q.skip + q.top
		if limit == 0 {
			return nil
		}
	}
	var out []int32
	switch {
	case len(q.order) == 0:
		q.each(ec, candidates, func(row int32) bool {
			out = append(out, row)
			return limit < 0 || int64(len(out)) < limit
		})
	case limit >= 0 && limit < 1<<16:
		h := newTopK(q.order, int(limit))
		q.each(ec, candidates, func(row int32) bool { h.push(ec, row); return true })
		out = h.sorted()
	default:
		var all []int32
		q.each(ec, candidates, func(row int32) bool { all = append(all, row); return true })
		h := newTopK(q.order, len(all))
		saved := ec.rows
		ec.rows = make([]int32, q.nslots)
		for _, row := range all {
			ec.rows[0] = row
			h.push(ec, row)
		}
		ec.rows = saved
		out = h.sorted()
	}
	if q.skip > 0 {
		if q.skip >= int64(len(out)) {
			return nil
		}
		out = out[q.skip:]
	}
	if q.hasTop && int64(len(out)) > q.top {
		out = out[:q.top]
	}
	return out
}

func allRows(st *store, res *resource) func(fn func(int32) bool) {
	return func(fn func(int32) bool) {
		n := res.size(st)
		for i := 0; i < n; i++ {
			if !fn(int32(i)) {
				return
			}
		}
	}
}

// sortEntry carries a row and its precomputed sort keys.
type sortEntry struct {
	row  int32
	keys []value
}

// lessEntry orders as Postgres does by default: NULLS LAST ascending, NULLS
// FIRST descending; ties fall back to row order, i.e. ascending id.
func lessEntry(order []orderKey, a, b *sortEntry) bool {
	for i, k := range order {
		x, y := a.keys[i], b.keys[i]
		var c int
		switch {
		case x.t == tNull && y.t == tNull:
			c = 0
		case x.t == tNull:
			c = 1
		case y.t == tNull:
			c = -1
		default:
			c = compareValues(x, y)
		}
		if k.desc {
			c = -c
		}
		if c != 0 {
			return c < 0
		}
	}
	return a.row < b.row
}

// topK keeps the first k rows in sort order in a bounded max-heap, so a
// page of 50 out of 20,000 rows costs one key evaluation per row.
type topK struct {
	order   []orderKey
	k       int
	slab    []value
	heap    []sortEntry
	scratch sortEntry
}

func newTopK(order []orderKey, k int) *topK {
	nk := len(order)
	slab := make([]value, (k+1)*nk)
	return &topK{order: order, k: k, slab: slab, heap: make([]sortEntry, 0, k), scratch: sortEntry{keys: slab[k*nk:]}}
}

func (h *topK) less(a, b *sortEntry) bool { return lessEntry(h.order, a, b) }

func (h *topK) down(i int) {
	for {
		l, r, big := 2*i+1, 2*i+2, i
		if l < len(h.heap) && h.less(&h.heap[big], &h.heap[l]) {
			big = l
		}
		if r < len(h.heap) && h.less(&h.heap[big], &h.heap[r]) {
			big = r
		}
		if big == i {
			return
		}
		h.heap[i], h.heap[big] = h.heap[big], h.heap[i]
		i = big
	}
}

// push offers a row; its sort keys are evaluated with the row in slot 0.
func (h *topK) push(ec *evalCtx, row int32) {
	if h.k == 0 {
		return
	}
	h.scratch.row = row
	for i, o := range h.order {
		h.scratch.keys[i] = o.e.eval(ec)
	}
	if len(h.heap) < h.k {
		nk := len(h.order)
		keys := h.slab[len(h.heap)*nk : (len(h.heap)+1)*nk]
		copy(keys, h.scratch.keys)
		h.heap = append(h.heap, sortEntry{row: row, keys: keys})
		for i := len(h.heap) - 1; i > 0; {
			p := (i - 1) / 2
			if !h.less(&h.heap[p], &h.heap[i]) {
				break
			}
			h.heap[i], h.heap[p] = h.heap[p], h.heap[i]
			i = p
		}
		return
	}
	if h.less(&h.scratch, &h.heap[0]) {
		copy(h.heap[0].keys, h.scratch.keys)
		h.heap[0].row = row
		h.down(0)
	}
}

// sorted empties the heap into ascending order.
func (h *topK) sorted() []int32 {
	out := make([]int32, len(h.heap))
	for i := len(h.heap) - 1; i >= 0; i-- {
		out[i] = h.heap[0].row
		last := len(h.heap) - 1
		h.heap[0], h.heap[last] = h.heap[last], h.heap[0]
		h.heap = h.heap[:last]
		h.down(0)
	}
	return out
}

// render appends the JSON objects of rows to buf.
func (q *query) render(ec *evalCtx, buf []byte, rows []int32, v6 bool) []byte {
	buf = append(buf, '[')
	for i, row := range rows {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = q.renderRow(ec, buf, row, v6)
	}
	return append(buf, ']')
}

func (q *query) renderRow(ec *evalCtx, buf []byte, row int32, v6 bool) []byte {
	buf = append(buf, '{')
	first := true
	sep := func() {
		if !first {
			buf = append(buf, ',')
		}
		first = false
	}
	for _, x := range q.expand {
		sep()
		buf = appendJSONString(buf, x.name)
		buf = append(buf, ':')
		related := func(fn func(int32) bool) {
			if x.nav.fk != nil {
				id := x.nav.fk.get(ec.st, row)
				if id.t == tNull {
					return
				}
				if r, ok := x.nav.target.byID(ec.st, id.i); ok {
					fn(r)
				}
				return
			}
			x.nav.each(ec.st, row, fn)
		}
		if x.count {
			buf = strconv.AppendInt(buf, int64(x.sub.count(ec, related)), 10)
			continue
		}
		buf = x.sub.render(ec, buf, x.sub.rows(ec, related), v6)
	}
	for _, f := range q.fields {
		sep()
		buf = appendJSONString(buf, f.name)
		buf = append(buf, ':')
		v := f.get(ec.st, row)
		if f.fk != nil && v.t != tNull && !(v6 && f.plainInV6) {
			buf = append(buf, `{"__id":`...)
			buf = strconv.AppendInt(buf, v.i, 10)
			buf = append(buf, '}')
			continue
		}
		buf = appendValue(buf, v)
	}
	return append(buf, '}')
}

func appendValue(buf []byte, v value) []byte {
	switch v.t {
	case tInt:
		return strconv.AppendInt(buf, v.i, 10)
	case tNum:
		return strconv.AppendFloat(buf, v.f, 'g', -1, 64)
	case tText:
		return appendJSONString(buf, v.s)
	case tTime:
		buf = append(buf, '"')
		buf = time.UnixMilli(v.i).UTC().AppendFormat(buf, isoMillis)
		return append(buf, '"')
	case tBool:
		return strconv.AppendBool(buf, v.i == 1)
	}
	return append(buf, "null"...)
}

// isoMillis is JavaScript's Date.prototype.toISOString format.
const isoMillis = "2006-01-02T15:04:05.000Z"

func appendJSONString(buf []byte, s string) []byte {
	const hex = "0123456789abcdef"
	buf = append(buf, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				buf = append(buf, '\\', c)
			case c == '\n':
				buf = append(buf, '\\', 'n')
			case c == '\r':
				buf = append(buf, '\\', 'r')
			case c == '\t':
				buf = append(buf, '\\', 't')
			case c < 0x20:
				buf = append(buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				buf = append(buf, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, `\ufffd`...)
		} else {
			buf = append(buf, s[i:i+size]...)
		}
		i += size
	}
	return append(buf, '"')
}
