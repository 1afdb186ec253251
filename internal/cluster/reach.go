package cluster

import (
	"path/filepath"
	"strings"
)

// Forms are the names of a directory SQL may use: made absolute, and with
// its links resolved when that is another name. Two processes may see the
// same directory under either (a link on one machine, a mount on another),
// so a directory is reached when one of its forms is.
func Forms(dir string) []string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return []string{filepath.Clean(dir)}
	}
	forms := []string{abs}
	if real, err := filepath.EvalSymlinks(abs); err == nil && real != abs {
		forms = append(forms, real)
	}
	return forms
}

// Reach is what Member.Reach says of a node allowed dirs (each in its
// Forms) and the object storage prefixes, as URLs.
func Reach(dirs, prefixes []string) []string {
	var reach []string
	for _, d := range dirs {
		reach = append(reach, Forms(d)...)
	}
	return append(reach, prefixes...)
}

// Reached reports whether one of forms, the names of a directory or a
// prefix's URL, lies within an entry of reach.
func Reached(reach, forms []string) bool {
	for _, f := range forms {
		for _, r := range reach {
			if f == r || strings.HasPrefix(f, strings.TrimSuffix(r, "/")+"/") {
				return true
			}
		}
	}
	return false
}
