//go:build !linux

package main

// lineEditing cannot look at the terminal's mode here.
func (tm *terminal) lineEditing() {}
