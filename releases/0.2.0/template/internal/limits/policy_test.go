package limits

import (
	"strings"
	"testing"
)

func cpu(quota, period int64) Cgroup { return Cgroup{CPUQuota: quota, CPUPeriod: period} }

// TestGOMAXPROCS pins the rules of hooks/tuning.py (_gomaxprocs, Go >= 1.25).
func TestGOMAXPROCS(t *testing.T) {
	tests := []struct {
		c                    Cgroup
		floor, ceil, goValue int
	}{
		{Cgroup{}, 0, 0, 0},                     // no CPU limit: leave it to the runtime
		{cpu(-1, 100000), 0, 0, 0},              // v1 "no limit"
		{cpu(1, 100000), 1, 1, 0},               // tiny: never below 1
		{cpu(50000, 100000), 1, 1, 0},           // 500m: Go picks 2
		{cpu(100000, 100000), 1, 1, 0},          // 1 CPU: Go still picks 2
		{cpu(150000, 100000), 1, 0, 0},          // 1.5: ceil equals Go's 2
		{cpu(200000, 100000), 0, 0, 0},          // 2: both equal Go's 2
		{cpu(250000, 100000), 2, 0, 0},          // 2.5: floor 2 below Go's 3
		{cpu(300000, 100000), 0, 0, 0},          // 3
		{cpu(3999, 1000), 3, 0, 0},              // 3.999
		{cpu(400001, 100000), 4, 0, 0},          // 4.00001: Go picks 5
		{cpu(33333, 10000), 3, 0, 0},            // other periods
		{cpu(1600000, 1000000), 1, 0, 0},        // 1.6 with a 1 s period
		{cpu(6400000, 100000), 0, 0, 0},         // 64
		{cpu(6400001, 100000), 64, 0, 0},        // just above 64
		{Cgroup{MemoryLimit: 1 << 30}, 0, 0, 0}, // memory only
	}
	for _, tt := range tests {
		for policy, want := range map[string]int{"floor": tt.floor, "ceil": tt.ceil, "go": tt.goValue, "bogus": 0} {
			if got := GOMAXPROCS(tt.c, policy); got != want {
				t.Errorf("GOMAXPROCS(%d/%d, %s) = %d, want %d", tt.c.CPUQuota, tt.c.CPUPeriod, policy, got, want)
			}
		}
	}
}

func TestGoDefaultGOMAXPROCS(t *testing.T) {
	for _, tt := range []struct {
		c    Cgroup
		want int
	}{{Cgroup{}, 0}, {cpu(50000, 100000), 2}, {cpu(200000, 100000), 2}, {cpu(200001, 100000), 3}} {
		if got := GoDefaultGOMAXPROCS(tt.c); got != tt.want {
			t.Errorf("GoDefaultGOMAXPROCS(%+v) = %d, want %d", tt.c, got, tt.want)
		}
	}
}

// TestGOMEMLIMIT pins the rules of hooks/tuning.py (_gomemlimit).
func TestGOMEMLIMIT(t *testing.T) {
	tests := []struct {
		name  string
		limit int64
		ratio string
		want  int64
	}{
		{"512Mi x 0.9", 512 * MiB, "0.9", 460 * MiB},
		{"256Mi: headroom wins over 0.9", 256 * MiB, "0.9", 224 * MiB},
		{"smallest limit", 64 * MiB, "0.9", 32 * MiB},
		{"below the smallest limit", 64*MiB - 1, "0.9", 0},
		{"no limit", 0, "0.9", 0},
		{"1Gi x 0.95", 1 << 30, "0.95", 972 * MiB},
		{"decimal 1G x 0.9", 1_000_000_000, "0.9", 858 * MiB},
		{"100Mi x 0.5", 100 * MiB, "0.5", 50 * MiB},
		{"exact: 330Mi x 0.7 is 231Mi (float64 gives 230Mi)", 330 * MiB, "0.7", 231 * MiB},
		{"three decimals", 300 * MiB, "0.333", 99 * MiB},
		{"not a multiple of MiB", 512*MiB + 12345, "0.9", 460 * MiB},
		{"huge limit", 1 << 61, "0.95", (1 << 61) / 20 * 19 / MiB * MiB},
		{"ratio above 1 keeps the headroom", 1 << 30, "1.5", 992 * MiB},
		{"malformed ratio", 512 * MiB, "abc", 0},
		{"negative ratio", 512 * MiB, "-0.9", 0},
		{"exponent is not a decimal", 512 * MiB, "9e-1", 0},
		{"zero ratio", 512 * MiB, "0", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := GOMEMLIMIT(tt.limit, tt.ratio); got != tt.want {
				t.Fatalf("GOMEMLIMIT(%d, %q) = %d (%d MiB), want %d (%d MiB)", tt.limit, tt.ratio, got, got/MiB, tt.want, tt.want/MiB)
			}
		})
	}
}

func TestParseRatio(t *testing.T) {
	for _, ok := range []string{"0.5", "0.9", "0.95", "0.950", "0.725", "0.50000"} {
		if _, err := ParseRatio(ok); err != nil {
			t.Errorf("ParseRatio(%q): %v", ok, err)
		}
	}
	for in, want := range map[string]string{
		"": "must be a decimal", "0,9": "must be a decimal", ".9": "must be a decimal", "9e-1": "must be a decimal",
		"-0.9": "must be a decimal", "0.49": "between", "0.951": "between", "1": "between",
		"0.7255": "at most 3 decimals",
	} {
		if _, err := ParseRatio(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseRatio(%q) = %v, want an error about %q", in, err, want)
		}
	}
}

func TestValidPolicy(t *testing.T) {
	for _, p := range []string{"floor", "ceil", "go"} {
		if !ValidPolicy(p) {
			t.Errorf("ValidPolicy(%q) = false", p)
		}
	}
	for _, p := range []string{"", "Floor", "round"} {
		if ValidPolicy(p) {
			t.Errorf("ValidPolicy(%q) = true", p)
		}
	}
}
