package balenasim

import (
	"net/http"
	"strings"
	"testing"
)

// The conformance table: one request per row against a freshly seeded demo
// sim, with the status and body that balena answers (sections 3.2, 6.4 and
// 10 of the contract, the OData features of 9.6, and the balena docs' own
// examples). Ids refer to the demo dataset:
//
//	admin's keys 1-6 (ci-deploy, terraform, grafana-readonly, backup-script,
//	old-laptop, legacy unnamed), twofa's 7, bob's 8-9, eve's 10,
//	provisioning keys 11-18 (plant-1 ×2, plant-3 ×2, warehouse, lab, hq,
//	public), device keys 19-28, gw-17 rotated 29, press-ctrl maintenance 30.
//	Actors: users 1-4, fleets 5-10, devices 11-20.

type conformanceCase struct {
	name    string
	profile Profile
	as      string // credential, see credential()
	method  string // default GET
	target  string
	body    string
	status  int
	check   check
}

var (
	gw17UUID     = hexID("device/acme/plant-3/gw-17")
	gw01UUID     = hexID("device/acme/plant-1/gw-01")
	long50       = strings.Repeat("n", 50)
	long51       = strings.Repeat("n", 51)
	long150      = strings.Repeat("d", 150)
	long151      = strings.Repeat("d", 151)
	deepParens   = strings.Repeat("(", 60) + "id%20eq%201" + strings.Repeat(")", 60)
	deepExpand   = strings.Repeat("is_of__actor($expand=api_key($expand=", 30) + "is_of__actor" + strings.Repeat("))", 30)
	adminKeyIDs  = []int{1, 2, 3, 4, 5, 6}
	visibleCount = 23
)

const k = "/v7/api_key"

