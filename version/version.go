// Package version holds the semantic versions and version constraints that
// stackup compares platform and application nodes with.
//
// [Version] and [Constraint] wrap github.com/Masterminds/semver/v3 so that the
// rest of stackup never handles raw strings. Parsing is bounded: inputs longer
// than [MaxLength] bytes are refused with an error before any work is done.
// The package never changes Masterminds' package-level switches
// (semver.CoerceNewVersion, semver.DetailedNewVersionErrors); stackup relies
// on their defaults, so an embedder that changes them changes what parses.
//
// Versions are loose in the way operators write them: "8.5" is 8.5.0,
// "18.04" is 18.4.0 and a leading "v" is accepted. A Version keeps the text
// it was parsed from: [Version.String] and MarshalText give it back as
// written ("18.04", "v2.1"), so that what stackup prints and saves reads as
// the operator's topology and package index do, while [Version.Compare]
// orders versions by their meaning. [Version.Canonical] gives the canonical
// three-part form ("18.4.0") where one spelling is needed.
package version

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/Masterminds/semver/v3"
)

// MaxLength is the longest version or constraint string accepted, in bytes.
const MaxLength = 256

// Sentinel errors, usable with errors.Is. Parse errors are *ParseError values
// that wrap one of them.
var (
	// ErrInvalidVersion reports a malformed version string.
	ErrInvalidVersion = errors.New("invalid version")
	// ErrInvalidConstraint reports a malformed constraint string.
	ErrInvalidConstraint = errors.New("invalid constraint")
	// ErrTooLong reports an input longer than MaxLength.
	ErrTooLong = fmt.Errorf("longer than %d bytes", MaxLength)
	// ErrUnsatisfied reports a version that does not meet a constraint.
	ErrUnsatisfied = errors.New("constraint not satisfied")
)

// ParseError reports a version or constraint string that could not be parsed.
type ParseError struct {
	Kind  error  // ErrInvalidVersion or ErrInvalidConstraint
	Input string // the offending input, cut to 64 bytes
	Err   error  // the cause: ErrTooLong or the parser's reason
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("version: %v %q: %v", e.Kind, e.Input, e.Err)
}

// Unwrap returns both the kind and the cause, so errors.Is matches either.
func (e *ParseError) Unwrap() []error { return []error{e.Kind, e.Err} }

func parseError(kind error, input string, err error) *ParseError {
	return &ParseError{Kind: kind, Input: cut(input, 64), Err: err}
}

// cut returns s cut to at most n bytes at a rune boundary, and "…", when
// it is longer.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// The shapes of versions other ecosystems write, which explainVersion
// says how to write as semantic versions: a Debian or RPM epoch ("1:"),
// more than three numbers ("1.2.3.4"), letters right after the numbers
// (PEP 440's "1.0rc1", "2.0.post1"), Java 8's update ("1.8.0_392"), and
// a name before the numbers (Go's "go1.22.5", Adoptium's "jdk-21.0.2+13").
var (
	versionEpoch    = regexp.MustCompile(`^[0-9]+:`)
	versionNumbers  = regexp.MustCompile(`^v?[0-9]+(?:\.[0-9]+){0,2}`)
	versionWildcard = regexp.MustCompile(`^v?(?:[0-9]+\.){0,2}[xX*](?:$|[.+-])`)
	versionJava8    = regexp.MustCompile(`^1\.([1-8])\.0_([0-9]+)(?:-b([0-9]+))?$`)
	versionName     = regexp.MustCompile(`^([A-Za-z]+[-_]?)[0-9]`)
)

// versionChars are the characters a version is written with.
const versionChars = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-+"

