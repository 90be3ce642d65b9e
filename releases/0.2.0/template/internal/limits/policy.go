package limits

import (
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strings"
)

// The rules below are gosmith's tuning rules (hooks/tuning.py: _gomaxprocs for Go >= 1.25 and
// _gomemlimit), evaluated here at run time against the cgroup the service really runs in.
const (
	// MiB is one mebibyte.
	MiB = 1 << 20
	// MinHeadroom is the memory kept outside GOMEMLIMIT: binary text and data, kernel socket
	// buffers and page cache charged to the cgroup, and the overshoot of a soft limit while the
	// GC catches up.
	MinHeadroom = 32 * MiB
	// MinMemoryLimit is the smallest memory limit GOMEMLIMIT is derived for: MinHeadroom plus
	// 32 MiB for the Go runtime itself.
	MinMemoryLimit = MinHeadroom + 32*MiB
)

// Policies are the accepted GOMAXPROCS policies: floor sets max(1, floor(CPU limit)) when that is
// below Go's own choice, ceil sets max(1, ceil(CPU limit)) when it differs from Go's own choice,
// go always leaves GOMAXPROCS to the Go runtime.
var Policies = []string{"floor", "ceil", "go"}

// ValidPolicy reports whether p is one of Policies.
func ValidPolicy(p string) bool { return slices.Contains(Policies, p) }

// Bounds of GOMEMLIMIT_RATIO, inclusive, and its precision.
var (
	minRatio    = big.NewRat(1, 2)
	maxRatio    = big.NewRat(95, 100)
	decimalText = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)
)

// ParseRatio parses a GOMEMLIMIT ratio: a plain decimal between 0.5 and 0.95 with at most three
// decimals, exactly as the answer gomemlimit_ratio is validated. Errors start with "must".
func ParseRatio(s string) (*big.Rat, error) {
	r, ok := parseDecimal(s)
	if !ok {
		return nil, fmt.Errorf("must be a decimal number like 0.9, got %q", s)
	}
	if r.Cmp(minRatio) < 0 || r.Cmp(maxRatio) > 0 {
		return nil, fmt.Errorf("must be between 0.5 and 0.95, got %s", s)
	}
	if _, frac, _ := strings.Cut(s, "."); len(strings.TrimRight(frac, "0")) > 3 {
		return nil, fmt.Errorf("must have at most 3 decimals, got %s", s)
	}
	return r, nil
}

// parseDecimal parses a plain non-negative decimal ("0.9", "1") exactly.
func parseDecimal(s string) (*big.Rat, bool) {
	if !decimalText.MatchString(s) {
		return nil, false
	}
	return new(big.Rat).SetString(s)
}

// GoDefaultGOMAXPROCS returns what Go >= 1.25 picks under the CPU limit quota/period on a node
// with enough CPUs: max(2, ceil(quota/period)). It returns 0 without a CPU limit.
func GoDefaultGOMAXPROCS(c Cgroup) int {
	if !c.HasCPULimit() {
		return 0
	}
	return int(max(2, ceilDiv(c.CPUQuota, c.CPUPeriod)))
}

// GOMAXPROCS returns the GOMAXPROCS the service sets under the cgroup's CPU limit L =
// quota/period (exact) with policy, or 0 to leave it to the Go runtime:
//
//   - floor: max(1, floor(L)) when that is below Go's own max(2, ceil(L)), else 0;
//   - ceil:  max(1, ceil(L)) when that differs from Go's own max(2, ceil(L)), else 0;
//   - go, an unknown policy, or no CPU limit: 0.
//
// Leaving it to the runtime keeps the runtime following later limit changes by itself.
func GOMAXPROCS(c Cgroup, policy string) int {
	if !c.HasCPULimit() {
		return 0
	}
	goChoice := int64(GoDefaultGOMAXPROCS(c))
	switch policy {
	case "floor":
		if want := max(1, c.CPUQuota/c.CPUPeriod); want < goChoice {
			return int(want)
		}
	case "ceil":
		if want := max(1, ceilDiv(c.CPUQuota, c.CPUPeriod)); want != goChoice {
			return int(want)
		}
	}
	return 0
}

// ceilDiv returns ceil(a/b) for positive a and b.
func ceilDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 {
		q++
	}
	return q
}

// GOMEMLIMIT returns the GOMEMLIMIT in bytes for a cgroup memory limit: the smaller of
// limit x ratio and limit - MinHeadroom, each rounded down to a whole MiB; ratio is a decimal
// string computed exactly. It returns 0 (leave GOMEMLIMIT unset) without a memory limit, for a
// limit below MinMemoryLimit (the caller warns), or for a ratio that is not a positive decimal.
func GOMEMLIMIT(memLimit int64, ratio string) int64 {
	r, ok := parseDecimal(ratio)
	if memLimit < MinMemoryLimit || !ok || r.Sign() <= 0 {
		return 0
	}
	product := new(big.Rat).Mul(new(big.Rat).SetInt64(memLimit), r)
	floor := new(big.Int).Quo(product.Num(), product.Denom()) // both positive: truncation is floor
	byHeadroom := (memLimit - MinHeadroom) / MiB * MiB
	if !floor.IsInt64() { // a ratio far above 1: the headroom bound wins
		return byHeadroom
	}
	return min(floor.Int64()/MiB*MiB, byHeadroom)
}
