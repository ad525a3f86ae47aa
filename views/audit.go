package views

// Audit is the audit page: the filters, one page of events and who may
// see what.
type Audit struct {
	Page    Page
	Action  string // the page's own URL, where the filter form goes
	Filter  AuditFilter
	Results AuditResults
	Scope   string   // which events this user sees, in a sentence
	Actions []Option // the audit trail's actions, for the filter
}

// AuditFilter is the filter form's values: as the URL gave them where
// they were not valid, so that the user sees what to fix.
type AuditFilter struct {
	Actor, Action, Key, Kind, Fleet, Outcome, After, Before string
	Errors                                                  map[string]string
}

// AuditResults are one page of events, or why there are none.
type AuditResults struct {
	Rows                  []AuditRow
	Total, From, To       int
	Page, Pages           int
	PrevURL, NextURL      string
	ExportCSV, ExportJSON string
	Empty                 string
	Flash                 Flash
	Failed                bool
	Return                string // this view, for Retry
}

// AuditRow is one event. Every text in it came from balena or a user and
// is written as text, never as markup.
type AuditRow struct {
	ID                       int64
	When, WhenISO, WhenExact string
	Who                      string
	Action                   string // in words
	Key, NewKey              string // "#123"; "" when none
	KeyURL, NewKeyURL        string // their pages
	KeyName, Kind, Owner     string // KeyName as it was then
	Changes                  []string
	Outcome, Reason          string
	Verified, Bulk           bool
	RequestID                string
}

// AuditFilterFields are the audit filter form's fields with a message slot.
var AuditFilterFields = []string{"actor", "action", "key", "kind", "fleet", "outcome", "after", "before", "page"}

// OutcomeOptions are the outcomes an event can have.
var OutcomeOptions = []Option{{"ok", "Done"}, {"failed", "Failed"}, {"unknown", "Unknown"}}
