package partition

// For the tests of package partition_test, which ask DuckDB
// (internal/duck, cgo) what its functions are.

// IsVolatile says a task keeps the query local when it calls name.
func IsVolatile(name string) bool { return volatile[name] }

// IsNow says the query's instant is bound once for name (now.go).
func IsNow(name string) bool { _, ok := nowTypes[name]; return ok }

// IsEvaluatedAlike says a task evaluates name as the query does, though
// DuckDB lists it VOLATILE (volatile.go).
func IsEvaluatedAlike(name string) bool { return evaluatedAlike[name] }

// KeyType is the type two join keys of types a and b are hashed as to
// co-partition their inputs (join.go).
func KeyType(a, b string) (string, bool) { return keyType(a, b) }
