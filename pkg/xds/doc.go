// Package xds holds small helpers for Envoy xDS messages that the core,
// the built-in plugins and third-party plugins all need: packing messages
// into Any and TypedExtensionConfig, and validating a message together with
// every message packed inside it.
//
// go-control-plane's generated ValidateAll stops at google.protobuf.Any
// fields, so a Listener whose filter carries an invalid generic_proxy
// config still passes it. [Validate] unpacks every Any it meets and
// validates the inner message too, which is the check Envoy itself applies
// when it loads the config.
package xds
