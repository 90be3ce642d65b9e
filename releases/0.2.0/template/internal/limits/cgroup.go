// Package limits derives the Go runtime limits (GOMAXPROCS, GOMEMLIMIT) from the cgroup the
// process runs in, applies them at start and follows later changes (e.g. an in-place pod resize).
package limits

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Cgroup is what the container's cgroup allows; zero means "no limit".
type Cgroup struct {
	// CPUQuota and CPUPeriod are the CFS quota and period in microseconds: the cgroup may use
	// CPUQuota/CPUPeriod CPUs on average.
	CPUQuota, CPUPeriod int64
	// MemoryLimit is the hard memory limit in bytes.
	MemoryLimit int64
}

// HasCPULimit reports whether the cgroup limits CPU time.
func (c Cgroup) HasCPULimit() bool { return c.CPUQuota > 0 && c.CPUPeriod > 0 }

// CPULimit returns the CPU limit in cores (0 = no limit), for logs and metrics only: the rules
// in GOMAXPROCS use the exact quota and period.
func (c Cgroup) CPULimit() float64 {
	if !c.HasCPULimit() {
		return 0
	}
	return float64(c.CPUQuota) / float64(c.CPUPeriod)
}

const (
	// selfCgroup lists the cgroups of this process, one hierarchy a line ("ID:controllers:path").
	selfCgroup = "proc/self/cgroup"
	// selfMountinfo is the mount table as this process sees it.
	selfMountinfo = "proc/self/mountinfo"
	// unlimitedMemory: cgroup v1 reports "no limit" as the largest page-aligned int64
	// (9223372036854771712 with 4 KiB pages); anything at or above 2^62 bytes is no limit.
	unlimitedMemory = 1 << 62
)

// version is the cgroup version a controller was found in.
type version int

const (
	v1 version = 1
	v2 version = 2
)

// membership is the content of /proc/self/cgroup.
type membership struct {
	v1    map[string]string // controller -> cgroup path
	v2    string            // path in the unified hierarchy ("0::path")
	hasV2 bool
}

// mount is one cgroup or cgroup2 line of /proc/self/mountinfo.
type mount struct {
	root, point, fstype string
	options             []string // super options; the controllers of a v1 mount
}

// Read returns the CPU and memory limits of the cgroup this process runs in, found like the Go
// runtime finds them: the process's cgroup from /proc/self/cgroup (a v1 hierarchy with the
// controller wins over the unified v2 one), the mount that contains it from
// /proc/self/mountinfo, and the limit files in that directory. fsys is rooted at "/"
// (os.DirFS("/") in production). Only the process's own cgroup is read, not its ancestors.
// Missing files mean no limit; Read returns the limits it could read and an error describing
// files it could not parse.
func Read(fsys fs.FS) (Cgroup, error) {
	data, err := fs.ReadFile(fsys, selfCgroup)
	if errors.Is(err, fs.ErrNotExist) {
		return Cgroup{}, nil
	}
	if err != nil {
		return Cgroup{}, fmt.Errorf("read /%s: %w", selfCgroup, err)
	}
	member, err := parseMembership(string(data))
	if err != nil {
		return Cgroup{}, fmt.Errorf("parse /%s: %w", selfCgroup, err)
	}
	data, err = fs.ReadFile(fsys, selfMountinfo)
	if errors.Is(err, fs.ErrNotExist) {
		return Cgroup{}, nil
	}
	if err != nil {
		return Cgroup{}, fmt.Errorf("read /%s: %w", selfMountinfo, err)
	}
	mounts, err := parseMountinfo(string(data))
	if err != nil {
		return Cgroup{}, fmt.Errorf("parse /%s: %w", selfMountinfo, err)
	}
	var c Cgroup
	var errs []error
	if dir, ver, ok := locate(member, mounts, "cpu"); ok {
		c.CPUQuota, c.CPUPeriod, err = readCPU(fsys, dir, ver)
		errs = append(errs, err)
	}
	if dir, ver, ok := locate(member, mounts, "memory"); ok {
		c.MemoryLimit, err = readMemory(fsys, dir, ver)
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}

// parseMembership parses /proc/self/cgroup.
func parseMembership(text string) (membership, error) {
	m := membership{v1: map[string]string{}}
	for line := range strings.Lines(text) {
		line = strings.TrimRight(line, "\n")
		if line == "" {
			continue
		}
		id, rest, ok1 := strings.Cut(line, ":")
		controllers, p, ok2 := strings.Cut(rest, ":")
		if !ok1 || !ok2 || !strings.HasPrefix(p, "/") {
			return membership{}, fmt.Errorf("malformed line %q", line)
		}
		if id == "0" && controllers == "" {
			m.v2, m.hasV2 = p, true
			continue
		}
		for ctrl := range strings.SplitSeq(controllers, ",") {
			if _, seen := m.v1[ctrl]; !seen {
				m.v1[ctrl] = p
			}
		}
	}
	return m, nil
}

// parseMountinfo returns the cgroup and cgroup2 mounts of a mountinfo table (proc(5)):
// "ID parentID major:minor root mountpoint options [optional...] - fstype source superoptions".
func parseMountinfo(text string) ([]mount, error) {
	var mounts []mount
	for line := range strings.Lines(text) {
		line = strings.TrimRight(line, "\n")
		if line == "" {
			continue
		}
		fields := strings.Fields(line)
		sep := -1
		for i := 6; i < len(fields); i++ {
			if fields[i] == "-" {
				sep = i
				break
			}
		}
		if len(fields) < 6 || sep < 0 || sep+3 > len(fields) {
			return nil, fmt.Errorf("malformed line %q", line)
		}
		fstype := fields[sep+1]
		if fstype != "cgroup" && fstype != "cgroup2" {
			continue
		}
		root, err := unescape(fields[3])
		if err != nil {
			return nil, fmt.Errorf("line %q: %w", line, err)
		}
		point, err := unescape(fields[4])
		if err != nil {
			return nil, fmt.Errorf("line %q: %w", line, err)
		}
		mounts = append(mounts, mount{root: root, point: point, fstype: fstype, options: strings.Split(fields[sep+3], ",")})
	}
	return mounts, nil
}

// unescape decodes the octal escapes (\040 for a space) the kernel writes in mountinfo paths.
func unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+3 >= len(s) {
			return "", fmt.Errorf("bad escape in %q", s)
		}
		n, err := strconv.ParseUint(s[i+1:i+4], 8, 8)
		if err != nil {
			return "", fmt.Errorf("bad escape in %q", s)
		}
		b.WriteByte(byte(n))
		i += 3
	}
	return b.String(), nil
}

