package users

import (
	"bufio"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// Role is what a user may do.
type Role string

// The roles.
const (
	// Admin may do everything.
	Admin Role = "admin"
	// Writer may read and write managed tables and files under the
	// allowed directories.
	Writer Role = "writer"
	// Reader may only query: no DDL, DML, COPY, ingest.
	Reader Role = "reader"
)

// ParseRole reads a role name.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case Admin, Writer, Reader:
		return r, nil
	}
	return "", fmt.Errorf("%w: unknown role %q (want admin, writer or reader)", ErrFile, s)
}

// ReadOnly reports whether the role may only query.
func (r Role) ReadOnly() bool { return r == Reader }

// Errors.
var (
	ErrFile = errors.New("users: bad users file")
)

// Store answers whether a user name and password log in, and as what.
type Store struct {
	byName map[string]entry
	// dummy is compared against when the user is unknown: a bcrypt hash
	// of the users' own cost (the highest in the file), so that a wrong
	// user name costs as long as a wrong password and does not reveal
	// itself. Of bcrypt's least cost it answered in 2-8 ms where a real
	// name took 70-86 ms: names could be told by timing (a tester's).
	// nil for Single, whose one password is compared in constant time.
	dummy []byte
}

type entry struct {
	role     Role
	hash     []byte // bcrypt
	password []byte // the single --user's plain password, compared in constant time
}

// Single is the store of one admin user given on the command line.
func Single(user, password string) *Store {
	return &Store{byName: map[string]entry{user: {role: Admin, password: []byte(password)}}}
}

// Check reports the user's role if password is the user's.
func (s *Store) Check(user, password string) (Role, bool) {
	e, ok := s.byName[user]
	switch {
	case !ok && s.dummy != nil:
		_ = bcrypt.CompareHashAndPassword(s.dummy, []byte(password))
		return "", false
	case !ok:
		return "", false
	case e.hash != nil:
		if bcrypt.CompareHashAndPassword(e.hash, []byte(password)) != nil {
			return "", false
		}
	case subtle.ConstantTimeCompare(e.password, []byte(password)) != 1:
		return "", false
	}
	return e.role, true
}

// Len is the number of users.
func (s *Store) Len() int { return len(s.byName) }

// Load reads a users file: one user a line, "name:role:bcrypt-hash";
// blank lines and lines starting with # are ignored. Names may not contain
// ':' or white space; the hash is what `skein hash-password` prints.
func Load(path string) (*Store, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	defer f.Close()
	s, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// MaxName is the longest user name, in bytes: a login naming a longer
// one fails without its name being kept or logged (a client without
// credentials sent 8 MB names, each kept by the login throttle and
// logged whole: 543 MB of heap and 240 MB of log from 30 logins).
const MaxName = 256

// Parse reads the users file format from r.
func Parse(r io.Reader) (*Store, error) {
	s := &Store{byName: map[string]entry{}}
	cost := bcrypt.MinCost
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, rest, ok1 := strings.Cut(line, ":")
		role, hash, ok2 := strings.Cut(rest, ":")
		if !ok1 || !ok2 || name == "" || strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("%w: line %d: want name:role:bcrypt-hash", ErrFile, n)
		}
		if len(name) > MaxName {
			return nil, fmt.Errorf("%w: line %d: a user name is at most %d bytes", ErrFile, n, MaxName)
		}
		rl, err := ParseRole(role)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		c, err := bcrypt.Cost([]byte(hash))
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: user %s: the hash is not a bcrypt hash (make one with skein hash-password): %v", ErrFile, n, name, err)
		}
		cost = max(cost, c)
		if _, dup := s.byName[name]; dup {
			return nil, fmt.Errorf("%w: line %d: user %s appears twice", ErrFile, n, name)
		}
		s.byName[name] = entry{role: rl, hash: []byte(hash)}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(s.byName) == 0 {
		return nil, fmt.Errorf("%w: no users", ErrFile)
	}
	var err error
	if s.dummy, err = bcrypt.GenerateFromPassword([]byte("not a password"), cost); err != nil {
		return nil, err
	}
	return s, nil
}

// Hash makes the bcrypt hash of a password for the users file.
func Hash(password string) (string, error) {
	if password == "" {
		return "", errors.New("users: empty password")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	return string(h), err
}
