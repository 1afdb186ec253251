// Package users knows who may log in and with which role: the users file
// (bcrypt hashes, one user a line) or the single --user/--password admin,
// and the throttle that slows down password guessing. It runs no SQL; the
// front door turns a role into what a session may do.
package users
