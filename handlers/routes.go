package handlers

// Route names: views and redirects reverse these instead of spelling paths.
const (
	routeSignIn       = "signin"
	routeSignInSubmit = "signin.submit"
	routeTOTP         = "signin.totp"
	routeTOTPSubmit   = "signin.totp.submit"
	routeSignOut      = "signout"
	routeSignOutAll   = "signout.everywhere"
	routeKeys         = "keys"
	routeOverview     = "overview"
	routeKeyNew       = "keys.new"
	routeKeyCreate    = "keys.create"
	routeKeyDevices   = "keys.new.devices"
	routeKeyShow      = "keys.show"
	routeKeyEdit      = "keys.edit"
	routeKeyRow       = "keys.row"
	routeKeyActions   = "keys.actions"
	routeKeyUpdate    = "keys.update"
	routeKeyExpire    = "keys.expire"
	routeKeyExpireAsk = "keys.expire.confirm"
	routeKeyExpiry    = "keys.expiry"
	routeKeyClearAsk  = "keys.expiry.confirm"
	routeKeyRevoke    = "keys.revoke"
	routeKeyDelete    = "keys.delete"
	routeKeyBulk      = "keys.bulk"
	routeKeyExport    = "keys.export"
	routeKeyRotate    = "keys.rotate"
	routeKeyRotateDo  = "keys.rotate.submit"
	routeAudit        = "audit"
	routeAuditExport  = "audit.export"
	routeReady        = "readyz"
)

// ctxCSRF is the Echo context key of the request's CSRF token. The names
// it travels under are views.CSRFField and views.CSRFHeader: the templates
// write them and csrfProtection reads them, so they cannot drift apart.
const ctxCSRF = "csrf"
