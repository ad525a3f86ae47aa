package views

// KeyForm is the create or edit form's values as typed, with a message per
// field that balena's rules refused.
type KeyForm struct {
	Kind        string
	Name        string
	Description string
	Fleet       string
	Device      string
	Expiry      string
	ExpiryDate  string
	Errors      map[string]string

	// The organization's policy, shown beside the fields it governs; ""
	// when there is none.
	ExpiryRule      string
	LatestDay       string // YYYY-MM-DD: the last day a custom expiry may name
	DescriptionRule string
}

// KeyCreate is the create-key page, in one of three states: the form, the
// password prompt balena's freshness rule needs, or the new secret.
type KeyCreate struct {
	Page
	ExpiryOptions   []Option // the choices the policy allows
	Action          string
	Form            KeyForm
	Fleets          []string // slugs
	Flash           Flash
	CanCreateUser   bool // false when signed in with an API key
	ConfirmPassword bool // balena wants the password again first
	Created         *CreatedKey
	CancelURL       string
	DevicesURL      string // suggestions for the device field
}

// DeviceOption is a device the device field suggests.
type DeviceOption struct {
	UUID  string
	Label string // "gw-17 · acme/plant-3"
}

// CreatedKey is a new key and its secret, shown exactly once.
type CreatedKey struct {
	Secret  string
	Name    string
	Kind    string
	Owner   string
	Expires string
}

// KeyEdit is the edit page of one key.
type KeyEdit struct {
	Page
	ExpiryOptions []Option // the choices the policy allows
	Action        string
	Key           KeyRow
	Form          KeyForm
	Flash         Flash
	CancelURL     string
	OnKeyPage     bool // CancelURL is the key's own page
	// Breach says how the key's expiry already breaks the lifetime
	// policy, beside the expiry field; "" when it keeps it. Keeping the
	// expiry stays allowed (a rename is not a breach the portal makes),
	// and Fix sets it to the latest the policy allows in one click.
	Breach string
	Fix    *ExpiryFix
}

// ExpiryFix is a one-click form setting a key's expiry to a date.
type ExpiryFix struct {
	Action string
	Date   string // YYYY-MM-DD, a custom expiry (through the end of that day)
	Day    string // Date in words: "28 Feb 2027"
	Return string
}

// KeyRevoke asks to confirm a revocation, naming the key.
type KeyRevoke struct {
	Page
	Action    string
	Key       KeyRow
	Label     string
	Return    string
	CancelURL string
}

// ExpiryOptions are the expiry choices for a new key, in order, before a
// policy leaves some out.
var ExpiryOptions = []Option{
	{"1d", "1 day"}, {"7d", "7 days"}, {"30d", "30 days"}, {"90d", "90 days"},
	{"1y", "1 year"}, {"custom", "Custom date…"}, {"never", "Never"},
}
