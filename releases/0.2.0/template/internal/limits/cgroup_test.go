package limits

import (
	"strings"
	"testing"
	"testing/fstest"
)

// Mount table lines as the kernel writes them.
const (
	mountV2       = "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n"
	mountV1CPU    = "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct\n"
	mountV1Memory = "35 31 0:32 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,memory\n"
	mountV1Cpuset = "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
	mountProc     = "22 28 0:20 / /proc rw,nosuid,nodev,noexec,relatime shared:13 - proc proc rw\n"
)

func files(kv ...string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for i := 0; i < len(kv); i += 2 {
		fsys[kv[i]] = &fstest.MapFile{Data: []byte(kv[i+1])}
	}
	return fsys
}

func TestRead(t *testing.T) {
	const v1Docker = "/docker/0123abcd"
	tests := []struct {
		name string
		fsys fstest.MapFS
		want Cgroup
	}{
		{
			"v2 in a cgroup namespace",
			files(
				"proc/self/cgroup", "0::/\n",
				"proc/self/mountinfo", mountProc+mountV2,
				"sys/fs/cgroup/cpu.max", "50000 100000\n",
				"sys/fs/cgroup/memory.max", "536870912\n",
			),
			Cgroup{CPUQuota: 50000, CPUPeriod: 100000, MemoryLimit: 512 * MiB},
		},
		{
			"v2 nested path without a cgroup namespace",
			files(
				"proc/self/cgroup", "0::/kubepods.slice/kubepods-pod1.slice/cri-abc.scope\n",
				"proc/self/mountinfo", mountV2,
				"sys/fs/cgroup/kubepods.slice/kubepods-pod1.slice/cri-abc.scope/cpu.max", "150000 100000\n",
				"sys/fs/cgroup/kubepods.slice/kubepods-pod1.slice/cri-abc.scope/memory.max", "268435456\n",
				"sys/fs/cgroup/cpu.max", "max 100000\n",
			),
			Cgroup{CPUQuota: 150000, CPUPeriod: 100000, MemoryLimit: 256 * MiB},
		},
		{
			"v2 mount root is a parent of the process path",
			files(
				"proc/self/cgroup", "0::/kubepods/pod1/ctr\n",
				"proc/self/mountinfo", "30 23 0:26 /kubepods/pod1 /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
				"sys/fs/cgroup/ctr/cpu.max", "20000 10000\n",
				"sys/fs/cgroup/ctr/memory.max", "max\n",
			),
			Cgroup{CPUQuota: 20000, CPUPeriod: 10000},
		},
		{
			"v2 max means no limit",
			files(
				"proc/self/cgroup", "0::/\n",
				"proc/self/mountinfo", mountV2,
				"sys/fs/cgroup/cpu.max", "max 100000\n",
				"sys/fs/cgroup/memory.max", "max\n",
			),
			Cgroup{},
		},
		{
			"v2 root cgroup has no limit files",
			files("proc/self/cgroup", "0::/\n", "proc/self/mountinfo", mountV2),
			Cgroup{},
		},
		{
			"v2 mount point with an escaped space",
			files(
				"proc/self/cgroup", "0::/a\n",
				"proc/self/mountinfo", `30 23 0:26 / /cg\040root rw - cgroup2 cgroup2 rw`+"\n",
				"cg root/a/cpu.max", "100000 100000\n",
			),
			Cgroup{CPUQuota: 100000, CPUPeriod: 100000},
		},
		{
			"v1 co-mounted cpu,cpuacct, mount root equals the process path",
			files(
				"proc/self/cgroup", "12:memory:"+v1Docker+"\n5:cpuset:/\n4:cpu,cpuacct:"+v1Docker+"\n1:name=systemd:/\n0::/\n",
				"proc/self/mountinfo", mountProc+mountV1Cpuset+
					"32 31 0:29 "+v1Docker+" /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"+
					"35 31 0:32 "+v1Docker+" /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
				"sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "50000\n",
				"sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n",
				"sys/fs/cgroup/memory/memory.limit_in_bytes", "536870912\n",
			),
			Cgroup{CPUQuota: 50000, CPUPeriod: 100000, MemoryLimit: 512 * MiB},
		},
		{
			"v1 nested path under a root mount",
			files(
				"proc/self/cgroup", "4:memory:/kubepods/burstable/pod1/ctr\n3:cpu,cpuacct:/kubepods/burstable/pod1/ctr\n",
				"proc/self/mountinfo", mountV1CPU+mountV1Memory,
				"sys/fs/cgroup/cpu,cpuacct/kubepods/burstable/pod1/ctr/cpu.cfs_quota_us", "250000\n",
				"sys/fs/cgroup/cpu,cpuacct/kubepods/burstable/pod1/ctr/cpu.cfs_period_us", "100000\n",
				"sys/fs/cgroup/memory/kubepods/burstable/pod1/ctr/memory.limit_in_bytes", "1073741824\n",
			),
			Cgroup{CPUQuota: 250000, CPUPeriod: 100000, MemoryLimit: 1024 * MiB},
		},
		{
			"v1 quota -1 and unlimited memory",
			files(
				"proc/self/cgroup", "4:memory:/\n3:cpu,cpuacct:/\n",
				"proc/self/mountinfo", mountV1CPU+mountV1Memory,
				"sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "-1\n",
				"sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n",
				"sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n",
			),
			Cgroup{},
		},
		{
			"v1 cpu in its own hierarchy, next to cpuset and cpuacct",
			files(
				"proc/self/cgroup", "3:cpuset:/\n2:cpuacct:/\n1:cpu:/svc\n",
				"proc/self/mountinfo", mountV1Cpuset+
					"33 31 0:30 / /sys/fs/cgroup/cpuacct rw - cgroup cgroup rw,cpuacct\n"+
					"32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n",
				"sys/fs/cgroup/cpuacct/svc/cpu.cfs_quota_us", "1\n",
				"sys/fs/cgroup/cpu/svc/cpu.cfs_quota_us", "300000\n",
				"sys/fs/cgroup/cpu/svc/cpu.cfs_period_us", "100000\n",
			),
			Cgroup{CPUQuota: 300000, CPUPeriod: 100000},
		},
		{
			"hybrid: the v1 cpu hierarchy wins over the unified one, like the Go runtime",
			files(
				"proc/self/cgroup", "3:cpu,cpuacct:/\n0::/\n",
				"proc/self/mountinfo", mountV1CPU+"41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
				"sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "200000\n",
				"sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n",
				"sys/fs/cgroup/unified/cpu.max", "10000 100000\n",
				"sys/fs/cgroup/unified/memory.max", "134217728\n",
			),
			Cgroup{CPUQuota: 200000, CPUPeriod: 100000, MemoryLimit: 128 * MiB},
		},
		{
			"v1 limit files missing",
			files(
				"proc/self/cgroup", "4:memory:/a\n3:cpu,cpuacct:/a\n",
				"proc/self/mountinfo", mountV1CPU+mountV1Memory,
			),
			Cgroup{},
		},
		{
			"controllers not mounted",
			files("proc/self/cgroup", "4:memory:/a\n3:cpu,cpuacct:/a\n", "proc/self/mountinfo", mountProc),
			Cgroup{},
		},
		{
			"process moved out of its cgroup namespace root",
			files(
				"proc/self/cgroup", "0::/../other\n",
				"proc/self/mountinfo", mountV2,
				"sys/fs/cgroup/cpu.max", "50000 100000\n",
			),
			Cgroup{},
		},
		{"no /proc (not Linux)", files(), Cgroup{}},
		{"no mount table", files("proc/self/cgroup", "0::/\n"), Cgroup{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Read(tt.fsys)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if got != tt.want {
				t.Fatalf("Read = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestReadMalformed(t *testing.T) {
	v2 := func(cpuMax, memMax string) fstest.MapFS {
		return files("proc/self/cgroup", "0::/\n", "proc/self/mountinfo", mountV2,
			"sys/fs/cgroup/cpu.max", cpuMax, "sys/fs/cgroup/memory.max", memMax)
	}
	tests := []struct {
		name    string
		fsys    fstest.MapFS
		want    Cgroup // what Read still returns
		wantErr string
	}{
		{"bad cpu.max, memory still read", v2("lots 100000\n", "268435456\n"), Cgroup{MemoryLimit: 256 * MiB}, "cpu.max"},
		{"cpu.max without period", v2("50000\n", "max\n"), Cgroup{}, "cpu.max"},
		{"bad memory.max, cpu still read", v2("50000 100000\n", "1Gi\n"), Cgroup{CPUQuota: 50000, CPUPeriod: 100000}, "memory.max"},
		{
			"v1 quota without period",
			files("proc/self/cgroup", "3:cpu,cpuacct:/\n", "proc/self/mountinfo", mountV1CPU,
				"sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "50000\n"),
			Cgroup{}, "cpu.cfs_period_us",
		},
		{"malformed /proc/self/cgroup", files("proc/self/cgroup", "garbage\n"), Cgroup{}, "proc/self/cgroup"},
		{
			"malformed mountinfo",
			files("proc/self/cgroup", "0::/\n", "proc/self/mountinfo", "1 2 3\n"),
			Cgroup{}, "proc/self/mountinfo",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Read(tt.fsys)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("Read = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCPULimit(t *testing.T) {
	for _, tt := range []struct {
		c    Cgroup
		want float64
	}{
		{Cgroup{CPUQuota: 50000, CPUPeriod: 100000}, 0.5},
		{Cgroup{CPUQuota: 250000, CPUPeriod: 100000}, 2.5},
		{Cgroup{}, 0},
		{Cgroup{CPUQuota: -1, CPUPeriod: 100000}, 0},
	} {
		if got := tt.c.CPULimit(); got != tt.want {
			t.Errorf("%+v.CPULimit() = %v, want %v", tt.c, got, tt.want)
		}
	}
}
