// Package layering holds no code: its test checks which way the
// project's imports run (the core never imports a plugin).
package layering
