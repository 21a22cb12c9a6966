package gateway

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Uint64 is the SDL's Uint64 scalar: a JSON number (leaf indexes and tree
// sizes stay below 2^53 in practice; larger values are still exact in the
// JSON text).
type Uint64 uint64

// ImplementsGraphQLType maps the type to the SDL scalar.
func (Uint64) ImplementsGraphQLType(name string) bool { return name == "Uint64" }

// UnmarshalGraphQL accepts non-negative integers as GraphQL literals,
// JSON numbers or decimal strings.
func (u *Uint64) UnmarshalGraphQL(input any) error {
	switch v := input.(type) {
	case int32:
		if v < 0 {
			return fmt.Errorf("Uint64 must not be negative, got %d", v)
		}
		*u = Uint64(v)
	case int64:
		if v < 0 {
			return fmt.Errorf("Uint64 must not be negative, got %d", v)
		}
		*u = Uint64(v)
	case float64:
		if v < 0 || v != math.Trunc(v) || v >= 1<<63 {
			return fmt.Errorf("Uint64 must be a non-negative integer, got %v", v)
		}
		*u = Uint64(v)
	case string:
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return fmt.Errorf("Uint64 must be a non-negative decimal integer, got %q", v)
		}
		*u = Uint64(n)
	default:
		return fmt.Errorf("Uint64 must be a non-negative integer, got %T", input)
	}
	return nil
}

// MarshalJSON writes the number.
func (u Uint64) MarshalJSON() ([]byte, error) {
	return json.Marshal(uint64(u))
}
