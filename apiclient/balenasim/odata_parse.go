package balenasim

import (
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// This parser follows balena's odata-parser grammar (odata-parser.pegjs) on
// the raw, still percent-encoded URL, as pinejs does: structure characters
// must be literal, only "$" may be written %24, spaces may be " ", "+" or
// %20, a quote may be %27, and string literals are percent-decoded after
// parsing. Anything the grammar rejects is "Malformed url" (400); names it
// accepts but the model lacks are a translation error (500) later.
//
// It is a recursive-descent parser rather than a literal PEG: alternatives
// that the grammar tries in order are tried here in the same order, but
// nothing is parsed twice, so hostile input cannot make it exponential.

// maxDepth bounds nesting of expressions, paths and $expand; deeper input
// is answered as malformed instead of exhausting the stack.
const maxDepth = 48

type astKind uint8

const (
	aText astKind = iota + 1
	aNum
	aBool
	aNull
	aDate     // datetime'…' or date'…'; t is Unix ms
	aDuration // t is milliseconds, signed
	aPath
	aBinary // op, args[0], args[1]
	aNot
	aCall // op = method, args
	aIn   // args[0] in args[1:]
	aParam
)

type ast struct {
	kind astKind
	op   string
	s    string
	num  float64
	b    bool
	t    int64
	path *pathExpr
	args []*ast
}

// pathExpr is a property path such as a/is_of__device/$count or
// is_of__actor/any(a:…).
type pathExpr struct {
	name        string
	next        *pathExpr
	count       bool
	countFilter *ast
	lambda      *lambdaExpr
	call        *ast // nav/method(...): parses, but never translates
}

type lambdaExpr struct {
	method string // any, all
	alias  string
	expr   *ast
}

type orderItem struct {
	path *pathExpr
	desc bool
}

type expandItem struct {
	name  string
	count bool
	opts  *queryOpts
	next  *pathExpr // nav(...)/more: parses, not supported by translation
}

type queryOpts struct {
	selectAll bool
	selects   []*pathExpr // nil: the default selection
	filter    *ast
	orderby   []orderItem
	top, skip int64
	hasTop    bool
	hasSkip   bool
	expand    []expandItem
	params    map[string]string // non-$ parameters such as apikey
	aliases   map[string]*ast   // @name=value parameter aliases
}

// odataPath is the parsed resource part of a URL (after the version).
type odataPath struct {
	resource string
	hasKey   bool
	key      *ast            // (5) or ('x')
	namedKey map[string]*ast // (uuid='…')
	count    bool
	opts     queryOpts
}

type parser struct {
	s       string
	i       int
	depth   int
	tooDeep bool
}

func (p *parser) rest() string { return p.s[p.i:] }

func (p *parser) eat(lit string) bool {
	if strings.HasPrefix(p.s[p.i:], lit) {
		p.i += len(lit)
		return true
	}
	return false
}

func (p *parser) peek(c byte) bool { return p.i < len(p.s) && p.s[p.i] == c }

func (p *parser) space() bool {
	if p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '+') {
		p.i++
		return true
	}
	return p.eat("%20")
}

func (p *parser) spaces() {
	for p.space() {
	}
}

// boundary is the grammar's word boundary: an opening parenthesis ahead, or
// at least one space.
func (p *parser) boundary() bool {
	if p.peek('(') {
		return true
	}
	n := 0
	for p.space() {
		n++
	}
	return n > 0
}

func (p *parser) enter() bool {
	p.depth++
	if p.depth > maxDepth {
		p.tooDeep = true
		return false
	}
	return true
}

func (p *parser) leave() { p.depth-- }

// isNameByte mirrors ResourceName's [^:/?#\[\]@!$*&()+,;= %]; a double
// quote is refused too, as the running server answered "Malformed url" to
// double-quoted literals.
func isNameByte(c byte) bool {
	switch c {
	case ':', '/', '?', '#', '[', ']', '@', '!', '$', '*', '&', '(', ')', '+', ',', ';', '=', ' ', '%', '"':
		return false
	}
	return c > 0x20 && c != 0x7f
}

