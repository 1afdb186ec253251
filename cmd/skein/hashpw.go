package main

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/skeindb/skein/internal/users"
)

// hashPasswordCmd reads a password from stdin (its first line) and prints
// its bcrypt hash, for a line of a --users-file: name:role:HASH.
func hashPasswordCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintln(stderr, "usage: skein hash-password < file-holding-the-password")
		return 2
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && err != io.EOF {
		fmt.Fprintln(stderr, "skein hash-password:", err)
		return 1
	}
	h, err := users.Hash(strings.TrimRight(line, "\r\n"))
	if err != nil {
		fmt.Fprintln(stderr, "skein hash-password:", err)
		return 1
	}
	fmt.Fprintln(stdout, h)
	return 0
}
