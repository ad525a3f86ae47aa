package apiclient

import (
	"encoding/base64"
	"testing"
	"time"
)

func jwt(payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc([]byte(payload)) + ".c2ln"
}

func TestParseClaims(t *testing.T) {
	tests := []struct {
		name  string
		token string
		want  Claims
		ok    bool
	}{
		{"full", jwt(`{"id":5,"jwt_secret":"x","authTime":1700000000123,"iat":1700000000,"exp":1700604800}`), Claims{
			UserID: 5, AuthTime: time.UnixMilli(1700000000123), IssuedAt: time.Unix(1700000000, 0), Expires: time.Unix(1700604800, 0),
		}, true},
		{"partial", jwt(`{"id":7,"twoFactorRequired":true,"iat":1,"exp":2}`), Claims{
			UserID: 7, TwoFactorRequired: true, IssuedAt: time.Unix(1, 0), Expires: time.Unix(2, 0),
		}, true},
		{"padded", "e30.eyJpZCI6MX0=.c2ln", Claims{UserID: 1}, true},
		{"api key", "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6", Claims{}, false},
		{"not base64", "a.b!.c", Claims{}, false},
		{"not json", "a." + base64.RawURLEncoding.EncodeToString([]byte("nope")) + ".c", Claims{}, false},
		{"empty", "", Claims{}, false},
		{"absurd exp", jwt(`{"id":5,"iat":1700000000,"exp":1e300}`), Claims{}, false},
		{"exp past the year 9999", jwt(`{"id":5,"exp":253402300800}`), Claims{}, false},
		{"negative iat", jwt(`{"id":5,"iat":-1,"exp":1700604800}`), Claims{}, false},
		{"absurd authTime", jwt(`{"id":5,"authTime":1e19}`), Claims{}, false},
		{"last second of 9999", jwt(`{"id":5,"exp":253402300799}`), Claims{UserID: 5, Expires: time.Unix(253402300799, 0)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseClaims(tt.token)
			if ok != tt.ok || !got.AuthTime.Equal(tt.want.AuthTime) || !got.IssuedAt.Equal(tt.want.IssuedAt) ||
				!got.Expires.Equal(tt.want.Expires) || got.UserID != tt.want.UserID || got.TwoFactorRequired != tt.want.TwoFactorRequired {
				t.Errorf("ParseClaims = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestClaimsExpired(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	if (Claims{Expires: now.Add(time.Hour)}).Expired(now) {
		t.Error("a token expiring in an hour is expired")
	}
	if !(Claims{Expires: now}).Expired(now) {
		t.Error("a token expiring now is not expired")
	}
	if (Claims{}).Expired(now) {
		t.Error("zero claims are expired")
	}
}