func (p *parser) name() (string, bool) {
	j := p.i
	for j < len(p.s) && isNameByte(p.s[j]) {
		j++
	}
	if j == p.i {
		return "", false
	}
	n := p.s[p.i:j]
	if !utf8.ValidString(n) {
		return "", false
	}
	p.i = j
	return n, true
}

// text mirrors the grammar's Text: [^:/?#\[\]@!$*&()+,;=]*, decoded.
func (p *parser) text() (string, bool) {
	j := p.i
	for j < len(p.s) && !strings.ContainsRune(":/?#[]@!$*&()+,;=", rune(p.s[j])) {
		j++
	}
	t, ok := decodeURIComponent(p.s[p.i:j])
	p.i = j
	return t, ok
}

// decodeURIComponent fails where JavaScript's does: bad escapes and
// sequences that are not UTF-8.
func decodeURIComponent(s string) (string, bool) {
	if !strings.Contains(s, "%") {
		return s, utf8.ValidString(s)
	}
	d, err := url.PathUnescape(s)
	if err != nil || !utf8.ValidString(d) {
		return "", false
	}
	return d, true
}

func (p *parser) apostrophe() bool { return p.eat("'") || p.eat("%27") }

func (p *parser) quotedText() (string, bool) {
	save := p.i
	if !p.apostrophe() {
		return "", false
	}
	var b strings.Builder
	for {
		if p.i >= len(p.s) {
			p.i = save
			return "", false
		}
		at := p.i
		if p.apostrophe() {
			if p.apostrophe() {
				b.WriteByte('\'')
				continue
			}
			p.i = at
			p.apostrophe()
			break
		}
		b.WriteByte(p.s[p.i])
		p.i++
	}
	t, ok := decodeURIComponent(b.String())
	if !ok {
		p.i = save
		return "", false
	}
	return t, true
}

func (p *parser) digits() (string, bool) {
	j := p.i
	for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
		j++
	}
	if j == p.i {
		return "", false
	}
	d := p.s[p.i:j]
	p.i = j
	return d, true
}

func (p *parser) number() (float64, bool) {
	save := p.i
	sign := ""
	switch {
	case p.eat("+"), p.eat("%2B"):
	case p.eat("-"):
		sign = "-"
	}
	d, ok := p.digits()
	if !ok {
		p.i = save
		return 0, false
	}
	if p.peek('.') {
		at := p.i
		p.i++
		if f, ok := p.digits(); ok {
			d += "." + f
		} else {
			p.i = at
		}
	}
	n, err := strconv.ParseFloat(sign+d, 64)
	if err != nil || math.IsInf(n, 0) {
		p.i = save
		return 0, false
	}
	return n, true
}

func (p *parser) unsigned() (int64, bool) {
	d, ok := p.digits()
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(d, 10, 64)
	return n, err == nil
}

