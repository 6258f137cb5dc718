package render_test

import "github.com/aeraki-ng/aeraki/internal/source/file"

func fileOptions(ns string) file.Options { return file.Options{DefaultNamespace: ns} }
