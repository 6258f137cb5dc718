package redis

import (
	"fmt"
	"strings"

	redisv1alpha1 "github.com/aeraki-ng/aeraki/api/redis/v1alpha1"
	"github.com/aeraki-ng/aeraki/pkg/model"
)

// Default Secret keys, as in Aeraki.
const (
	defaultPasswordKey  = "password"
	fallbackPasswordKey = "token"
	defaultUsernameKey  = "username"
)

// credentials are a Redis password and optional ACL user. String renders
// them redacted, so a credential printed by mistake leaks nothing.
type credentials struct {
	username, password string
}

// String keeps credentials redacted when printed by mistake.
func (c credentials) String() string { return "credentials{<redacted>}" }

// GoString keeps %#v redacted too.
func (c credentials) GoString() string { return c.String() }

// resolveAuth reads the credentials an Auth names, from the object's
// namespace. Errors name the Secret and key, never their content.
func resolveAuth(view *model.View, namespace string, auth *redisv1alpha1.Auth) (credentials, error) {
	switch {
	case auth == nil:
		return credentials{}, nil
	case auth.Plain != nil:
		return credentials{username: auth.Plain.Username, password: auth.Plain.Password}, nil
	case auth.Secret != nil:
		ref := auth.Secret
		s := view.Secret(namespace, ref.Name)
		if s == nil {
			return credentials{}, fmt.Errorf("Secret %s/%s does not exist; create it, or fix the name", namespace, ref.Name)
		}
		get := func(key string) (string, bool) {
			if v, ok := s.Data[key]; ok {
				return strings.TrimSpace(string(v)), true
			}
			v, ok := s.StringData[key]
			return strings.TrimSpace(v), ok
		}
		var c credentials
		var ok bool
		switch ref.PasswordField {
		case "":
			if c.password, ok = get(defaultPasswordKey); !ok {
				c.password, ok = get(fallbackPasswordKey)
			}
			if !ok {
				return credentials{}, fmt.Errorf("Secret %s/%s has no key %q (nor %q); add it or set passwordField", namespace, ref.Name, defaultPasswordKey, fallbackPasswordKey)
			}
		default:
			if c.password, ok = get(ref.PasswordField); !ok {
				return credentials{}, fmt.Errorf("Secret %s/%s has no key %q (passwordField)", namespace, ref.Name, ref.PasswordField)
			}
		}
		userKey := ref.UsernameField
		if userKey == "" {
			userKey = defaultUsernameKey
		}
		if c.username, ok = get(userKey); !ok && ref.UsernameField != "" {
			return credentials{}, fmt.Errorf("Secret %s/%s has no key %q (usernameField)", namespace, ref.Name, ref.UsernameField)
		}
		if c.password == "" {
			return credentials{}, fmt.Errorf("the password in Secret %s/%s is empty", namespace, ref.Name)
		}
		return c, nil
	}
	return credentials{}, nil
}