// parseJSDate accepts the forms JavaScript's Date.parse reads reliably:
// RFC 3339 with or without fraction and zone, and a bare date (UTC).
func parseJSDate(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	layouts := []string{
		time.RFC3339Nano,
		"2006-01-02T15:04:05.999999999",
		"2006-01-02T15:04",
		"2006-01-02T15:04Z07:00",
		"2006-01-02",
		"2006-01",
		"2006",
		time.RFC1123,
		time.RFC1123Z,
	}
	for _, l := range layouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

func (p *parser) date() (*ast, bool) {
	save := p.i
	if !(p.eat("datetime") || p.eat("date")) {
		return nil, false
	}
	s, ok := p.quotedText()
	if !ok {
		p.i = save
		return nil, false
	}
	t, ok := parseJSDate(s)
	if !ok {
		p.i = save
		return nil, false
	}
	return &ast{kind: aDate, t: t.UnixMilli()}, true
}

// duration follows the grammar to the letter, including its quirk that a
// zero component counts as absent (duration'P0D' does not parse).
func (p *parser) duration() (*ast, bool) {
	save := p.i
	fail := func() (*ast, bool) { p.i = save; return nil, false }
	if !p.eat("duration") || !p.apostrophe() {
		return fail()
	}
	neg := false
	switch {
	case p.eat("+"), p.eat("%2B"):
	case p.eat("-"):
		neg = true
	}
	if !p.eat("P") {
		return fail()
	}
	component := func(unit string) float64 {
		at := p.i
		d, ok := p.digits()
		if !ok {
			return 0
		}
		if unit == "S" && p.peek('.') {
			p.i++
			f, ok := p.digits()
			if !ok {
				p.i = at
				return 0
			}
			d += "." + f
		}
		if !p.eat(unit) {
			p.i = at
			return 0
		}
		n, _ := strconv.ParseFloat(d, 64)
		return n
	}
	day := component("D")
	var h, m, sec float64
	hasTime := false
	if at := p.i; p.eat("T") {
		h, m, sec = component("H"), component("M"), component("S")
		if h == 0 && m == 0 && sec == 0 {
			p.i = at
		} else {
			hasTime = true
		}
	}
	if day == 0 && !hasTime {
		return fail()
	}
	if !p.apostrophe() {
		return fail()
	}
	ms := ((day*24+h)*60+m)*60e3 + sec*1e3
	if ms > 1e15 {
		return fail()
	}
	if neg {
		ms = -ms
	}
	return &ast{kind: aDuration, t: int64(ms)}, true
}

// methods maps each filter function of the grammar to its allowed arities,
// in the grammar's order of alternatives (substringof before substring).
var methods = []struct {
	name  string
	arity []int
}{
	{"cast", []int{1, 2}}, {"ceiling", []int{1}}, {"concat", []int{2}}, {"contains", []int{2}},
	{"date", []int{1}}, {"day", []int{1}}, {"endswith", []int{2}}, {"floor", []int{1}},
	{"fractionalseconds", []int{1}}, {"hour", []int{1}}, {"indexof", []int{2}}, {"isof", []int{1, 2}},
	{"length", []int{1}}, {"maxdatetime", []int{0}}, {"mindatetime", []int{0}}, {"minute", []int{1}},
	{"month", []int{1}}, {"now", []int{0}}, {"replace", []int{3}}, {"round", []int{1}},
	{"second", []int{1}}, {"startswith", []int{2}}, {"substringof", []int{2}}, {"substring", []int{2, 3}},
	{"time", []int{1}}, {"tolower", []int{1}}, {"totaloffsetminutes", []int{1}}, {"totalseconds", []int{1}},
	{"toupper", []int{1}}, {"trim", []int{1}}, {"year", []int{1}},
}

// args parses "(" [expr {"," expr}] ")" after a function name.
func (p *parser) args() ([]*ast, bool) {
	if !p.eat("(") {
		return nil, false
	}
	p.spaces()
	var args []*ast
	save := p.i
	if first, ok := p.filter(); ok {
		args = append(args, first)
		for {
			at := p.i
			p.spaces()
			if !p.eat(",") {
				p.i = at
				break
			}
			p.spaces()
			next, ok := p.filter()
			if !ok {
				p.i = at
				break
			}
			args = append(args, next)
		}
		p.spaces()
	} else {
		p.i = save
		args = nil
	}
	if !p.eat(")") {
		return nil, false
	}
	return args, true
}

func (p *parser) methodCall() (*ast, bool) {
	save := p.i
	for _, m := range methods {
		if !strings.HasPrefix(p.rest(), m.name) {
			continue
		}
		p.i += len(m.name)
		if !p.peek('(') {
			break
		}
		args, ok := p.args()
		if !ok || !containsInt(m.arity, len(args)) {
			break
		}
		return &ast{kind: aCall, op: m.name, args: args}, true
	}
	p.i = save
	return nil, false
}

func containsInt(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

var operators = []string{"eq", "ne", "gt", "ge", "lt", "le", "and", "or", "sub", "add", "mod", "div", "mul"}

// precedence is odata-parser's table: and/or share the lowest level (so
// "a or b and c" is "(a or b) and c"), and sub binds less than add.
var precedence = map[string]int{
	"or": 0, "and": 0, "eq": 1, "ne": 1, "gt": 1, "ge": 1, "lt": 1, "le": 1,
	"sub": 2, "add": 3, "mod": 4, "div": 5, "mul": 6,
}

func (p *parser) operator() (string, bool) {
	save := p.i
	p.spaces()
	for _, op := range operators {
		if p.eat(op) {
			if p.boundary() {
				return op, true
			}
			break
		}
	}
	p.i = save
	return "", false
}

// filter is FilterByExpression: a full expression at the lowest precedence.
func (p *parser) filter() (*ast, bool) { return p.expr(0) }

func (p *parser) expr(minPrec int) (*ast, bool) {
	if !p.enter() {
		return nil, false
	}
	defer p.leave()
	lhs, ok := p.value()
	if !ok {
		return nil, false
	}
	for {
		save := p.i
		if op, ok := p.operator(); ok && precedence[op]+1 > minPrec {
			if rhs, ok := p.expr(precedence[op] + 1); ok {
				lhs = &ast{kind: aBinary, op: op, args: []*ast{lhs, rhs}}
				continue
			}
		}
		p.i = save
		if p.boundary() && p.eat("in") && p.boundary() {
			if items, ok := p.groupedPrimitives(); ok {
				lhs = &ast{kind: aIn, args: append([]*ast{lhs}, items...)}
				continue
			}
		}
		p.i = save
		return lhs, true
	}
}

func (p *parser) groupedPrimitives() ([]*ast, bool) {
	if !p.eat("(") {
		return nil, false
	}
	p.spaces()
	var items []*ast
	for {
		it, ok := p.primitive()
		if !ok {
			return nil, false
		}
		items = append(items, it)
		if !p.eat(",") {
			break
		}
		p.spaces()
	}
	if !p.eat(")") {
		return nil, false
	}
	return items, true
}

func (p *parser) value() (*ast, bool) {
	if !p.enter() {
		return nil, false
	}
	defer p.leave()
	save := p.i
	if p.eat("(") {
		p.spaces()
		if e, ok := p.filter(); ok {
			p.spaces()
			if p.eat(")") {
				return e, true
			}
		}
		p.i = save
	}
	if m, ok := p.methodCall(); ok {
		return m, true
	}
	p.spaces()
	if p.eat("not") && p.boundary() {
		if v, ok := p.value(); ok {
			return &ast{kind: aNot, args: []*ast{v}}, true
		}
	}
	p.i = save
	if p.eat("@") {
		if n, ok := p.name(); ok {
			return &ast{kind: aParam, s: "@" + n}, true
		}
		p.i = save
	}
	return p.primitive()
}

func (p *parser) primitive() (*ast, bool) {
	save := p.i
	if p.eat("(") {
		p.spaces()
		if v, ok := p.primitive(); ok {
			p.spaces()
			if p.eat(")") {
				return v, true
			}
		}
		p.i = save
	}
	if s, ok := p.quotedText(); ok {
		return &ast{kind: aText, s: s}, true
	}
	if n, ok := p.number(); ok {
		return &ast{kind: aNum, num: n}, true
	}
	switch {
	case p.eat("true"):
		return &ast{kind: aBool, b: true}, true
	case p.eat("false"):
		return &ast{kind: aBool}, true
	case p.eat("null"):
		return &ast{kind: aNull}, true
	}
	if d, ok := p.date(); ok {
		return d, true
	}
	if d, ok := p.duration(); ok {
		return d, true
	}
	if lp, ok := p.lambdaPath(); ok {
		return &ast{kind: aPath, path: lp}, true
	}
	if pp, ok := p.propertyPath(); ok {
		return &ast{kind: aPath, path: pp}, true
	}
	return nil, false
}

func (p *parser) lambdaPath() (*pathExpr, bool) {
	if !p.enter() {
		return nil, false
	}
	defer p.leave()
	save := p.i
	n, ok := p.name()
	if !ok || !p.eat("/") {
		p.i = save
		return nil, false
	}
	if next, ok := p.lambdaPath(); ok {
		return &pathExpr{name: n, next: next}, true
	}
	if l, ok := p.lambda(); ok {
		return &pathExpr{name: n, lambda: l}, true
	}
	at := p.i
	if m, ok := p.name(); ok {
		if args, ok := p.args(); ok {
			return &pathExpr{name: n, call: &ast{kind: aCall, op: m, args: args}}, true
		}
	}
	p.i = at
	p.i = save
	return nil, false
}

func (p *parser) lambda() (*lambdaExpr, bool) {
	save := p.i
	method := ""
	switch {
	case p.eat("any("):
		method = "any"
	case p.eat("all("):
		method = "all"
	default:
		return nil, false
	}
	p.spaces()
	alias, ok := p.name()
	if ok && p.eat(":") {
		if e, ok := p.filter(); ok {
			p.spaces()
			if p.eat(")") {
				return &lambdaExpr{method: method, alias: alias, expr: e}, true
			}
		}
	}
	p.i = save
	return nil, false
}

func (p *parser) propertyPath() (*pathExpr, bool) {
	if !p.enter() {
		return nil, false
	}
	defer p.leave()
	n, ok := p.name()
	if !ok {
		return nil, false
	}
	pe := &pathExpr{name: n}
	if at := p.i; p.eat("/") {
		if next, ok := p.propertyPath(); ok {
			pe.next = next
		} else {
			p.i = at
		}
	}
	if p.eat("/$count") {
		pe.count = true
		if at := p.i; p.eat("(") {
			ok := p.dollar() && p.eat("filter=")
			var f *ast
			if ok {
				f, ok = p.filter()
			}
			if ok && p.eat(")") {
				pe.countFilter = f
			} else {
				p.i = at
			}
		}
	}
	return pe, true
}

func (p *parser) propertyPaths() ([]*pathExpr, bool) {
	var out []*pathExpr
	for {
		pp, ok := p.propertyPath()
		if !ok {
			return nil, false
		}
		out = append(out, pp)
		if !p.eat(",") {
			return out, true
		}
	}
}

func (p *parser) dollar() bool { return p.eat("$") || p.eat("%24") }

// queryOptions parses options separated by "&" (and, inside $expand(...),
// also ";") into o.
func (p *parser) queryOptions(o *queryOpts, nested bool) bool {
	for {
		if !p.queryOption(o, nested) {
			return false
		}
		if p.eat("&") || (nested && p.eat(";")) {
			continue
		}
		return true
	}
}

func (p *parser) queryOption(o *queryOpts, nested bool) bool {
	save := p.i
	if p.dollar() && p.dollarOption(o, nested) {
		return true
	}
	p.i = save
	if name, ok := p.text(); ok && p.eat("=") {
		if v, ok := p.text(); ok {
			if o.params == nil {
				o.params = map[string]string{}
			}
			o.params[name] = v
			return true
		}
	}
	p.i = save
	if p.eat("@") {
		if name, ok := p.text(); ok && p.eat("=") {
			var v *ast
			if n, ok := p.number(); ok {
				v = &ast{kind: aNum, num: n}
			} else if p.eat("true") {
				v = &ast{kind: aBool, b: true}
			} else if p.eat("false") {
				v = &ast{kind: aBool}
			} else if s, ok := p.quotedText(); ok {
				v = &ast{kind: aText, s: s}
			} else if d, ok := p.date(); ok {
				v = d
			}
			if v != nil && o.aliases["@"+name] == nil {
				if o.aliases == nil {
					o.aliases = map[string]*ast{}
				}
				o.aliases["@"+name] = v
				return true
			}
		}
	}
	p.i = save
	return false
}

func (p *parser) dollarOption(o *queryOpts, nested bool) bool {
	switch {
	case p.eat("select="):
		if p.eat("*") {
			o.selectAll, o.selects = true, nil
			return true
		}
		ps, ok := p.propertyPaths()
		if ok {
			o.selectAll, o.selects = false, ps
		}
		return ok
	case p.eat("filter="):
		f, ok := p.filter()
		o.filter = f
		return ok
	case p.eat("expand="):
		var items []expandItem
		for {
			it, ok := p.expandItem()
			if !ok {
				return false
			}
			items = append(items, it)
			if !p.eat(",") {
				break
			}
		}
		o.expand = items
		return true
	case p.eat("orderby="):
		var items []orderItem
		for {
			pp, ok := p.propertyPath()
			if !ok {
				return false
			}
			it := orderItem{path: pp, desc: true}
			at := p.i
			if p.boundary() {
				switch {
				case p.eat("asc"):
					it.desc = false
				case p.eat("desc"):
				default:
					p.i = at
				}
			}
			items = append(items, it)
			if !p.eat(",") {
				break
			}
		}
		o.orderby = items
		return true
	case p.eat("top="):
		n, ok := p.unsigned()
		o.top, o.hasTop = n, ok
		return ok
	case p.eat("skip="):
		n, ok := p.unsigned()
		o.skip, o.hasSkip = n, ok
		return ok
	case p.eat("count="):
		return p.eat("true") || p.eat("false")
	case p.eat("inlinecount="):
		_, ok := p.text()
		return ok
	case p.eat("format="):
		return p.format()
	}
	return false
}

func (p *parser) format() bool {
	isAlpha := func(c byte) bool { return (c|0x20) >= 'a' && (c|0x20) <= 'z' }
	alphas := func() bool {
		j := p.i
		for j < len(p.s) && isAlpha(p.s[j]) {
			j++
		}
		ok := j > p.i
		p.i = j
		return ok
	}
	save := p.i
	if alphas() && p.eat("/") && alphas() {
		if at := p.i; p.eat("+") && !alphas() {
			p.i = at
		}
	} else {
		p.i = save
		if !(p.eat("json") || p.eat("atom") || p.eat("xml")) {
			return false
		}
	}
	if at := p.i; p.eat(";") {
		p.eat("odata.")
		if !(p.eat("metadata=") && (p.eat("none") || p.eat("minimal") || p.eat("full"))) {
			p.i = at
		}
	}
	return true
}

func (p *parser) expandItem() (expandItem, bool) {
	if !p.enter() {
		return expandItem{}, false
	}
	defer p.leave()
	n, ok := p.name()
	if !ok {
		return expandItem{}, false
	}
	it := expandItem{name: n, opts: &queryOpts{}}
	it.count = p.eat("/$count")
	if at := p.i; p.eat("(") {
		if !p.peek(')') && !p.queryOptions(it.opts, true) {
			p.i = at
			return it, true
		}
		if !p.eat(")") {
			p.i = at
			it.opts = &queryOpts{}
			return it, true
		}
	}
	if at := p.i; p.eat("/") {
		if pp, ok := p.propertyPath(); ok {
			it.next = pp
		} else {
			p.i = at
		}
	}
	return it, true
}

func (p *parser) key() (key *ast, named map[string]*ast, ok bool) {
	save := p.i
	if !p.eat("(") {
		return nil, nil, false
	}
	keyBind := func() (*ast, bool) {
		if n, ok := p.number(); ok {
			return &ast{kind: aNum, num: n}, true
		}
		if s, ok := p.quotedText(); ok {
			return &ast{kind: aText, s: s}, true
		}
		if p.eat("@") {
			if n, ok := p.name(); ok {
				return &ast{kind: aParam, s: "@" + n}, true
			}
		}
		return nil, false
	}
	if k, ok := keyBind(); ok && p.eat(")") {
		return k, nil, true
	}
	p.i = save + 1
	named = map[string]*ast{}
	for {
		n, ok := p.name()
		if !ok || !p.eat("=") {
			p.i = save
			return nil, nil, false
		}
		v, ok := keyBind()
		if !ok {
			p.i = save
			return nil, nil, false
		}
		named[n] = v
		if !p.eat(",") {
			break
		}
	}
	if !p.eat(")") {
		p.i = save
		return nil, nil, false
	}
	return nil, named, true
}

// parseODataURL parses "/resource[(key)][/$count][?options]", the part of
// the URL after the API version.
func parseODataURL(raw string) (odataPath, bool) {
	p := &parser{s: raw}
	var out odataPath
	if !p.eat("/") {
		return out, false
	}
	n, ok := p.name()
	if !ok {
		return out, false
	}
	out.resource = n
	if k, named, ok := p.key(); ok {
		out.hasKey, out.key, out.namedKey = true, k, named
	} else if p.eat("/$count") {
		out.count = true
	}
	if p.eat("?") && p.i < len(p.s) {
		if !p.queryOptions(&out.opts, false) {
			return out, false
		}
	}
	return out, p.i == len(p.s) && !p.tooDeep
}
