package views

// Keys is the keys page: the filter form and the results.
type Keys struct {
	Page
	Action     string // the form's GET target: the keys page itself
	Filter     KeyFilter
	Fleets     []string // slugs; an option's text is its value
	Results    KeyResults
	Flash      Flash // the outcome of the change that led here
	CreateURL  string
	DevicesURL string // suggestions for the device filter, as the create form has them
	Alerts     Alerts
}

// Alerts is one line saying whether expiry alerts are configured and when
// the next digest goes out; it names no destination or address.
type Alerts struct {
	Text       string
	NextDigest *FlashTime // nil: no digest is sent
}

// KeyFilter holds the filter form's values exactly as the URL had them, so
// a bad value is shown back to the user next to its message.
type KeyFilter struct {
	Q             string
	Kinds         map[string]bool
	Fleet         string
	Device        string
	Status        string
	Within        string
	CreatedAfter  string
	CreatedBefore string
	ExpiresAfter  string
	ExpiresBefore string
	SeenBefore    string
	Sort          string
	PerPage       string
	Policy        string            // "breach": the keys that break the policy
	PolicyOffered bool              // a policy is set, so its filter is offered
	Errors        map[string]string // field -> message
}

// ShowsPolicy says whether the form has the policy field: when a policy
// is set, and on a view that asks for it though none is (a bookmark kept
// from when one was), so that its message has a place.
func (f KeyFilter) ShowsPolicy() bool { return f.PolicyOffered || f.Policy != "" }

// Option is one choice of a select.
type Option struct {
	Value, Label string
}

// labelOf is how opts name value ("provisioning" is "Provisioning"), or
// value itself when none does.
func labelOf(opts []Option, value string) string {
	for _, o := range opts {
		if o.Value == value {
			return o.Label
		}
	}
	return value
}

// KeyResults is the part htmx swaps when a filter changes.
type KeyResults struct {
	Flash   Flash // an upstream failure, or a note about the URL
	Rows    []KeyRow
	Total   int
	From    int // 1-based index of the first row shown
	To      int
	Page    int
	Pages   int
	PrevURL string // "" on the first page
	NextURL string // "" on the last page
	Columns []Column
	Empty   string // what to say when there are no rows
	Failed  bool   // the list could not be loaded at all
	Sort    string // the view's sort as the URL writes it; the Sort control follows it
	CSRF    string // for the row actions' forms
	Return  string // this view's URL, where row actions come back to, and what Retry loads again

	BulkURL    string
	ExportCSV  string
	ExportJSON string
	CanChange  bool // false: no selection, bulk bar or row menus (API-key sessions)
	PolicyMax  bool // a maximum lifetime is set: the bulk bar offers setting it
	Menu       RowMenu
}

// Column is a table header; sortable ones link to their sort.
type Column struct {
	Label   string
	SortURL string // "" when not sortable
	Sorted  string // "ascending", "descending" or ""
}

// KeyRow is one key, formatted for display.
type KeyRow struct {
	ID          int64
	Name        string // "" shows as (unnamed)
	Label       string // names the key in its controls' labels (apikeys.Title)
	Kind        string
	Owner       string
	OwnerDetail string
	Description string
	// Times show relative, with the exact RFC 3339 moment on hover, which
	// app.js rewrites in the reader's own time zone.
	Created     string // "3 days ago"
	CreatedISO  string
	Expires     string // "never", "in 4 days", "expired 2 days ago"
	ExpiresISO  string
	ExpiryState string // an apikeys.Status: "never", "active", "expiring", "expired"; the menu's choices follow it
	// A device key's device: "Online", "Never" or when it was last seen
	// ("2 months ago", with LastSeenISO); "–" for other kinds.
	LastSeen      string
	LastSeenISO   string
	LastSeenState string // "online", "seen", "never" or "none" (not a device key); the phone layout follows it

	ActionsURL string // the row's menu as a page, for browsers without JavaScript
	URL        string // the key's own page; its name links there

	// A rotation's lineage, from the audit trail: the key this one
	// replaced and the key that replaced it (0 and "" when none).
	Replaces, ReplacedBy       int64
	ReplacesURL, ReplacedByURL string
}

// Active reports whether the key still works: "Expire now" applies.
func (k KeyRow) Active() bool { return k.ExpiryState != "expired" }

// HasExpiry reports whether the key expires at all: "Clear expiry" applies.
func (k KeyRow) HasExpiry() bool { return k.ExpiryState != "never" }

// RowMenu is what a key's menu offers. In the page-wide template that
// app.js fills each menu from, the URLs hold the slot {id}.
type RowMenu struct {
	EditURL   string
	RotateURL string
	RevokeURL string
	ExpireURL string
	ClearURL  string // "" when clearing an expiry is not allowed (a maximum lifetime)
}

// FilterFields are the filter form's fields that have a message slot.
var FilterFields = []string{"q", "kind", "fleet", "status", "within", "device", "created_after", "created_before",
	"expires_after", "expires_before", "seen_before", "policy", "sort", "per_page"}

// Sizes offered for a page of keys.
var PageSizes = []string{"10", "25", "50", "100"}

// Statuses offered by the status filter.
var Statuses = []Option{
	{"", "Any"}, {"active", "Active"}, {"expired", "Expired"},
	{"expiring", "Expiring soon"}, {"never", "Never expires"},
}

// KindOptions are the kinds of key, in the order they are offered.
var KindOptions = []Option{{"user", "User"}, {"provisioning", "Provisioning"}, {"device", "Device"}}

// SortOptions are the orders offered by the sort select.
var SortOptions = []Option{
	{"-created_at", "Newest first"}, {"created_at", "Oldest first"},
	{"name", "Name A–Z"}, {"-name", "Name Z–A"},
	{"expiry_date", "Expiring first"}, {"-expiry_date", "Expiring last"},
}

// KeyActions is one key's menu as a page of its own: what the row menu
// offers to a browser that runs no JavaScript.
type KeyActions struct {
	Page
	Key    KeyRow
	Label  string
	Menu   RowMenu
	Return string
}