func conformanceCases() []conformanceCase {
	ob := ProfileOpenBalena
	return []conformanceCase{
		// Login, 2FA, whoami, refresh (section 5).
		{name: "login by email", method: "POST", target: "/login_", body: `{"username":"admin@example.com","password":"demo-password"}`, status: 200, check: has("eyJ")},
		{name: "login by username", method: "POST", target: "/login_", body: `{"username":"admin","password":"demo-password"}`, status: 200, check: has("eyJ")},
		{name: "login wrong password", method: "POST", target: "/login_", body: `{"username":"admin@example.com","password":"nope"}`, status: 401, check: emptyBody},
		{name: "login unknown user", method: "POST", target: "/login_", body: `{"username":"who@example.com","password":"demo-password"}`, status: 401, check: emptyBody},
		{name: "login empty body", method: "POST", target: "/login_", status: 401, check: emptyBody},
		{name: "login 2fa user gets partial token", method: "POST", target: "/login_", body: `{"username":"2fa@example.com","password":"demo-password"}`, status: 200, check: has("eyJ")},
		{name: "totp verify without partial token", as: "admin", method: "POST", target: "/auth/totp/verify", body: `{"code":"000000"}`, status: 401, check: emptyBody},
		{name: "actor whoami session", as: "admin", target: "/actor/v1/whoami", status: 200, check: exact(`{"id":1,"actorType":"user","actorTypeId":1,"username":"admin","email":"admin@example.com"}`)},
		{name: "actor whoami user key", as: "userkey", target: "/actor/v1/whoami", status: 200, check: exact(`{"id":1,"actorType":"user","actorTypeId":1,"username":"admin","email":"admin@example.com"}`)},
		{name: "actor whoami provisioning key", as: "provkey", target: "/actor/v1/whoami", status: 200, check: exact(`{"id":5,"actorType":"application","actorTypeId":1,"slug":"acme/plant-1"}`)},
		{name: "actor whoami device key", as: "devkey", target: "/actor/v1/whoami", status: 200, check: has(`{"id":16,"actorType":"device","actorTypeId":6,"uuid":"`)},
		{name: "actor whoami anonymous", target: "/actor/v1/whoami", status: 401, check: emptyBody},
		{name: "actor whoami expired key", as: "expiredkey", target: "/actor/v1/whoami", status: 401, check: emptyBody},
		{name: "actor whoami unknown key", as: "garbage", target: "/actor/v1/whoami", status: 401, check: emptyBody},
		{name: "actor whoami forged JWT", as: "badjwt", target: "/actor/v1/whoami", status: 401, check: emptyBody},
		{name: "user whoami session", as: "admin", target: "/user/v1/whoami", status: 200, check: exact(`{"id":1,"username":"admin","email":"admin@example.com"}`)},
		{name: "user whoami user key", as: "userkey", target: "/user/v1/whoami", status: 200, check: exact(`{"id":1,"username":"admin","email":"admin@example.com"}`)},
		{name: "user whoami provisioning key", as: "provkey", target: "/user/v1/whoami", status: 401, check: emptyBody},
		{name: "user whoami device key", as: "devkey", target: "/user/v1/whoami", status: 401, check: emptyBody},
		{name: "refresh GET", as: "admin", target: "/user/v1/refresh-token", status: 200, check: has("eyJ")},
		{name: "refresh POST with password", as: "stale", method: "POST", target: "/user/v1/refresh-token", body: `{"password":"demo-password"}`, status: 200, check: has("eyJ")},
		{name: "refresh POST wrong password", as: "admin", method: "POST", target: "/user/v1/refresh-token", body: `{"password":"nope"}`, status: 401, check: emptyBody},
		{name: "refresh with API key", as: "userkey", target: "/user/v1/refresh-token", status: 401, check: emptyBody},
		{name: "refresh anonymous", target: "/user/v1/refresh-token", status: 401, check: emptyBody},
		{name: "ping", target: "/ping", status: 200, check: exact("OK")},
		{name: "unknown route", target: "/nope", status: 404, check: emptyBody},
		{name: "unknown API version", as: "admin", target: "/v99/api_key", status: 404, check: emptyBody},

		// Who sees which keys (section 4).
		{name: "admin lists visible keys", as: "admin", target: k, status: 200, check: nrows(visibleCount)},
		{name: "admin count", as: "admin", target: k + "/$count", status: 200, check: count(visibleCount)},
		{name: "member sees own keys and granted fleet", as: "bob", target: k + "?$select=id", status: 200, check: ids(8, 9, 11, 12, 19, 20, 21)},
		{name: "2fa member count", as: "twofa", target: k + "/$count", status: 200, check: count(8)},
		{name: "named user key reads like its user", as: "userkey", target: k + "/$count", status: 200, check: count(visibleCount)},
		{name: "provisioning key cannot list keys", as: "provkey", target: k, status: 401, check: emptyBody},
		{name: "device key cannot list keys", as: "devkey", target: k, status: 401, check: emptyBody},
		{name: "anonymous cannot list keys", target: k, status: 401, check: emptyBody},
		{name: "expired key is anonymous", as: "expiredkey", target: k, status: 401, check: emptyBody},
		{name: "apikey query parameter", target: k + "/$count?apikey=" + "GRAFANA", status: 200, check: count(visibleCount)},
		{name: "default field order", as: "admin", target: k + "(1)", status: 200, check: fieldOrder("created_at", "id", "expiry_date", "is_of__actor", "name", "description")},
		{name: "get by id", as: "admin", target: k + "(1)", status: 200, check: exact(`{"d":[{"created_at":"2025-12-16T12:00:00.000Z","id":1,"expiry_date":"2026-01-19T12:00:00.000Z","is_of__actor":{"__id":1},"name":"ci-deploy","description":"GitHub Actions deploys"}]}`)},
		{name: "another user's key is invisible", as: "admin", target: k + "(8)", status: 200, check: exact(`{"d":[]}`)},
		{name: "missing id", as: "admin", target: k + "(999)", status: 200, check: exact(`{"d":[]}`)},
		{name: "text key on integer id", as: "admin", target: k + "('x')", status: 500, check: emptyBody},
		{name: "select", as: "admin", target: k + "?$select=id,name&$filter=id%20eq%201", status: 200, check: exact(`{"d":[{"id":1,"name":"ci-deploy"}]}`)},
		{name: "key is not readable on balenaCloud", as: "admin", target: k + "?$select=key", status: 500, check: emptyBody},
		{name: "modified_at is not exposed on balenaCloud", as: "admin", target: k + "?$select=modified_at", status: 500, check: emptyBody},
		{name: "actor count", as: "admin", target: "/v7/actor/$count", status: 200, check: count(17)},

		// open-balena profile (sections 4.1, 10).
		{name: "ob: own keys only", profile: ob, as: "admin", target: k + "?$select=id", status: 200, check: ids(adminKeyIDs...)},
		{name: "ob: listing includes the key", profile: ob, as: "admin", target: k + "(1)", status: 200, check: fieldOrder("created_at", "modified_at", "id", "key", "expiry_date", "is_of__actor", "name", "description")},
		{name: "ob: select key", profile: ob, as: "admin", target: k + "?$select=key&$top=1", status: 200, check: has(`{"d":[{"key":"`)},
		{name: "ob: expand actor is 401", profile: ob, as: "admin", target: k + "?$expand=is_of__actor", status: 401, check: emptyBody},
		{name: "ob: lambda through actor is 401", profile: ob, as: "admin", target: k + "?$filter=is_of__actor/any(a:a/is_of__user/any(u:u/id%20eq%201))", status: 401, check: emptyBody},
		{name: "ob: actor resource is 401", profile: ob, as: "admin", target: "/v7/actor", status: 401, check: emptyBody},
		{name: "ob: is_of__actor eq works", profile: ob, as: "admin", target: k + "/$count?$filter=is_of__actor%20eq%201", status: 200, check: count(6)},
		{name: "ob: member count", profile: ob, as: "bob", target: k + "/$count", status: 200, check: count(2)},
		{name: "ob: user key cannot patch", profile: ob, as: "userkey", method: "PATCH", target: k + "(1)", body: `{"name":"x"}`, status: 401, check: emptyBody},

		// The balena docs' examples (section 2.1).
		{name: "docs: keys of a device by uuid", as: "admin", target: k + "?$select=id&$filter=is_of__actor/any(a:a/is_of__device/any(d:d/uuid%20eq%20'" + gw17UUID + "'))", status: 200, check: ids(22, 29)},
		{name: "keys of a device by name or uuid prefix", as: "admin", target: k + "?$select=id&$filter=is_of__actor/any(a:a/is_of__device/any(d:(d/device_name%20eq%20'gw-17'%20or%20startswith(d/uuid,'" + gw17UUID[:7] + "'))))", status: 200, check: ids(22, 29)},
		{name: "keys of a device by uuid prefix alone", as: "admin", target: k + "?$select=id&$filter=is_of__actor/any(a:a/is_of__device/any(d:(d/device_name%20eq%20'" + gw17UUID[:7] + "'%20or%20startswith(d/uuid,'" + gw17UUID[:7] + "'))))", status: 200, check: ids(22, 29)},
		{name: "keys of a fleet by name, and of its devices", as: "admin", target: k + "/$count?$filter=is_of__actor/any(a:(a/is_of__application/any(f:(f/slug%20eq%20'plant-3'%20or%20f/app_name%20eq%20'plant-3'))%20or%20a/is_of__device/any(d:d/belongs_to__application/any(df:(df/slug%20eq%20'plant-3'%20or%20df/app_name%20eq%20'plant-3')))))", status: 200, check: count(7)},
		{name: "docs: keys of a fleet by slug", as: "admin", target: k + "?$select=id&$filter=is_of__actor/any(a:a/is_of__application/any(ioa:ioa/slug%20eq%20'acme/plant-1'))", status: 200, check: ids(11, 12)},
		{name: "docs: broken user filter as printed", as: "admin", target: k + "?$filter=is_of__actor/any(a:a/is_of__user%20eq%201))", status: 400, check: malformed()},
		{name: "docs: user filter with balanced parens", as: "admin", target: k + "?$filter=is_of__actor/any(a:a/is_of__user%20eq%201)", status: 500, check: emptyBody},
		{name: "user keys through a nested lambda", as: "admin", target: k + "?$select=id&$filter=is_of__actor/any(a:a/is_of__user/any(u:u/id%20eq%201))", status: 200, check: ids(adminKeyIDs...)},
		{name: "is_of__actor eq", as: "admin", target: k + "?$select=id&$filter=is_of__actor%20eq%201", status: 200, check: ids(adminKeyIDs...)},
		{name: "is_of__actor in", as: "admin", target: k + "?$select=id&$filter=is_of__actor%20in%20(5,6)", status: 200, check: ids(11, 12, 13, 14)},
		{name: "lambda ne 0", as: "admin", target: k + "?$select=id&$filter=is_of__actor/any(a:a/is_of__user/any(u:u/id%20ne%200))", status: 200, check: ids(adminKeyIDs...)},
		{name: "nav count in lambda", as: "admin", target: k + "/$count?$filter=is_of__actor/any(a:a/is_of__device/$count%20gt%200)", status: 200, check: count(11)},
		{name: "not lambda", as: "admin", target: k + "/$count?$filter=not(is_of__actor/any(a:a/is_of__device/$count%20gt%200))", status: 200, check: count(12)},
		{name: "all lambda", as: "admin", target: k + "/$count?$filter=is_of__actor/all(a:a/id%20eq%201)", status: 200, check: count(6)},
		{name: "any() without lambda", as: "admin", target: k + "?$filter=is_of__actor/any(a:a/is_of__user/any())", status: 500, check: emptyBody},
		{name: "expand owners", as: "admin", target: k + "?$select=id&$filter=id%20eq%201&$expand=is_of__actor($select=id;$expand=is_of__user($select=id,username),is_of__application($select=slug),is_of__device($select=uuid,device_name))", status: 200,
			check: exact(`{"d":[{"is_of__actor":[{"is_of__user":[{"id":1,"username":"admin"}],"is_of__application":[],"is_of__device":[],"id":1}],"id":1}]}`)},
		{name: "expand nav count", as: "admin", target: k + "?$select=id&$filter=id%20eq%201&$expand=is_of__actor($select=id;$expand=is_of__device/$count)", status: 200, check: exact(`{"d":[{"is_of__actor":[{"is_of__device":0,"id":1}],"id":1}]}`)},
		{name: "expand device owner", as: "admin", target: k + "?$select=id&$filter=id%20eq%2019&$expand=is_of__actor($select=id;$expand=is_of__device($select=device_name))", status: 200, check: exact(`{"d":[{"is_of__actor":[{"is_of__device":[{"device_name":"gw-01"}],"id":11}],"id":19}]}`)},
		{name: "expand with filter", as: "admin", target: k + "?$select=id&$filter=id%20eq%201&$expand=is_of__actor($select=id;$filter=id%20eq%20999)", status: 200, check: exact(`{"d":[{"is_of__actor":[],"id":1}]}`)},
		{name: "expand unknown navigation", as: "admin", target: k + "?$expand=nope", status: 401, check: emptyBody},
		{name: "unknown navigation in lambda", as: "admin", target: k + "?$filter=is_of__actor/nope/any(x:true)", status: 401, check: emptyBody},
		{name: "to-one path", as: "admin", target: k + "?$select=id&$filter=is_of__actor/id%20eq%201", status: 200, check: ids(adminKeyIDs...)},

		// Null rules and three-valued logic (section 6.2).
		{name: "eq null", as: "admin", target: k + "?$select=id&$filter=expiry_date%20eq%20null", status: 200, check: ids(3, 6, 11, 14, 19, 20, 21, 22, 23, 24, 25, 26, 27)},
		{name: "ne null", as: "admin", target: k + "/$count?$filter=expiry_date%20ne%20null", status: 200, check: count(10)},
		{name: "eq value", as: "admin", target: k + "?$select=id&$filter=name%20eq%20'ci-deploy'", status: 200, check: ids(1)},
		{name: "ne value matches nulls", as: "admin", target: k + "/$count?$filter=name%20ne%20'ci-deploy'", status: 200, check: count(22)},
		{name: "name eq null", as: "admin", target: k + "/$count?$filter=name%20eq%20null", status: 200, check: count(11)},
		{name: "gt skips nulls", as: "admin", target: k + "/$count?$filter=name%20gt%20'm'", status: 200, check: count(7)},
		{name: "not gt skips nulls too", as: "admin", target: k + "/$count?$filter=not(name%20gt%20'm')", status: 200, check: count(5)},
		{name: "boolean literal filter", as: "admin", target: k + "/$count?$filter=true", status: 200, check: count(visibleCount)},

		// String functions.
		{name: "contains", as: "admin", target: k + "?$select=id&$filter=contains(name,'prov')", status: 200, check: ids(11, 13, 15, 16)},
		{name: "contains is case-sensitive", as: "admin", target: k + "?$select=id&$filter=contains(name,'PROV')", status: 200, check: ids()},
		{name: "contains tolower", as: "admin", target: k + "?$select=id&$filter=contains(tolower(name),'prov')", status: 200, check: ids(11, 13, 15, 16)},
		{name: "contains tolower on description", as: "admin", target: k + "?$select=id&$filter=contains(tolower(description),'vendor')", status: 200, check: ids(30)},
		{name: "startswith", as: "admin", target: k + "?$select=id&$filter=startswith(name,'plant-')", status: 200, check: ids(11, 12, 13)},
		{name: "endswith", as: "admin", target: k + "?$select=id&$filter=endswith(name,'prov')", status: 200, check: ids(13, 15, 16)},
		{name: "substringof", as: "admin", target: k + "?$select=id&$filter=substringof('deploy',name)", status: 200, check: ids(1)},
		{name: "toupper", as: "admin", target: k + "?$select=id&$filter=toupper(name)%20eq%20'TERRAFORM'", status: 200, check: ids(2)},
		{name: "length", as: "admin", target: k + "?$select=id&$filter=length(name)%20eq%209", status: 200, check: ids(1, 2)},
		{name: "indexof", as: "admin", target: k + "?$select=id&$filter=indexof(name,'-')%20eq%202", status: 200, check: ids(1, 29)},
		{name: "trim", as: "admin", target: k + "?$select=id&$filter=trim(name)%20eq%20'terraform'", status: 200, check: ids(2)},
		{name: "concat", as: "admin", target: k + "?$select=id&$filter=concat(name,'!')%20eq%20'terraform!'", status: 200, check: ids(2)},
		{name: "substring", as: "admin", target: k + "?$select=id&$filter=substring(name,0,2)%20eq%20'ci'", status: 200, check: ids(1)},
		{name: "wrong arity is malformed", as: "admin", target: k + "?$filter=contains(name)", status: 400, check: malformed()},

		// Dates, now(), durations.
		{name: "year", as: "admin", target: k + "?$select=id&$filter=year(expiry_date)%20eq%202027", status: 200, check: ids(4)},
		{name: "month and day", as: "admin", target: k + "?$select=id&$filter=month(expiry_date)%20eq%201%20and%20day(expiry_date)%20eq%2019", status: 200, check: ids(1)},
		{name: "expired", as: "admin", target: k + "?$select=id&$filter=expiry_date%20ne%20null%20and%20expiry_date%20le%20now()", status: 200, check: ids(5, 12, 16, 29)},
		{name: "active", as: "admin", target: k + "/$count?$filter=expiry_date%20eq%20null%20or%20expiry_date%20gt%20now()", status: 200, check: count(19)},
		{name: "expiring within 7 days", as: "admin", target: k + "?$select=id&$filter=expiry_date%20gt%20now()%20and%20expiry_date%20lt%20now()%20add%20duration'P7D'", status: 200, check: ids(1, 2, 13, 30)},
		{name: "now sub duration", as: "admin", target: k + "?$select=id&$filter=expiry_date%20lt%20now()%20sub%20duration'P7D'", status: 200, check: ids(5, 12)},
		{name: "datetime literal", as: "admin", target: k + "?$select=id&$filter=expiry_date%20gt%20datetime'2026-06-01T00:00:00.000Z'", status: 200, check: ids(4)},
		{name: "date literal", as: "admin", target: k + "?$select=id&$filter=expiry_date%20lt%20date'2026-01-16'", status: 200, check: ids(5, 12, 16, 29)},
		{name: "quoted string against a date", as: "admin", target: k + "?$select=id&$filter=created_at%20gt%20'2026-01-01'", status: 200, check: ids(30)},
		{name: "unparsable string against a date", as: "admin", target: k + "?$filter=created_at%20gt%20'not%20a%20date'", status: 500, check: emptyBody},
		{name: "duration against a date", as: "admin", target: k + "?$filter=expiry_date%20gt%20duration'P1D'", status: 500, check: emptyBody},
		// A literal that does not parse falls back to the grammar's property
		// path, whose names may contain quotes: an unknown field.
		{name: "invalid date literal", as: "admin", target: k + "?$filter=expiry_date%20gt%20date'2026-13-45'", status: 500, check: emptyBody},
		{name: "zero duration does not parse", as: "admin", target: k + "?$filter=expiry_date%20gt%20now()%20add%20duration'P0D'", status: 500, check: emptyBody},
		{name: "bare ISO date", as: "admin", target: k + "?$filter=created_at%20gt%202025-01-01T00:00:00Z", status: 400, check: malformed()},

		// Errors (sections 6.4, 10.7).
		{name: "type mismatch id eq text", as: "admin", target: k + "?$filter=id%20eq%20'abc'", status: 500, check: emptyBody},
		{name: "type mismatch name eq number", as: "admin", target: k + "?$filter=name%20eq%205", status: 500, check: emptyBody},
		{name: "unknown field", as: "admin", target: k + "?$filter=foo%20eq%201", status: 500, check: emptyBody},
		{name: "unterminated string", as: "admin", target: k + "?$filter=name%20eq%20'abc", status: 500, check: emptyBody},
		{name: "double quotes", as: "admin", target: k + `?$filter=name%20eq%20"abc"`, status: 400, check: malformed()},
		{name: "unbalanced parenthesis", as: "admin", target: k + "?$filter=(name%20eq%20'x'", status: 400, check: malformed()},
		{name: "dangling and", as: "admin", target: k + "?$filter=name%20eq%20'x'%20and", status: 400, check: malformed()},
		{name: "not binds to one value", as: "admin", target: k + "?$filter=not%20id%20eq%201", status: 500, check: emptyBody},
		{name: "deep expand is malformed", as: "admin", target: k + "?$expand=" + deepExpand, status: 400, check: malformed()},
		{name: "deep nesting is malformed", as: "admin", target: k + "?$filter=" + deepParens, status: 400, check: malformed()},
		{name: "bad escape in literal", as: "admin", target: k + "?$filter=name%20eq%20'a%2'", status: 400, check: malformed()},
		{name: "division by zero", as: "admin", target: k + "?$filter=id%20div%200%20eq%201", status: 500, check: emptyBody},
		{name: "unknown dollar option", as: "admin", target: k + "?$bogus=1", status: 400, check: malformed()},
		{name: "empty filter", as: "admin", target: k + "?$filter=", status: 400, check: malformed()},
		{name: "empty select", as: "admin", target: k + "?$select=", status: 400, check: malformed()},
		{name: "trailing ampersand", as: "admin", target: k + "?$top=1&", status: 400, check: malformed()},
		{name: "trailing slash", as: "admin", target: k + "/", status: 400, check: malformed()},
		{name: "encoded comma in select", as: "admin", target: k + "?$select=id%2Cname", status: 400, check: malformed()},
		{name: "select a navigation path", as: "admin", target: k + "?$select=is_of__actor/id", status: 500, check: emptyBody},
		{name: "unknown resource", as: "admin", target: "/v7/nope", status: 401, check: emptyBody},
		{name: "malformed beats auth", target: k + "?$top=abc", status: 400, check: malformed()},

		// Logic, membership, arithmetic, encodings.
		{name: "and/or share precedence", as: "admin", target: k + "?$select=id&$filter=id%20eq%201%20or%20id%20eq%202%20and%20name%20eq%20'terraform'", status: 200, check: ids(2)},
		{name: "parenthesised or", as: "admin", target: k + "?$select=id&$filter=id%20eq%201%20or%20(id%20eq%202%20and%20name%20eq%20'terraform')", status: 200, check: ids(1, 2)},
		{name: "in", as: "admin", target: k + "?$select=id&$filter=id%20in%20(1,2,3)", status: 200, check: ids(1, 2, 3)},
		{name: "in with spaces", as: "admin", target: k + "?$select=id&$filter=id%20in%20(1,%202)", status: 200, check: ids(1, 2)},
		{name: "in skips missing ids", as: "admin", target: k + "?$select=id&$filter=id%20in%20(3,99999,1)", status: 200, check: ids(1, 3)},
		{name: "in and another condition", as: "admin", target: k + "?$select=id&$filter=id%20in%20(1,2,3)%20and%20name%20eq%20'terraform'", status: 200, check: ids(2)},
		{name: "in under or", as: "admin", target: k + "?$select=id&$filter=id%20in%20(1)%20or%20name%20eq%20'terraform'", status: 200, check: ids(1, 2)},
		{name: "in counted", as: "admin", target: k + "/$count?$filter=id%20in%20(1,2,99999)", status: 200, check: count(2)},
		{name: "in shows only visible keys", as: "bob", target: k + "?$select=id&$filter=id%20in%20(1,2,3)", status: 200, check: exact(`{"d":[]}`)},
		{name: "in of text is not an id", as: "admin", target: k + "?$filter=id%20in%20(1,'a')", status: 500, check: emptyBody},
		{name: "in texts", as: "admin", target: k + "?$select=id&$filter=name%20in%20('ci-deploy','nope')", status: 200, check: ids(1)},
		{name: "not", as: "admin", target: k + "/$count?$filter=not(id%20eq%201)", status: 200, check: count(22)},
		{name: "add", as: "admin", target: k + "?$select=id&$filter=id%20add%201%20eq%203", status: 200, check: ids(2)},
		{name: "mul", as: "admin", target: k + "?$select=id&$filter=id%20mul%202%20eq%204", status: 200, check: ids(2)},
		{name: "mod", as: "admin", target: k + "?$select=id&$filter=id%20mod%202%20eq%200%20and%20id%20le%204", status: 200, check: ids(2, 4)},
		{name: "doubled quote", as: "admin", target: k + "?$filter=name%20eq%20'O''Brien'", status: 200, check: exact(`{"d":[]}`)},
		{name: "percent-decoded literal", as: "admin", target: k + "?$select=id&$filter=name%20eq%20'plant-1%20provisioning'", status: 200, check: ids(11)},
		{name: "%27 quotes", as: "admin", target: k + "?$select=id&$filter=name%20eq%20%27ci-deploy%27", status: 200, check: ids(1)},
		{name: "plus as space", as: "admin", target: k + "?$select=id&$filter=name+eq+'ci-deploy'", status: 200, check: ids(1)},
		{name: "%24 as dollar", as: "admin", target: k + "?%24select=id&%24filter=name%20eq%20'ci-deploy'", status: 200, check: ids(1)},
		{name: "parameter alias", as: "admin", target: k + "?$select=id&$filter=name%20eq%20@n&@n='ci-deploy'", status: 200, check: ids(1)},
		{name: "booleans on device", as: "admin", target: "/v7/device/$count?$filter=is_online%20eq%20true", status: 200, check: count(6)},

		// $orderby, $top, $skip, $count.
		{name: "orderby asc", as: "admin", target: k + "?$select=name&$filter=name%20ne%20null&$orderby=name%20asc&$top=3", status: 200, check: names("backup-script", "ci-deploy", "grafana-readonly")},
		{name: "orderby desc puts nulls first", as: "admin", target: k + "?$select=name&$orderby=name%20desc&$top=2", status: 200, check: names("<nil>", "<nil>")},
		{name: "orderby without direction is desc", as: "admin", target: k + "?$select=name&$filter=name%20ne%20null&$orderby=name&$top=1", status: 200, check: names("warehouse prov")},
		{name: "orderby asc puts nulls last", as: "admin", target: k + "?$select=id&$filter=is_of__actor%20eq%201&$orderby=expiry_date%20asc", status: 200, check: ids(5, 2, 1, 4, 3, 6)},
		{name: "orderby desc nulls first", as: "admin", target: k + "?$select=id&$filter=is_of__actor%20eq%201&$orderby=expiry_date%20desc", status: 200, check: ids(3, 6, 4, 1, 2, 5)},
		{name: "orderby two keys", as: "admin", target: k + "?$select=id&$filter=is_of__actor%20eq%201&$orderby=created_at%20asc,id%20desc", status: 200, check: ids(6, 5, 3, 2, 4, 1)},
		{name: "orderby a to-one path", as: "admin", target: k + "?$select=id&$orderby=is_of__actor/id%20asc,id%20asc&$top=3", status: 200, check: ids(1, 2, 3)},
		{name: "orderby nav count", as: "admin", target: "/v7/application?$select=id&$orderby=owns__device/$count%20desc,id%20asc&$top=2", status: 200, check: ids(1, 2)},
		{name: "orderby an expression is malformed", as: "admin", target: k + "?$select=id&$orderby=name%20eq%20null%20asc,name%20desc", status: 400, check: malformed()},
		{name: "named keys Z-A then unnamed, as two filters", as: "admin", target: k + "?$select=name&$filter=name%20ne%20null&$orderby=name%20desc,id%20desc&$top=1", status: 200, check: names("warehouse prov")},
		{name: "orderby unknown field", as: "admin", target: k + "?$orderby=foo%20asc", status: 500, check: emptyBody},
		{name: "top and skip", as: "admin", target: k + "?$select=id&$top=2&$skip=1", status: 200, check: ids(2, 3)},
		{name: "skip past the end", as: "admin", target: k + "?$skip=100", status: 200, check: exact(`{"d":[]}`)},
		{name: "top zero", as: "admin", target: k + "?$top=0", status: 200, check: exact(`{"d":[]}`)},
		{name: "absurd top", as: "admin", target: k + "?$select=id&$top=1000000000", status: 200, check: nrows(visibleCount)},
		{name: "top and skip near int64 max", as: "admin", target: k + "?$select=id&$top=9223372036854775807&$skip=9223372036854775807", status: 200, check: exact(`{"d":[]}`)},
		{name: "top beyond int64 is malformed", as: "admin", target: k + "?$top=9223372036854775808", status: 400, check: malformed()},
		{name: "top negative", as: "admin", target: k + "?$top=-1", status: 400, check: malformed()},
		{name: "top not a number", as: "admin", target: k + "?$top=abc", status: 400, check: malformed()},
		{name: "skip negative", as: "admin", target: k + "?$skip=-1", status: 400, check: malformed()},
		{name: "count=true ignored", as: "admin", target: k + "?$select=id&$count=true", status: 200, check: nrows(visibleCount)},
		{name: "inlinecount ignored", as: "admin", target: k + "?$select=id&$inlinecount=allpages", status: 200, check: nrows(visibleCount)},
		{name: "format json", as: "admin", target: k + "?$select=id&$format=json", status: 200, check: nrows(visibleCount)},
		{name: "count ignores top and orderby", as: "admin", target: k + "/$count?$top=1&$orderby=name%20asc", status: 200, check: count(visibleCount)},
		{name: "count honours filter", as: "admin", target: k + "/$count?$filter=name%20ne%20null", status: 200, check: count(12)},
		{name: "encoded count path is malformed", as: "admin", target: k + "/%24count", status: 400, check: malformed()},

		// Other resources (section 7).
		{name: "fleets include public ones", as: "admin", target: "/v7/application?$select=slug", status: 200, check: nrows(5)},
		{name: "directly accessible fleets", as: "admin", target: "/v7/application?$select=id&$filter=is_directly_accessible_by__user/any(dau:true)", status: 200, check: ids(1, 2, 3, 4)},
		{name: "application fields", as: "admin", target: "/v7/application(1)", status: 200, check: fieldOrder("created_at", "id", "organization", "actor", "app_name", "slug", "uuid", "is_of__class", "is_public", "is_host", "is_archived")},
		{name: "fleet key reads its fleet", as: "provkey", target: "/v7/application?$select=slug", status: 200, check: exact(`{"d":[{"slug":"acme/plant-1"}]}`)},
		{name: "ob: fleet key reads no fleet", profile: ob, as: "provkey", target: "/v7/application?$select=slug", status: 200, check: exact(`{"d":[]}`)},
		{name: "ob: fleet key reads no fleet by id", profile: ob, as: "provkey", target: "/v7/application(1)?$select=slug", status: 200, check: exact(`{"d":[]}`)},
		{name: "ob: fleet key reads no device", profile: ob, as: "provkey", target: "/v7/device/$count", status: 200, check: count(0)},
		{name: "ob: user still reads fleets", profile: ob, as: "admin", target: "/v7/application/$count?$filter=is_directly_accessible_by__user/any(dau:true)", status: 200, check: count(4)},

		// Device connectivity (section 7): the dashboard's "Last seen".
		{name: "never seen is null", as: "admin", target: "/v7/device?$select=device_name&$filter=last_connectivity_event%20eq%20null", status: 200, check: has(`{"d":[{"device_name":"forklift-7"}]}`)},
		{name: "last seen lt a datetime", as: "admin", target: "/v7/device?$select=device_name&$filter=last_connectivity_event%20lt%20datetime'2025-12-16T00:00:00.000Z'&$orderby=device_name%20asc", status: 200, check: exact(`{"d":[{"device_name":"gw-18"},{"device_name":"sensor-a"}]}`)},
		{name: "last seen relative to now", as: "admin", target: "/v7/device/$count?$filter=last_connectivity_event%20lt%20now()%20sub%20duration'P90D'", status: 200, check: count(1)},
		{name: "heartbeat state", as: "admin", target: "/v7/device?$select=api_heartbeat_state&$filter=device_name%20in%20('gw-01','gw-18','forklift-7')&$orderby=id%20asc", status: 200, check: exact(`{"d":[{"api_heartbeat_state":"online"},{"api_heartbeat_state":"offline"},{"api_heartbeat_state":"unknown"}]}`)},
		{name: "last seen expanded through the key's owner", as: "admin", target: k + "(21)?$select=id&$expand=is_of__actor($select=id;$expand=is_of__device($select=is_online,last_connectivity_event))", status: 200, check: exact(`{"d":[{"is_of__actor":[{"is_of__device":[{"is_online":false,"last_connectivity_event":"2025-12-01T12:00:00.000Z"}],"id":13}],"id":21}]}`)},
		{name: "never seen expanded through the key's owner", as: "admin", target: k + "(26)?$select=id&$expand=is_of__actor($select=id;$expand=is_of__device($select=last_connectivity_event))", status: 200, check: has(`"is_of__device":[{"last_connectivity_event":null}]`)},
		{name: "stale device keys through the owner lambda", as: "admin", target: k + "?$select=id&$filter=is_of__actor/any(a:a/is_of__device/any(d:d/is_online%20eq%20false%20and%20(d/last_connectivity_event%20eq%20null%20or%20d/last_connectivity_event%20lt%20datetime'2025-12-16T00:00:00.000Z')))&$orderby=id%20asc", status: 200, check: ids(21, 23, 26)},
		{name: "stale device keys counted", as: "admin", target: k + "/$count?$filter=is_of__actor/any(a:a/is_of__device/any(d:d/is_online%20eq%20false%20and%20(d/last_connectivity_event%20eq%20null%20or%20d/last_connectivity_event%20lt%20datetime'2025-12-16T00:00:00.000Z')))", status: 200, check: count(3)},
		{name: "last seen is not text", as: "admin", target: "/v7/device?$filter=last_connectivity_event%20eq%201", status: 500, check: emptyBody},
		{name: "devices", as: "admin", target: "/v7/device/$count", status: 200, check: count(9)},
		{name: "device key reads itself", as: "devkey", target: "/v7/device?$select=device_name", status: 200, check: exact(`{"d":[{"device_name":"press-ctrl"}]}`)},
		{name: "device by uuid", as: "admin", target: "/v7/device(uuid='" + gw01UUID + "')?$select=id,device_name", status: 200, check: exact(`{"d":[{"id":1,"device_name":"gw-01"}]}`)},
		{name: "devices of a fleet", as: "admin", target: "/v7/device?$select=device_name&$filter=belongs_to__application%20eq%202", status: 200, check: exact(`{"d":[{"device_name":"gw-17"},{"device_name":"gw-18"},{"device_name":"press-ctrl"}]}`)},
		{name: "devices by fleet slug", as: "admin", target: "/v7/device/$count?$filter=belongs_to__application/slug%20eq%20'acme/plant-3'", status: 200, check: count(3)},
		{name: "device fields", as: "admin", target: "/v7/device(1)", status: 200, check: fieldOrder("created_at", "id", "actor", "belongs_to__application", "uuid", "device_name", "is_online", "is_active", "last_connectivity_event", "api_heartbeat_state")},
		{name: "users in my organizations", as: "admin", target: "/v7/user?$select=username", status: 200, check: exact(`{"d":[{"username":"admin"},{"username":"twofa"},{"username":"bob"}]}`)},
		{name: "user has no email field", as: "admin", target: "/v7/user?$select=email", status: 500, check: emptyBody},
		{name: "organizations", as: "admin", target: "/v7/organization?$select=handle", status: 200, check: exact(`{"d":[{"handle":"acme"}]}`)},
		{name: "memberships", as: "admin", target: "/v7/organization_membership/$count", status: 200, check: count(3)},
		{name: "membership roles", as: "admin", target: "/v7/organization_membership_role?$select=name", status: 200, check: exact(`{"d":[{"name":"administrator"},{"name":"member"}]}`)},
		{name: "v6 renders actor as integer", as: "admin", target: "/v6/user?$select=actor&$filter=id%20eq%201", status: 200, check: exact(`{"d":[{"actor":1}]}`)},
		{name: "POST api_key is refused", as: "admin", method: "POST", target: k, body: `{"name":"x"}`, status: 401, check: emptyBody},
		{name: "PUT api_key is refused", as: "admin", method: "PUT", target: k + "(1)", body: `{"name":"x"}`, status: 401, check: emptyBody},
		{name: "POST application is refused", as: "admin", method: "POST", target: "/v7/application", body: `{}`, status: 401, check: emptyBody},

		// PATCH and DELETE (sections 1.3, 10.8, 10.10).
		{name: "patch name", as: "admin", method: "PATCH", target: k + "(1)", body: `{"name":"renamed"}`, status: 200, check: emptyBody},
		{name: "patch expiry to null", as: "admin", method: "PATCH", target: k + "(5)", body: `{"expiry_date":null}`, status: 200, check: emptyBody},
		{name: "patch expiry date-only", as: "admin", method: "PATCH", target: k + "(1)", body: `{"expiry_date":"2030-01-01"}`, status: 200, check: emptyBody},
		{name: "patch expiry epoch ms", as: "admin", method: "PATCH", target: k + "(1)", body: `{"expiry_date":1893456000000}`, status: 200, check: emptyBody},
		{name: "patch empty object", as: "admin", method: "PATCH", target: k + "(1)", body: `{}`, status: 400, check: exact(`"No fields to update"`)},
		{name: "patch unknown fields only", as: "admin", method: "PATCH", target: k + "(1)", body: `{"foo":1}`, status: 500, check: emptyBody},
		{name: "patch invalid date", as: "admin", method: "PATCH", target: k + "(1)", body: `{"expiry_date":"garbage"}`, status: 400, check: emptyBody},
		{name: "patch name too long", as: "admin", method: "PATCH", target: k + "(1)", body: `{"name":"` + long51 + `"}`, status: 400, check: exact(`"` + nameTooLong + `"`)},
		{name: "patch description too long", as: "admin", method: "PATCH", target: k + "(1)", body: `{"description":"` + long151 + `"}`, status: 400, check: exact(`"` + descTooLong + `"`)},
		{name: "patch name of 50", as: "admin", method: "PATCH", target: k + "(1)", body: `{"name":"` + long50 + `"}`, status: 200, check: emptyBody},
		{name: "patch empty name kept", as: "admin", method: "PATCH", target: k + "(1)", body: `{"name":""}`, status: 200, check: emptyBody},
		{name: "patch invalid JSON", as: "admin", method: "PATCH", target: k + "(1)", body: `{"name":`, status: 400, check: emptyBody},
		{name: "patch foreign key is a no-op", as: "admin", method: "PATCH", target: k + "(8)", body: `{"name":"x"}`, status: 200, check: emptyBody},
		{name: "patch missing key is a no-op", as: "admin", method: "PATCH", target: k + "(999)", body: `{"name":"x"}`, status: 200, check: emptyBody},
		{name: "patch with user key", as: "userkey", method: "PATCH", target: k + "(1)", body: `{"name":"x"}`, status: 401, check: emptyBody},
		{name: "patch with provisioning key", as: "provkey", method: "PATCH", target: k + "(1)", body: `{"name":"x"}`, status: 401, check: emptyBody},
		{name: "patch anonymous", method: "PATCH", target: k + "(1)", body: `{"name":"x"}`, status: 401, check: emptyBody},
		{name: "bulk patch by filter", as: "admin", method: "PATCH", target: k + "?$filter=is_of__actor%20eq%201", body: `{"description":"bulk"}`, status: 200, check: emptyBody},
		{name: "delete", as: "admin", method: "DELETE", target: k + "(1)", status: 200, check: emptyBody},
		{name: "delete missing is a no-op", as: "admin", method: "DELETE", target: k + "(999)", status: 200, check: emptyBody},
		{name: "delete with user key", as: "userkey", method: "DELETE", target: k + "(1)", status: 401, check: emptyBody},

		// Creating keys (section 3).
		{name: "create user key", as: "admin", method: "POST", target: "/api-key/user/full", body: `{"name":"new","description":"d","expiryDate":null}`, status: 200, check: newKey()},
		{name: "create user key, future date", as: "admin", method: "POST", target: "/api-key/user/full", body: `{"name":"new","expiryDate":"2099-12-31"}`, status: 200, check: newKey()},
		{name: "create user key, past date", as: "admin", method: "POST", target: "/api-key/user/full", body: `{"name":"new","expiryDate":"2020-01-01T00:00:00.000Z"}`, status: 200, check: newKey()},
		{name: "create user key, unknown fields", as: "admin", method: "POST", target: "/api-key/user/full", body: `{"name":"new","foo":1}`, status: 200, check: newKey()},
		{name: "create user key, stale JWT", as: "stale", method: "POST", target: "/api-key/user/full", body: `{"name":"new"}`, status: 401, check: exact(`"Fresh authentication token required"`)},
		{name: "create user key with API key", as: "userkey", method: "POST", target: "/api-key/user/full", body: `{"name":"new"}`, status: 401, check: emptyBody},
		{name: "create user key anonymous", method: "POST", target: "/api-key/user/full", body: `{"name":"new"}`, status: 401, check: emptyBody},
		{name: "create user key, no name", as: "admin", method: "POST", target: "/api-key/user/full", body: `{}`, status: 400, check: emptyBody},
		{name: "create user key, empty name", as: "admin", method: "POST", target: "/api-key/user/full", body: `{"name":""}`, status: 400, check: emptyBody},
		{name: "create user key, numeric name", as: "admin", method: "POST", target: "/api-key/user/full", body: `{"name":5}`, status: 400, check: emptyBody},
		{name: "create user key, numeric expiry", as: "admin", method: "POST", target: "/api-key/user/full", body: `{"name":"n","expiryDate":123}`, status: 400, check: emptyBody},
		{name: "create user key, bad expiry", as: "admin", method: "POST", target: "/api-key/user/full", body: `{"name":"n","expiryDate":"nope"}`, status: 400, check: exact(`"Key expiry date should be a valid date"`)},
		{name: "create user key, name of 51", as: "admin", method: "POST", target: "/api-key/user/full", body: `{"name":"` + long51 + `"}`, status: 400, check: exact(`"` + nameTooLong + `"`)},
		{name: "create user key, name of 50", as: "admin", method: "POST", target: "/api-key/user/full", body: `{"name":"` + long50 + `"}`, status: 200, check: newKey()},
		{name: "create user key, description of 151", as: "admin", method: "POST", target: "/api-key/user/full", body: `{"name":"n","description":"` + long151 + `"}`, status: 400, check: exact(`"` + descTooLong + `"`)},
		{name: "create user key, description of 150", as: "admin", method: "POST", target: "/api-key/user/full", body: `{"name":"n","description":"` + long150 + `"}`, status: 200, check: newKey()},
		{name: "create user key, invalid JSON", as: "admin", method: "POST", target: "/api-key/user/full", body: `{"name":`, status: 400, check: has("<!DOCTYPE html>")},
		{name: "create provisioning key", as: "admin", method: "POST", target: "/api-key/application/1/provisioning", body: `{"name":"p"}`, status: 200, check: newKey()},
		{name: "create provisioning key, stale JWT", as: "stale", method: "POST", target: "/api-key/application/1/provisioning", body: `{}`, status: 200, check: newKey()},
		{name: "create provisioning key with user key", as: "userkey", method: "POST", target: "/api-key/application/1/provisioning", body: `{}`, status: 200, check: newKey()},
		{name: "create provisioning key, non-numeric id", as: "admin", method: "POST", target: "/api-key/application/abc/provisioning", body: `{}`, status: 400, check: exact("Application id must be a number")},
		{name: "create provisioning key, unknown fleet", as: "admin", method: "POST", target: "/api-key/application/999/provisioning", body: `{}`, status: 500, check: exact("Internal Server Error")},
		{name: "create provisioning key, public fleet", as: "admin", method: "POST", target: "/api-key/application/6/provisioning", body: `{}`, status: 403, check: emptyBody},
		{name: "create provisioning key, fleet not granted", as: "bob", method: "POST", target: "/api-key/application/2/provisioning", body: `{}`, status: 500, check: exact("Internal Server Error")},
		{name: "create provisioning key anonymous", method: "POST", target: "/api-key/application/1/provisioning", body: `{}`, status: 401, check: emptyBody},
		{name: "create provisioning key with a fleet key", as: "provkey", method: "POST", target: "/api-key/application/1/provisioning", body: `{}`, status: 401, check: emptyBody},
		{name: "create device key", as: "admin", method: "POST", target: "/api-key/device/1/device-key", body: `{"name":"d","expiryDate":null}`, status: 200, check: newKey()},
		{name: "create device key, invisible device", as: "admin", method: "POST", target: "/api-key/device/10/device-key", body: `{}`, status: 500, check: exact("Internal Server Error")},
		{name: "create via v2", as: "admin", method: "POST", target: "/api-key/v2/", body: `{"actorType":"application","actorTypeId":1,"roles":["provisioning-api-key"],"name":"n","description":null,"expiryDate":null}`, status: 200, check: newKey()},
		{name: "v2 needs expiryDate", as: "admin", method: "POST", target: "/api-key/v2", body: `{"actorType":"application","actorTypeId":1,"roles":["provisioning-api-key"]}`, status: 400, check: exact(`"Key expiry date should be a valid date"`)},
		{name: "v1 without expiryDate", as: "admin", method: "POST", target: "/api-key/v1", body: `{"actorType":"application","actorTypeId":1,"roles":["provisioning-api-key"]}`, status: 200, check: newKey()},
		{name: "v1 two roles", as: "admin", method: "POST", target: "/api-key/v1", body: `{"actorType":"application","actorTypeId":1,"roles":["provisioning-api-key","x"]}`, status: 400, check: exact(`"API Keys currently only support a single role"`)},
		{name: "v1 named role needs a name", as: "admin", method: "POST", target: "/api-key/v1", body: `{"actorType":"user","actorTypeId":1,"roles":["named-user-api-key"]}`, status: 400, check: exact(`"API keys with the 'named-user-api-key' role require a name"`)},
		{name: "v1 unknown actor type", as: "admin", method: "POST", target: "/api-key/v1", body: `{"actorType":"organization","actorTypeId":1,"roles":["x"]}`, status: 400, check: emptyBody},
		{name: "v1 another user's key", as: "admin", method: "POST", target: "/api-key/v1", body: `{"actorType":"user","actorTypeId":3,"roles":["named-user-api-key"],"name":"n"}`, status: 403, check: emptyBody},
		{name: "v1 user key needs fresh JWT", as: "stale", method: "POST", target: "/api-key/v1", body: `{"actorType":"user","actorTypeId":1,"roles":["named-user-api-key"],"name":"n"}`, status: 401, check: exact(`"Fresh authentication token required"`)},
		{name: "legacy user key", as: "admin", method: "POST", target: "/application/1/generate-api-key", body: `{}`, status: 200, check: newKey()},
	}
}

func TestConformance(t *testing.T) {
	cases := conformanceCases()
	if len(cases) < 120 {
		t.Fatalf("only %d conformance cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestSim(t, Options{Profile: tc.profile})
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			target := strings.ReplaceAll(tc.target, "GRAFANA", secretOf(t, s, "grafana-readonly"))
			status, _, body := do(t, s, method, target, tc.as, tc.body)
			if status != tc.status {
				t.Fatalf("%s %s: status %d, want %d (body %s)", method, target, status, tc.status, body)
			}
			if tc.check != nil {
				if msg := tc.check(target, body); msg != "" {
					t.Fatalf("%s %s: %s", method, target, msg)
				}
			}
		})
	}
}
