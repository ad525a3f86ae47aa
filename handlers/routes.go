package handlers

// Route names: views and redirects reverse these instead of spelling paths.
const (
	routeSignIn       = "signin"
	routeSignInSubmit = "signin.submit"
	routeTOTP         = "signin.totp"
	routeTOTPSubmit   = "signin.totp.submit"
	routeSignOut      = "signout"
	routeKeys         = "keys"
	routeKeyNew       = "keys.new"
	routeKeyCreate    = "keys.create"
	routeKeyDevices   = "keys.new.devices"
	routeKeyEdit      = "keys.edit"
	routeKeyRow       = "keys.row"
	routeKeyActions   = "keys.actions"
	routeKeyUpdate    = "keys.update"
	routeKeyExpire    = "keys.expire"
	routeKeyExpiry    = "keys.expiry"
	routeKeyRevoke    = "keys.revoke"
	routeKeyDelete    = "keys.delete"
	routeKeyBulk      = "keys.bulk"
	routeKeyExport    = "keys.export"
	routeKeyRotate    = "keys.rotate"
	routeKeyRotateDo  = "keys.rotate.submit"
)

// Form field and header names shared with the views and static/app.js.
const (
	fieldCSRF  = "_csrf"
	headerCSRF = "X-CSRF-Token"
	ctxCSRF    = "csrf"
)