// firstOutside returns the first rune of s that is not in set, and its
// byte offset; or an offset of -1.
func firstOutside(s, set string) (rune, int) {
	i := strings.IndexFunc(s, func(r rune) bool { return !strings.ContainsRune(set, r) })
	if i < 0 {
		return 0, -1
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return r, i
}

// explainVersion returns Masterminds' error err on version s, which says
// only "invalid semantic version" or "version segment starts with 0",
// with what to write instead.
func explainVersion(s string, err error) error {
	return fmt.Errorf("%w: %s", err, versionAdvice(s, err))
}

// versionAdvice says what to write instead of s, a version on which
// Masterminds failed with err.
func versionAdvice(s string, err error) string {
	nums := versionNumbers.FindString(s)
	var name string // before the numbers, but for the "v" a version may have
	if m := versionName.FindStringSubmatch(s); m != nil && m[1] != "v" {
		name = m[1]
	}
	rest := strings.TrimPrefix(s[len(nums):], ".")
	var advice string
	switch {
	case s == "":
		advice = "give a version such as 1.4.0"
	case strings.TrimSpace(s) != s:
		advice = "remove the white space around it"
	case versionEpoch.MatchString(s):
		advice = fmt.Sprintf("%q is an epoch, which a semantic version has not: write the version without it", versionEpoch.FindString(s))
	case s[0] == 'V':
		advice = `write a lowercase "v", or none`
	case versionWildcard.MatchString(s):
		advice = `a version is exact: write the version itself, such as 1.2.0; "x" and "*" belong in constraints`
	case name != "":
		advice = nameAdvice(name, s[len(name):])
	case errors.Is(err, semver.ErrSegmentStartsZero):
		pre, _, _ := strings.Cut(s, "+")
		_, pre, _ = strings.Cut(pre, "-")
		for id := range strings.SplitSeq(pre, ".") {
			if n, ok := parseUint(id); ok && len(id) > 1 && id[0] == '0' {
				advice = fmt.Sprintf("the pre-release identifier %q is a number with a leading zero, which a semantic version may not hold: write \"%d\", or put a letter in it", cut(id, 32), n)
				break
			}
		}
	case errors.Is(err, strconv.ErrRange):
		advice = "a number of a version is at most " + strconv.FormatUint(math.MaxUint64, 10)
	}
	if r, i := firstOutside(s, versionChars); advice == "" && i >= 0 {
		advice = fmt.Sprintf(`character %q at byte %d: a version holds only ASCII letters and digits, ".", "-" and "+"`, r, i)
		if m := versionJava8.FindStringSubmatch(s); m != nil {
			num := func(s string) string { return cmp.Or(strings.TrimLeft(s, "0"), "0") }
			java := m[1] + ".0." + num(m[2])
			if m[3] != "" {
				java += "+" + num(m[3])
			}
			advice += fmt.Sprintf(`: Java %s's %s is %s, as Adoptium writes it`, m[1], m[0], java)
		} else if r == '~' && i == len(nums) && nums != "" && i+1 < len(s) {
			advice += fmt.Sprintf(`: write Debian's pre-release %s as %s-%s, which orders before %s as it does`, cut(s, 32), nums, cut(s[i+1:], 32), nums)
		}
	}
	switch {
	case advice != "":
	case strings.Count(nums, ".") == 2 && len(rest) > 0 && rest[0] >= '0' && rest[0] <= '9':
		advice = fmt.Sprintf(`a version has at most three numbers, major.minor.patch: write what follows the third after a "-", as a pre-release (%s-%s, which orders before %s), or after a "+", as build metadata (%s+%s, which does not order)`,
			nums, cut(rest, 32), nums, nums, cut(rest, 32))
	case nums != "" && len(rest) > 0 && (rest[0] >= 'a' && rest[0] <= 'z' || rest[0] >= 'A' && rest[0] <= 'Z'):
		advice = fmt.Sprintf(`letters follow a "-", as a pre-release (%s-%s, which orders before %s), or a "+", as build metadata (%s+%s, which does not order)`,
			nums, cut(rest, 32), nums, nums, cut(rest, 32))
	default:
		advice = `write major.minor.patch, such as 1.4.0, then optionally "-" and a pre-release, "+" and build metadata`
	}
	return advice
}

// nameAdvice says what to write instead of a version written with a name
// before its numbers, such as Go's go1.22.5: the version without it, or
// what else is wrong with that.
func nameAdvice(name, rest string) string {
	advice := fmt.Sprintf("%q before the numbers is no part of a version: ", cut(name, 32))
	if _, err := semver.NewVersion(rest); err != nil {
		return advice + "write the version without it, and " + versionAdvice(rest, err)
	}
	return advice + "write " + cut(rest, 64)
}

// Version is a semantic version, as written. Versions are comparable with
// ==, but == means "written the same": "18.04" and "18.4.0" are the same
// version and are not ==. Ask [Version.Same] whether two versions are the
// same version however written (build metadata counts), and
// [Version.Compare] for semantic order (build metadata does not count).
// A map that must hold one entry per version is keyed by
// [Version.Canonical].
//
// The zero Version is 0.0.0 and reports IsZero; it is what an unset version
// field holds. Zero written any way ("0", "0.0", "v0.0.0") parses to it and
// prints "0.0.0": there is one unset version.
type Version struct {
	// text is the version as written, "" for the zero Version; the
	// pre-release and build metadata are read from it (see split). With
	// the numbers, it is 40 bytes, not a semver.Version's 72: a plan of
	// a million steps holds two million versions.
	text                string
	major, minor, patch uint64
}

// fromSemver is the Version Masterminds parsed sv as.
func fromSemver(sv *semver.Version) Version {
	return Version{text: sv.Original(), major: sv.Major(), minor: sv.Minor(), patch: sv.Patch()}
}

// semver returns v as Masterminds' Version, for its messages.
func (v Version) semver() *semver.Version {
	if v.IsZero() {
		return &semver.Version{}
	}
	sv, err := semver.NewVersion(v.text)
	if err != nil { // unreachable: v.text was parsed so
		return semver.New(v.major, v.minor, v.patch, v.Prerelease(), v.Metadata())
	}
	return sv
}

// hasPrerelease reports whether v has a pre-release: a "-" before any
// "+" (see split). It is Prerelease() != "" in one pass, for Allows, which
// asks it of every version it checks.
func (v *Version) hasPrerelease() bool {
	for i := 0; i < len(v.text); i++ {
		switch v.text[i] {
		case '-':
			return true
		case '+':
			return false
		}
	}
	return false
}

// split returns the pre-release and build metadata of v's text, without
// their "-" and "+": as Masterminds' grammar reads them, the metadata
// follows the first "+" and the pre-release the first "-" before it, as
// the numbers hold neither.
func (v Version) split() (pre, meta string) {
	s := v.text
	if i := strings.IndexByte(s, '+'); i >= 0 {
		s, meta = s[:i], s[i+1:]
	}
	if i := strings.IndexByte(s, '-'); i >= 0 {
		pre = s[i+1:]
	}
	return pre, meta
}

// Parse parses a version such as "1.2.3", "v2.0.0-rc.1", "8.5" or "18.04".
func Parse(s string) (Version, error) {
	if len(s) > MaxLength {
		return Version{}, parseError(ErrInvalidVersion, s, ErrTooLong)
	}
	if v, ok := parsePlain(s); ok {
		return v, nil
	}
	return parseSemver(s)
}

// parsePlain is Parse for the form nearly every version has,
// MAJOR.MINOR.PATCH in decimal without leading zeros, not 0.0.0, which it
// reads without Masterminds' regular expression: that took most of the
// time to read a fleet's plan, two versions a step. ok is false for any
// other text. FuzzParsePlainAgrees holds it to parseSemver.
func parsePlain(s string) (v Version, ok bool) {
	var n [3]uint64
	rest := s
	for i := range n {
		end := digits(rest)
		if end == 0 || end > 1 && rest[0] == '0' {
			return Version{}, false
		}
		var err error
		if n[i], err = strconv.ParseUint(rest[:end], 10, 64); err != nil {
			return Version{}, false
		}
		rest = rest[end:]
		if i < len(n)-1 {
			if rest == "" || rest[0] != '.' {
				return Version{}, false
			}
			rest = rest[1:]
		}
	}
	if rest != "" || n == [3]uint64{} {
		return Version{}, false
	}
	return Version{text: s, major: n[0], minor: n[1], patch: n[2]}, true
}

// parseSemver is Parse through Masterminds.
func parseSemver(s string) (Version, error) {
	sv, err := semver.NewVersion(s)
	if err != nil {
		return Version{}, parseError(ErrInvalidVersion, s, explainVersion(s, err))
	}
	if isZero(sv) {
		return Version{}, nil // one representation of 0.0.0, so == holds
	}
	v := fromSemver(sv)
	if canonicalLen(sv) > MaxLength {
		// "1-…" is "1.0.0-…" in canonical form: refuse what could not be
		// parsed back from it.
		return Version{}, parseError(ErrInvalidVersion, s, ErrTooLong)
	}
	return v, nil
}

// MustParse is like Parse but panics on error. Use it only for constants.
func MustParse(s string) Version {
	v, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return v
}

func isZero(sv *semver.Version) bool {
	return sv.Major() == 0 && sv.Minor() == 0 && sv.Patch() == 0 && sv.Prerelease() == "" && sv.Metadata() == ""
}

// canonicalLen returns the length of sv's canonical form.
func canonicalLen(sv *semver.Version) int {
	n := uintLen(sv.Major()) + 1 + uintLen(sv.Minor()) + 1 + uintLen(sv.Patch())
	if p := sv.Prerelease(); p != "" {
		n += 1 + len(p)
	}
	if m := sv.Metadata(); m != "" {
		n += 1 + len(m)
	}
	return n
}

func uintLen(u uint64) int {
	n := 1
	for ; u >= 10; u /= 10 {
		n++
	}
	return n
}

// IsZero reports whether v is the zero Version (0.0.0 with no prerelease or
// metadata), which stackup treats as "unset".
func (v Version) IsZero() bool { return v == Version{} }

// String returns the version as written, such as "18.04", "v2.1" or
// "2.0.0-rc.1+build.5"; "0.0.0" for the zero Version. It does not
// allocate: the text is kept from parsing.
func (v Version) String() string {
	if v.text != "" {
		return v.text
	}
	return "0.0.0"
}

// Canonical returns v written in canonical form: three numbers, no "v",
// such as "18.4.0" for "18.04" or "2.1.0" for "v2.1". Canonical versions
// are == exactly when they are the same version (see [Version.Same]), so
// they key maps that must hold one entry per version, and name things
// that must not change with the spelling. It allocates only when v is not
// written canonically already.
func (v Version) Canonical() Version {
	if v.IsZero() || v.isCanonical() {
		return v
	}
	pre, meta := v.split()
	var buf [MaxLength + 64]byte
	b := strconv.AppendUint(buf[:0], v.major, 10)
	b = strconv.AppendUint(append(b, '.'), v.minor, 10)
	b = strconv.AppendUint(append(b, '.'), v.patch, 10)
	if pre != "" {
		b = append(append(b, '-'), pre...)
	}
	if meta != "" {
		b = append(append(b, '+'), meta...)
	}
	return Version{text: string(b), major: v.major, minor: v.minor, patch: v.patch}
}

// isCanonical reports, without allocating, whether v is written in
// canonical form.
func (v Version) isCanonical() bool {
	var buf [64]byte
	b := strconv.AppendUint(buf[:0], v.major, 10)
	b = strconv.AppendUint(append(b, '.'), v.minor, 10)
	b = strconv.AppendUint(append(b, '.'), v.patch, 10)
	s := v.text
	if len(s) < len(b) || s[:len(b)] != string(b) {
		return false
	}
	s = s[len(b):]
	p, m := v.split()
	if p != "" {
		if len(s) < 1+len(p) || s[0] != '-' || s[1:1+len(p)] != p {
			return false
		}
		s = s[1+len(p):]
	}
	if m != "" {
		return len(s) == 1+len(m) && s[0] == '+' && s[1:] == m
	}
	return s == ""
}

// Same reports whether v and o are the same version however they are
// written: "18.04", "v18.4" and "18.4.0" are the same. Build metadata
// counts, unlike in Compare: "1.0.0+a" and "1.0.0+b" order equal but are
// not the same. It is v.Canonical() == o.Canonical(), without allocating.
func (v Version) Same(o Version) bool {
	// Parse refuses the pre-release identifiers that order equal and read
	// differently ("01"), so equal text is equal order.
	if v.major != o.major || v.minor != o.minor || v.patch != o.patch {
		return false
	}
	vp, vm := v.split()
	op, om := o.split()
	return vp == op && vm == om
}

// CompareStrict orders as Compare, then versions that Compare equal by
// their canonical form, its build metadata with numbers in it compared as
// numbers (1.28.2+k3s9 before 1.28.2+k3s10, as their builders number
// them), then by their text as written. It returns 0 only when v == o: a
// total order for sorting, in which versions that are [Version.Same] sit
// next to each other.
func (v Version) CompareStrict(o Version) int {
	if c := v.Compare(o); c != 0 {
		return c
	}
	vp, vm := v.split()
	op, om := o.split()
	return cmp.Or(cmp.Compare(vp, op), compareNumbered(vm, om), cmp.Compare(vm, om), cmp.Compare(v.text, o.text))
}

// compareNumbered compares a and b byte by byte, but for runs of digits,
// which it compares as the numbers they write ("k3s9" before "k3s10";
// "01" and "1" equal).
func compareNumbered(a, b string) int {
	for a != "" && b != "" {
		da, db := digits(a), digits(b)
		if da == 0 || db == 0 {
			if c := cmp.Compare(a[0], b[0]); c != 0 {
				return c
			}
			a, b = a[1:], b[1:]
			continue
		}
		na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
		if c := cmp.Or(cmp.Compare(len(na), len(nb)), cmp.Compare(na, nb)); c != 0 {
			return c
		}
		a, b = a[da:], b[db:]
	}
	return cmp.Compare(len(a), len(b))
}

// digits returns the length of the run of ASCII digits s starts with.
func digits(s string) int {
	n := 0
	for n < len(s) && '0' <= s[n] && s[n] <= '9' {
		n++
	}
	return n
}

// Major returns the major component.
func (v Version) Major() uint64 { return v.major }

// Minor returns the minor component.
func (v Version) Minor() uint64 { return v.minor }

// Patch returns the patch component.
func (v Version) Patch() uint64 { return v.patch }

// Prerelease returns the prerelease part without its "-", or "".
func (v Version) Prerelease() string { pre, _ := v.split(); return pre }

// Metadata returns the build metadata without its "+", or "".
func (v Version) Metadata() string { _, meta := v.split(); return meta }

// Compare returns -1, 0 or +1 as v sorts before, equal to or after o in
// semantic-version order. Build metadata does not take part. It orders
// as Masterminds' Version.Compare does, without allocating.
func (v Version) Compare(o Version) int { return compare(&v, &o) }

// compare is Compare without copying the versions.
func compare(v, o *Version) int {
	if c := cmp.Or(cmp.Compare(v.major, o.major), cmp.Compare(v.minor, o.minor),
		cmp.Compare(v.patch, o.patch)); c != 0 {
		return c
	}
	vp, op := v.Prerelease(), o.Prerelease()
	switch {
	case vp == op:
		return 0
	case vp == "":
		return 1
	case op == "":
		return -1
	}
	return comparePrerelease(vp, op)
}

// comparePrerelease orders two pre-releases as Masterminds' function of
// the same name does, identifier by identifier, without splitting them
// into a slice.
func comparePrerelease(v, o string) int {
	vMore, oMore := true, true
	for vMore || oMore {
		var vi, oi string
		if vMore {
			vi, v, vMore = strings.Cut(v, ".")
		}
		if oMore {
			oi, o, oMore = strings.Cut(o, ".")
		}
		if c := comparePrePart(vi, oi); c != 0 {
			return c
		}
	}
	return 0
}

// comparePrePart is Masterminds' function of the same name: an absent
// identifier sorts first, numbers (those that fit in a uint64) before
// words, words by their bytes.
func comparePrePart(s, o string) int {
	switch {
	case s == o:
		return 0
	case s == "":
		return -1
	case o == "":
		return 1
	}
	sn, sNum := parseUint(s)
	on, oNum := parseUint(o)
	switch {
	case !sNum && !oNum:
		if s > o {
			return 1
		}
		return -1
	case !oNum:
		return -1
	case !sNum:
		return 1
	case sn > on:
		return 1
	}
	return -1
}

// parseUint is strconv.ParseUint(s, 10, 64) without the error value,
// which allocates.
func parseUint(s string) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		d := s[i] - '0'
		if d > 9 || n > (math.MaxUint64-uint64(d))/10 {
			return 0, false
		}
		n = n*10 + uint64(d)
	}
	return n, true
}

// Less reports whether v sorts before o.
func (v Version) Less(o Version) bool { return v.Compare(o) < 0 }

// MarshalText implements encoding.TextMarshaler. It gives the text as
// written, so that a version parsed back is == to v.
func (v Version) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (v *Version) UnmarshalText(text []byte) error {
	p, err := Parse(string(text))
	if err != nil {
		return err
	}
	*v = p
	return nil
}