// locate returns the directory (relative to the fs root) of the process's cgroup for
// controller, and its version; ok is false when the controller is not mounted.
func locate(member membership, mounts []mount, controller string) (dir string, ver version, ok bool) {
	cgPath, isV1 := member.v1[controller]
	switch {
	case isV1:
		ver = v1
	case member.hasV2:
		cgPath, ver = member.v2, v2
	default:
		return "", 0, false
	}
	for _, m := range mounts {
		if ver == v1 && (m.fstype != "cgroup" || !slices.Contains(m.options, controller)) {
			continue
		}
		if ver == v2 && m.fstype != "cgroup2" {
			continue
		}
		rel, inside := relative(cgPath, m.root)
		if !inside {
			continue
		}
		dir := strings.TrimPrefix(path.Join(m.point, rel), "/")
		if dir == "" {
			dir = "."
		}
		if !fs.ValidPath(dir) {
			continue
		}
		return dir, ver, true
	}
	return "", 0, false
}

// relative returns cgPath relative to a mount's root, and whether the mount contains it. A
// process in a cgroup namespace that was moved out of the namespace's root sees "/.." paths:
// no mount contains those.
func relative(cgPath, root string) (string, bool) {
	if strings.HasPrefix(cgPath, "/..") {
		return "", false
	}
	if root == "/" {
		return cgPath, true
	}
	if cgPath == root {
		return "/", true
	}
	if rest, ok := strings.CutPrefix(cgPath, root); ok && strings.HasPrefix(rest, "/") {
		return rest, true
	}
	return "", false
}

// readCPU reads the CFS quota and period from a cpu cgroup directory; zeros mean no limit.
func readCPU(fsys fs.FS, dir string, ver version) (quota, period int64, err error) {
	if ver == v2 {
		text, ok, err := readFile(fsys, dir, "cpu.max")
		if !ok || err != nil {
			return 0, 0, err
		}
		q, p, _ := strings.Cut(text, " ")
		if q == "max" {
			return 0, 0, nil
		}
		quota, err1 := strconv.ParseInt(q, 10, 64)
		period, err2 := strconv.ParseInt(p, 10, 64)
		if err1 != nil || err2 != nil || quota <= 0 || period <= 0 {
			return 0, 0, fmt.Errorf("/%s/cpu.max: malformed %q", dir, text)
		}
		return quota, period, nil
	}
	text, ok, err := readFile(fsys, dir, "cpu.cfs_quota_us")
	if !ok || err != nil {
		return 0, 0, err
	}
	quota, err = strconv.ParseInt(text, 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("/%s/cpu.cfs_quota_us: malformed %q", dir, text)
	}
	if quota <= 0 { // -1: no limit
		return 0, 0, nil
	}
	text, ok, err = readFile(fsys, dir, "cpu.cfs_period_us")
	if err != nil {
		return 0, 0, err
	}
	if !ok {
		return 0, 0, fmt.Errorf("/%s: cpu.cfs_quota_us is set but cpu.cfs_period_us is missing", dir)
	}
	period, err = strconv.ParseInt(text, 10, 64)
	if err != nil || period <= 0 {
		return 0, 0, fmt.Errorf("/%s/cpu.cfs_period_us: malformed %q", dir, text)
	}
	return quota, period, nil
}

// readMemory reads the hard memory limit from a memory cgroup directory; 0 means no limit.
func readMemory(fsys fs.FS, dir string, ver version) (int64, error) {
	name := "memory.limit_in_bytes"
	if ver == v2 {
		name = "memory.max"
	}
	text, ok, err := readFile(fsys, dir, name)
	if !ok || err != nil {
		return 0, err
	}
	if text == "max" {
		return 0, nil
	}
	n, err := strconv.ParseUint(text, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("/%s/%s: malformed %q", dir, name, text)
	}
	if n >= unlimitedMemory {
		return 0, nil
	}
	return int64(n), nil
}

// readFile returns the trimmed content of dir/name; ok is false when the file does not exist.
func readFile(fsys fs.FS, dir, name string) (text string, ok bool, err error) {
	data, err := fs.ReadFile(fsys, path.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read /%s: %w", path.Join(dir, name), err)
	}
	return strings.TrimSpace(string(data)), true, nil
}
