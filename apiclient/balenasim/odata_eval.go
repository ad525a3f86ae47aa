package balenasim

import (
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// Parsed expressions are compiled against the schema before they run: names
// are bound to fields and navigations, types are checked, and the permission
// rules for navigating into other resources are applied. Compilation fails
// the way pinejs's translation does: an unknown field or a type mismatch is
// a 500, an unknown navigation or one into an unreadable resource a 401.
// Evaluation then follows SQL: three-valued logic, with eq and ne given
// pinejs's null rules.

type odataError struct{ status int }

func (e *odataError) Error() string { return "odata error" }

var (
	errTranslate    = &odataError{500} // unknown field, type mismatch, unsupported construct
	errUnauthorized = &odataError{401} // unknown resource or navigation, unreadable resource
)

type evalCtx struct {
	st     *store
	c      *caller
	now    int64
	rows   []int32 // scope slots: 0 is the row being filtered, others lambda or join rows
	failed bool    // a runtime SQL error (e.g. division by zero): answer 500
}

type expr interface {
	eval(ec *evalCtx) value
}

type scope struct {
	alias string
	res   *resource
	slot  int
}

type compiler struct {
	c        *caller
	root     *resource
	rootSlot int
	scopes   []scope
	nslots   int
	aliases  map[string]*ast
}

func newCompiler(c *caller, root *resource, aliases map[string]*ast) *compiler {
	return &compiler{c: c, root: root, nslots: 1, aliases: aliases}
}

func (cp *compiler) newSlot() int {
	cp.nslots++
	return cp.nslots - 1
}

// compileFilter compiles a boolean expression evaluated against the root
// slot.
func (cp *compiler) compileFilter(a *ast) (predicate, error) {
	e, t, err := cp.compile(a)
	if err != nil {
		return nil, err
	}
	if t != tBool && t != tNull {
		return nil, errTranslate
	}
	return asPredicate(e), nil
}

// tri is a truth value of SQL's three-valued logic.
type tri int8

const (
	triUnknown tri = -1
	triFalse   tri = 0
	triTrue    tri = 1
)

func triOf(b bool) tri {
	if b {
		return triTrue
	}
	return triFalse
}

func (t tri) value() value {
	if t == triUnknown {
		return null
	}
	return vBool(t == triTrue)
}

// A predicate is a boolean expression that can answer without building a
// value: filters run once per scanned row, so the boolean spine of a
// filter (and, or, not, comparisons, lambdas) passes small tri values.
type predicate interface {
	expr
	test(ec *evalCtx) tri
}

func asPredicate(e expr) predicate {
	if p, ok := e.(predicate); ok {
		return p
	}
	return valuePredicate{e}
}

// valuePredicate adapts a boolean-valued expression (a literal, a field, a
// function call).
type valuePredicate struct{ expr }

func (p valuePredicate) test(ec *evalCtx) tri {
	v := p.eval(ec)
	if v.t != tBool {
		return triUnknown
	}
	return triOf(v.i == 1)
}

type constExpr struct{ v value }

func (e constExpr) eval(*evalCtx) value { return e.v }

type fieldExpr struct {
	f    *field
	slot int
}

func (e fieldExpr) eval(ec *evalCtx) value { return e.f.get(ec.st, ec.rows[e.slot]) }

func (cp *compiler) compile(a *ast) (expr, ftype, error) {
	switch a.kind {
	case aText:
		return constExpr{vText(a.s)}, tText, nil
	case aNum:
		return constExpr{value{t: tNum, f: a.num}}, tNum, nil
	case aBool:
		return constExpr{vBool(a.b)}, tBool, nil
	case aNull:
		return constExpr{null}, tNull, nil
	case aDate:
		return constExpr{vTime(a.t)}, tTime, nil
	case aDuration:
		return constExpr{value{t: tDur, i: a.t}}, tDur, nil
	case aParam:
		v, ok := cp.aliases[a.s]
		if !ok {
			return nil, 0, errTranslate
		}
		return cp.compile(v)
	case aPath:
		return cp.compilePath(a.path)
	case aNot:
		e, t, err := cp.compile(a.args[0])
		if err != nil {
			return nil, 0, err
		}
		if t != tBool && t != tNull {
			return nil, 0, errTranslate
		}
		return notExpr{asPredicate(e)}, tBool, nil
	case aIn:
		return cp.compileIn(a)
	case aBinary:
		return cp.compileBinary(a)
	case aCall:
		return cp.compileCall(a)
	}
	return nil, 0, errTranslate
}

// compilePath binds a property path. The first segment may name a lambda
// alias; to-one navigations are followed (a join), to-many ones only through
// any/all or $count.
func (cp *compiler) compilePath(pe *pathExpr) (expr, ftype, error) {
	for i := len(cp.scopes) - 1; i >= 0; i-- {
		if sc := cp.scopes[i]; sc.alias == pe.name {
			if pe.next == nil {
				return nil, 0, errTranslate // the alias alone is not a value
			}
			return cp.walk(pe.next, sc.res, sc.slot)
		}
	}
	return cp.walk(pe, cp.root, cp.rootSlot)
}

func (cp *compiler) walk(pe *pathExpr, res *resource, slot int) (expr, ftype, error) {
	more := pe.next != nil || pe.lambda != nil || pe.count || pe.call != nil
	if f, ok := res.byName[pe.name]; ok && (f.fk == nil || !more) {
		if more {
			return nil, 0, errTranslate
		}
		return fieldExpr{f, slot}, f.typ, nil
	}
	nav, ok := res.navs[pe.name]
	if !ok {
		if more {
			return nil, 0, errUnauthorized
		}
		return nil, 0, errTranslate
	}
	if !more {
		// A reverse navigation is not a value (e.g. a/is_of__user eq 5).
		return nil, 0, errTranslate
	}
	if !nav.target.readable(cp.c) {
		return nil, 0, errUnauthorized
	}
	if pe.call != nil {
		return nil, 0, errTranslate
	}
	to := cp.newSlot()
	switch {
	case pe.lambda != nil:
		cp.scopes = append(cp.scopes, scope{alias: pe.lambda.alias, res: nav.target, slot: to})
		inner, err := cp.compileFilter(pe.lambda.expr)
		cp.scopes = cp.scopes[:len(cp.scopes)-1]
		if err != nil {
			return nil, 0, err
		}
		return &lambdaEval{nav: nav, from: slot, to: to, inner: inner, all: pe.lambda.method == "all"}, tBool, nil
	case pe.count:
		if pe.next != nil {
			return nil, 0, errTranslate
		}
		var filter predicate
		if pe.countFilter != nil {
			// Unqualified names in nav/$count($filter=…) refer to the counted rows.
			sub := &compiler{c: cp.c, root: nav.target, rootSlot: to, scopes: cp.scopes, nslots: cp.nslots, aliases: cp.aliases}
			f, err := sub.compileFilter(pe.countFilter)
			if err != nil {
				return nil, 0, err
			}
			cp.nslots = sub.nslots
			filter = f
		}
		return &countEval{nav: nav, from: slot, to: to, filter: filter}, tInt, nil
	default:
		if nav.fk == nil {
			return nil, 0, errTranslate // a field through a to-many navigation
		}
		inner, t, err := cp.walk(pe.next, nav.target, to)
		if err != nil {
			return nil, 0, err
		}
		return &joinEval{nav: nav, from: slot, to: to, inner: inner}, t, nil
	}
}

type joinEval struct {
	nav      *navigation
	from, to int
	inner    expr
}

func (e *joinEval) eval(ec *evalCtx) value {
	row, ok := followFK(ec, e.nav, ec.rows[e.from])
	if !ok {
		return null
	}
	ec.rows[e.to] = row
	return e.inner.eval(ec)
}

// followFK joins through a foreign key; a target the caller cannot see
// joins to nothing, as pinejs's permission-constrained join does.
func followFK(ec *evalCtx, nav *navigation, from int32) (int32, bool) {
	id := nav.fk.get(ec.st, from)
	if id.t == tNull {
		return 0, false
	}
	row, ok := nav.target.byID(ec.st, id.i)
	if !ok || !nav.target.visible(ec.c, ec.st, row) {
		return 0, false
	}
	return row, true
}

// single finds the visible related row of a navigation that holds at most
// one; ok reports whether nav is such a navigation.
func single(ec *evalCtx, nav *navigation, from int32) (row int32, found, ok bool) {
	switch {
	case nav.fk != nil:
		row, found = followFK(ec, nav, from)
		return row, found, true
	case nav.one != nil:
		row, found = nav.one(ec.st, from)
		return row, found && nav.target.visible(ec.c, ec.st, row), true
	}
	return 0, false, false
}

// eachRelated calls fn for every visible row related through nav.
func eachRelated(ec *evalCtx, nav *navigation, from int32, fn func(int32) bool) {
	if row, found, ok := single(ec, nav, from); ok {
		if found {
			fn(row)
		}
		return
	}
	nav.each(ec.st, from, func(row int32) bool {
		if !nav.target.visible(ec.c, ec.st, row) {
			return true
		}
		return fn(row)
	})
}

type lambdaEval struct {
	nav      *navigation
	from, to int
	inner    predicate
	all      bool
}

func (e *lambdaEval) eval(ec *evalCtx) value { return e.test(ec).value() }

// test: any is EXISTS(related AND expr); all is NOT EXISTS(related AND NOT
// expr), so a related row whose expression is unknown does not spoil "all".
func (e *lambdaEval) test(ec *evalCtx) tri {
	// "all" looks for a false row, "any" for a true one.
	want := triOf(!e.all)
	if row, found, ok := single(ec, e.nav, ec.rows[e.from]); ok {
		if found {
			ec.rows[e.to] = row
			found = e.inner.test(ec) == want
		}
		return triOf(found != e.all)
	}
	found := false
	eachRelated(ec, e.nav, ec.rows[e.from], func(row int32) bool {
		ec.rows[e.to] = row
		found = e.inner.test(ec) == want
		return !found
	})
	return triOf(found != e.all)
}

type countEval struct {
	nav      *navigation
	from, to int
	filter   predicate
}

func (e *countEval) eval(ec *evalCtx) value {
	n := int64(0)
	eachRelated(ec, e.nav, ec.rows[e.from], func(row int32) bool {
		if e.filter != nil {
			ec.rows[e.to] = row
			if e.filter.test(ec) != triTrue {
				return true
			}
		}
		n++
		return true
	})
	return vInt(n)
}

type notExpr struct{ p predicate }

func (n notExpr) eval(ec *evalCtx) value { return n.test(ec).value() }

func (n notExpr) test(ec *evalCtx) tri {
	t := n.p.test(ec)
	if t == triUnknown {
		return t
	}
	return 1 - t
}

func (cp *compiler) compileBinary(a *ast) (expr, ftype, error) {
	l, lt, err := cp.compile(a.args[0])
	if err != nil {
		return nil, 0, err
	}
	r, rt, err := cp.compile(a.args[1])
	if err != nil {
		return nil, 0, err
	}
	switch a.op {
	case "and", "or":
		if (lt != tBool && lt != tNull) || (rt != tBool && rt != tNull) {
			return nil, 0, errTranslate
		}
		return &logicExpr{and: a.op == "and", l: asPredicate(l), r: asPredicate(r)}, tBool, nil
	case "eq", "ne", "gt", "ge", "lt", "le":
		l, r, err := coerceComparable(l, lt, r, rt)
		if err != nil {
			return nil, 0, err
		}
		op := cmpOps[a.op]
		if op <= opNe && (lt == tNull || rt == tNull) {
			if lt == tNull {
				l = r
			}
			return &nullCheck{e: l, wantNull: op == opEq}, tBool, nil
		}
		return &cmpExpr{op: op, l: l, r: r}, tBool, nil
	default:
		return arith(a.op, l, lt, r, rt)
	}
}

// coerceComparable checks that two operands may be compared. A quoted string
// against a date is read as a date, as Postgres casts a text bind.
func coerceComparable(l expr, lt ftype, r expr, rt ftype) (expr, expr, error) {
	if lt == tNull || rt == tNull || lt == rt {
		return l, r, nil
	}
	numeric := func(t ftype) bool { return t == tInt || t == tNum }
	if numeric(lt) && numeric(rt) {
		return l, r, nil
	}
	asDate := func(e expr) (expr, bool) {
		c, ok := e.(constExpr)
		if !ok {
			return nil, false
		}
		t, ok := parseJSDate(c.v.s)
		if !ok {
			return nil, false
		}
		return constExpr{vTime(t.UnixMilli())}, true
	}
	if lt == tTime && rt == tText {
		if d, ok := asDate(r); ok {
			return l, d, nil
		}
	}
	if lt == tText && rt == tTime {
		if d, ok := asDate(l); ok {
			return d, r, nil
		}
	}
	return nil, nil, errTranslate
}

type logicExpr struct {
	and  bool
	l, r predicate
}

func (e *logicExpr) eval(ec *evalCtx) value { return e.test(ec).value() }

func (e *logicExpr) test(ec *evalCtx) tri {
	// The deciding value: false for AND, true for OR.
	decides := triOf(!e.and)
	a := e.l.test(ec)
	if a == decides {
		return a
	}
	b := e.r.test(ec)
	if b == decides {
		return b
	}
	if a == triUnknown || b == triUnknown {
		return triUnknown
	}
	return triOf(e.and)
}

type cmpOp uint8

const (
	opEq cmpOp = iota
	opNe
	opGt
	opGe
	opLt
	opLe
)

var cmpOps = map[string]cmpOp{"eq": opEq, "ne": opNe, "gt": opGt, "ge": opGe, "lt": opLt, "le": opLe}

type cmpExpr struct {
	op   cmpOp
	l, r expr
}

// eval implements pinejs's comparison semantics: "x eq v" is
// "x IS NOT NULL AND x = v" (never true for null), "x ne v" its negation
// (true for null), and ordering comparisons with a null are unknown.
func (e *cmpExpr) eval(ec *evalCtx) value { return e.test(ec).value() }

func (e *cmpExpr) test(ec *evalCtx) tri {
	a, b := e.l.eval(ec), e.r.eval(ec)
	if a.t == tNull || b.t == tNull {
		switch e.op {
		case opEq:
			return triFalse
		case opNe:
			return triTrue
		}
		return triUnknown
	}
	c := compareValues(a, b)
	switch e.op {
	case opEq:
		return triOf(c == 0)
	case opNe:
		return triOf(c != 0)
	case opGt:
		return triOf(c > 0)
	case opGe:
		return triOf(c >= 0)
	case opLt:
		return triOf(c < 0)
	}
	return triOf(c <= 0)
}

// nullCheck is "x eq null" (IS NULL) or "x ne null" (IS NOT NULL).
type nullCheck struct {
	e        expr
	wantNull bool
}

func (n *nullCheck) eval(ec *evalCtx) value { return n.test(ec).value() }

func (n *nullCheck) test(ec *evalCtx) tri { return triOf((n.e.eval(ec).t == tNull) == n.wantNull) }

// compareValues orders two non-null values of comparable types; text
// compares bytewise (C collation).
func compareValues(a, b value) int {
	switch {
	case a.t == tText:
		return strings.Compare(a.s, b.s)
	case a.t == tNum || b.t == tNum:
		x, y := a.num(), b.num()
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	switch {
	case a.i < b.i:
		return -1
	case a.i > b.i:
		return 1
	}
	return 0
}

func (v value) num() float64 {
	if v.t == tNum {
		return v.f
	}
	return float64(v.i)
}

func (cp *compiler) compileIn(a *ast) (expr, ftype, error) {
	args, types, err := cp.compileArgs(a.args)
	if err != nil {
		return nil, 0, err
	}
	e := &inExpr{l: args[0]}
	for i := 1; i < len(args); i++ {
		_, r, err := coerceComparable(args[0], types[0], args[i], types[i])
		if err != nil {
			return nil, 0, err
		}
		c, ok := r.(constExpr)
		if !ok {
			return nil, 0, errTranslate
		}
		e.set = append(e.set, c.v)
	}
	return e, tBool, nil
}

type inExpr struct {
	l   expr
	set []value
}

func (e *inExpr) eval(ec *evalCtx) value { return e.test(ec).value() }

func (e *inExpr) test(ec *evalCtx) tri {
	v := e.l.eval(ec)
	if v.t == tNull {
		return triUnknown
	}
	for _, s := range e.set {
		if s.t != tNull && compareValues(v, s) == 0 {
			return triTrue
		}
	}
	return triFalse
}

type arithExpr struct {
	op   string
	l, r expr
	out  ftype
}

func arith(op string, l expr, lt ftype, r expr, rt ftype) (expr, ftype, error) {
	numeric := func(t ftype) bool { return t == tInt || t == tNum || t == tNull }
	var out ftype
	switch {
	case numeric(lt) && numeric(rt):
		out = tNum
		if lt == tInt && rt == tInt {
			out = tInt
		}
	case lt == tTime && rt == tDur && (op == "add" || op == "sub"):
		out = tTime
	case lt == tDur && rt == tTime && op == "add":
		out = tTime
	case lt == tTime && rt == tTime && op == "sub":
		out = tDur
	case lt == tDur && rt == tDur && (op == "add" || op == "sub"):
		out = tDur
	case (lt == tTime || lt == tDur) && rt == tNull, lt == tNull && (rt == tTime || rt == tDur):
		out = tNull
	default:
		return nil, 0, errTranslate
	}
	return &arithExpr{op: op, l: l, r: r, out: out}, out, nil
}

func (e *arithExpr) eval(ec *evalCtx) value {
	a, b := e.l.eval(ec), e.r.eval(ec)
	if a.t == tNull || b.t == tNull || e.out == tNull {
		return null
	}
	switch e.out {
	case tTime, tDur:
		if e.op == "add" {
			return value{t: e.out, i: a.i + b.i}
		}
		return value{t: e.out, i: a.i - b.i}
	case tInt:
		x, y := a.i, b.i
		switch e.op {
		case "add":
			return vInt(x + y)
		case "sub":
			return vInt(x - y)
		case "mul":
			return vInt(x * y)
		}
		if y == 0 {
			ec.failed = true
			return null
		}
		if e.op == "div" {
			return vInt(x / y)
		}
		return vInt(x % y)
	}
	x, y := a.num(), b.num()
	var f float64
	switch e.op {
	case "add":
		f = x + y
	case "sub":
		f = x - y
	case "mul":
		f = x * y
	case "div", "mod":
		if y == 0 {
			ec.failed = true
			return null
		}
		if e.op == "div" {
			f = x / y
		} else {
			f = math.Mod(x, y)
		}
	}
	return value{t: tNum, f: f}
}

func (cp *compiler) compileArgs(in []*ast) ([]expr, []ftype, error) {
	args := make([]expr, len(in))
	types := make([]ftype, len(in))
	for i, arg := range in {
		e, t, err := cp.compile(arg)
		if err != nil {
			return nil, nil, err
		}
		args[i], types[i] = e, t
	}
	return args, types, nil
}

func (cp *compiler) compileCall(a *ast) (expr, ftype, error) {
	args, types, err := cp.compileArgs(a.args)
	if err != nil {
		return nil, 0, err
	}
	return callNode(a.op, args, types)
}

// nowExpr is now(): the request's clock, read once per request.
type nowExpr struct{}

func (nowExpr) eval(ec *evalCtx) value { return vTime(ec.now) }

type callExpr struct {
	name string
	fn   func(ec *evalCtx, v []value) value
	args []expr
	buf  []value
}

func (e *callExpr) eval(ec *evalCtx) value {
	for i, a := range e.args {
		v := a.eval(ec)
		if v.t == tNull {
			return null
		}
		e.buf[i] = v
	}
	return e.fn(ec, e.buf)
}

// signatures lists the argument types and result of each supported filter
// function; the grammar's other functions (cast, isof, time,
// totaloffsetminutes) do not translate and answer 500.
var signatures = map[string]struct {
	in  []ftype
	out ftype
	fn  func(ec *evalCtx, v []value) value
}{
	"contains":    {[]ftype{tText, tText}, tBool, func(_ *evalCtx, v []value) value { return vBool(strings.Contains(v[0].s, v[1].s)) }},
	"substringof": {[]ftype{tText, tText}, tBool, func(_ *evalCtx, v []value) value { return vBool(strings.Contains(v[1].s, v[0].s)) }},
	"startswith":  {[]ftype{tText, tText}, tBool, func(_ *evalCtx, v []value) value { return vBool(strings.HasPrefix(v[0].s, v[1].s)) }},
	"endswith":    {[]ftype{tText, tText}, tBool, func(_ *evalCtx, v []value) value { return vBool(strings.HasSuffix(v[0].s, v[1].s)) }},
	"tolower":     {[]ftype{tText}, tText, func(_ *evalCtx, v []value) value { return vText(strings.ToLower(v[0].s)) }},
	"toupper":     {[]ftype{tText}, tText, func(_ *evalCtx, v []value) value { return vText(strings.ToUpper(v[0].s)) }},
	"trim":        {[]ftype{tText}, tText, func(_ *evalCtx, v []value) value { return vText(strings.TrimSpace(v[0].s)) }},
	"length":      {[]ftype{tText}, tInt, func(_ *evalCtx, v []value) value { return vInt(int64(utf8.RuneCountInString(v[0].s))) }},
	"indexof": {[]ftype{tText, tText}, tInt, func(_ *evalCtx, v []value) value {
		i := strings.Index(v[0].s, v[1].s)
		if i < 0 {
			return vInt(-1)
		}
		return vInt(int64(utf8.RuneCountInString(v[0].s[:i])))
	}},
	"concat":  {[]ftype{tText, tText}, tText, func(_ *evalCtx, v []value) value { return vText(v[0].s + v[1].s) }},
	"replace": {[]ftype{tText, tText, tText}, tText, func(_ *evalCtx, v []value) value { return vText(strings.ReplaceAll(v[0].s, v[1].s, v[2].s)) }},
	"year":    {[]ftype{tTime}, tInt, timePart(func(t time.Time) int { return t.Year() })},
	"month":   {[]ftype{tTime}, tInt, timePart(func(t time.Time) int { return int(t.Month()) })},
	"day":     {[]ftype{tTime}, tInt, timePart(func(t time.Time) int { return t.Day() })},
	"hour":    {[]ftype{tTime}, tInt, timePart(func(t time.Time) int { return t.Hour() })},
	"minute":  {[]ftype{tTime}, tInt, timePart(func(t time.Time) int { return t.Minute() })},
	"second":  {[]ftype{tTime}, tInt, timePart(func(t time.Time) int { return t.Second() })},
	"fractionalseconds": {[]ftype{tTime}, tNum, func(_ *evalCtx, v []value) value {
		return value{t: tNum, f: float64(v[0].i%1000) / 1000}
	}},
	"date": {[]ftype{tTime}, tTime, func(_ *evalCtx, v []value) value {
		t := time.UnixMilli(v[0].i).UTC()
		return vTime(time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC).UnixMilli())
	}},
	"now":          {nil, tTime, nil}, // compiled to nowExpr
	"maxdatetime":  {nil, tTime, func(*evalCtx, []value) value { return vTime(253402300799999) }},
	"mindatetime":  {nil, tTime, func(*evalCtx, []value) value { return vTime(-62135596800000) }},
	"totalseconds": {[]ftype{tDur}, tNum, func(_ *evalCtx, v []value) value { return value{t: tNum, f: float64(v[0].i) / 1000} }},
	"round":        {[]ftype{tNum}, tNum, numFn(math.Round)},
	"floor":        {[]ftype{tNum}, tNum, numFn(math.Floor)},
	"ceiling":      {[]ftype{tNum}, tNum, numFn(math.Ceil)},
	"substring": {[]ftype{tText, tNum, tNum}, tText, func(_ *evalCtx, v []value) value {
		r := []rune(v[0].s)
		start := max(int(v[1].num()), 0)
		if start > len(r) {
			return vText("")
		}
		end := len(r)
		if len(v) == 3 && v[2].t != tNull {
			end = min(start+max(int(v[2].num()), 0), len(r))
		}
		return vText(string(r[start:end]))
	}},
}

func timePart(get func(time.Time) int) func(*evalCtx, []value) value {
	return func(_ *evalCtx, v []value) value { return vInt(int64(get(time.UnixMilli(v[0].i).UTC()))) }
}

func numFn(f func(float64) float64) func(*evalCtx, []value) value {
	return func(_ *evalCtx, v []value) value { return value{t: tNum, f: f(v[0].num())} }
}

func callNode(name string, args []expr, types []ftype) (expr, ftype, error) {
	sig, ok := signatures[name]
	if !ok {
		return nil, 0, errTranslate
	}
	for i, t := range types {
		want := sig.in[min(i, len(sig.in)-1)]
		if t == tNull || t == want || (want == tNum && t == tInt) {
			continue
		}
		return nil, 0, errTranslate
	}
	if name == "now" {
		return nowExpr{}, tTime, nil
	}
	if name == "contains" || name == "startswith" || name == "endswith" {
		if e, ok := foldedMatch(name, args); ok {
			return e, tBool, nil
		}
	}
	return &callExpr{name: name, fn: sig.fn, args: args, buf: make([]value, len(args))}, sig.out, nil
}

// foldedMatch compiles contains/startswith/endswith(tolower(x), 'lit') - the
// usual case-insensitive search - into a match that folds ASCII on the fly
// instead of allocating a lowered copy of every row's text.
func foldedMatch(name string, args []expr) (expr, bool) {
	lower, ok := args[0].(*callExpr)
	if !ok || lower.name != "tolower" {
		return nil, false
	}
	lit, ok := args[1].(constExpr)
	if !ok || lit.v.t != tText || strings.ToLower(lit.v.s) != lit.v.s {
		return nil, false
	}
	return &foldExpr{op: name, x: lower.args[0], lit: lit.v.s}, true
}

type foldExpr struct {
	op  string
	x   expr
	lit string
}

func (e *foldExpr) eval(ec *evalCtx) value { return e.test(ec).value() }

func (e *foldExpr) test(ec *evalCtx) tri {
	v := e.x.eval(ec)
	if v.t == tNull {
		return triUnknown
	}
	s := v.s
	if !isASCII(s) {
		s = strings.ToLower(s)
		switch e.op {
		case "contains":
			return triOf(strings.Contains(s, e.lit))
		case "startswith":
			return triOf(strings.HasPrefix(s, e.lit))
		}
		return triOf(strings.HasSuffix(s, e.lit))
	}
	switch e.op {
	case "startswith":
		return triOf(len(s) >= len(e.lit) && foldEqualASCII(s[:len(e.lit)], e.lit))
	case "endswith":
		return triOf(len(s) >= len(e.lit) && foldEqualASCII(s[len(s)-len(e.lit):], e.lit))
	}
	if e.lit == "" {
		return triOf(true)
	}
	first := e.lit[0]
	for i := 0; i+len(e.lit) <= len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c == first && foldEqualASCII(s[i+1:i+len(e.lit)], e.lit[1:]) {
			return triOf(true)
		}
	}
	return triOf(false)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// foldEqualASCII compares s, lowered, with an already lower-case lit.
func foldEqualASCII(s, lit string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lit[i] {
			return false
		}
	}
	return true
}
