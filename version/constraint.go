package version

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// Constraint is a version requirement such as ">=9.0, <11", "^1.2" or
// "~2.3 || >=3.1". The syntax is that of github.com/Masterminds/semver/v3:
// comma or space means "and", "||" means "or". A constraint matches
// prerelease versions only when it names a prerelease itself
// (">=2.0.0-0"), the way npm and Helm behave. "~>" is Masterminds' other
// spelling of "~", not the pessimistic operator of Terraform and RubyGems:
// "~>1.2" allows 1.2.x only (>=1.2.0, <1.3.0), where Terraform's would
// allow every 1.x from 1.2; write ">=1.2, <2" or "^1.2" for that, and
// ">=0.12, <1" for Terraform's "~> 0.12", as "^0.12" allows 0.12.x only.
// [Constraint.PessimisticHint] says so where a version is refused for it,
// as the planner's errors and decisions do.
//
// The zero Constraint has no conditions: it allows every version,
// prereleases included, and prints as "*"; parsing "", blank or "*" gives
// it. A Constraint is immutable and safe for concurrent use.
type Constraint struct {
	p *parsed // nil for the zero Constraint; one word: requirements, dependents and demands hold a fleet's worth
}

// parsed is a constraint as written, as Masterminds parsed it, which gives
// the reasons a version fails it, and compiled, which Allows evaluates.
type parsed struct {
	src string // the input, trimmed, its white space made spaces
	sem *semver.Constraints
	cc  compiled
}

// ParseConstraint parses a constraint. An empty or blank string, or "*",
// gives the zero Constraint. A tab, line break or other ASCII white space
// within it is kept as a space, so that the constraint prints on one line.
func ParseConstraint(s string) (Constraint, error) {
	if len(s) > MaxLength {
		return Constraint{}, parseError(ErrInvalidConstraint, s, ErrTooLong)
	}
	src := strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\v' || r == '\f' || r == '\r' {
			return ' '
		}
		return r
	}, strings.TrimSpace(s))
	if src == "" || src == "*" {
		return Constraint{}, nil
	}
	sc, err := semver.NewConstraint(src)
	if err != nil {
		return Constraint{}, parseError(ErrInvalidConstraint, s, explainConstraint(src, err))
	}
	cc, err := compile(sc)
	if err != nil {
		return Constraint{}, parseError(ErrInvalidConstraint, s, err)
	}
	return Constraint{p: &parsed{src: src, sem: sc, cc: cc}}, nil
}

// explainConstraint returns, for Masterminds' error err on constraint
// src, an error that says what to change where Masterminds says only
// "improper constraint" or "constraint parser error": an empty
// alternative of "||", more alternatives than Masterminds reads, a single
// "|", an empty clause between commas, a range's "-" out of place, "==",
// a version that does not parse (see badVersionIn), or else what to
// write instead (see constraintAdvice).
func explainConstraint(src string, err error) error {
	alts := strings.Split(src, "||")
	if i, where := emptyPart(alts, "||"); where != "" {
		return fmt.Errorf(`alternative %d of %d is empty (%s): write a version range on each side of every "||", or remove the extra "||"`,
			i+1, len(alts), where)
	}
	if errors.Is(err, semver.ErrTooManyConstraintGroups) {
		return fmt.Errorf(`%d alternatives joined by "||", at most %d: merge alternatives into ranges, such as ">=1.2, <1.5" for "1.2.x || 1.3.x || 1.4.x"`,
			len(alts), semver.MaxConstraintGroups)
	}
	for i, alt := range alts {
		in := ""
		if len(alts) > 1 {
			in = fmt.Sprintf(" in alternative %d, %q", i+1, strings.TrimSpace(alt))
		}
		if strings.Contains(alt, "|") {
			return fmt.Errorf(`a single "|"%s: write "||" for "or"`, in)
		}
		if strings.Contains(alt, "==") {
			return fmt.Errorf(`"=="%s is not an operator: %s`, in, exactAdvice(alt))
		}
		if _, where := emptyPart(strings.Split(alt, ","), ","); where != "" {
			return fmt.Errorf(`an empty comparison%s (%s): separate comparisons with one ",", such as ">=1.0, <2"`, in, where)
		}
		if badHyphen.MatchString(alt) {
			return fmt.Errorf(`a "-" out of place%s: a range is written as two versions with a space on each side of "-", such as "1.2 - 1.4"`, in)
		}
	}
	if bad := badVersionIn(src, err); bad != nil {
		return bad
	}
	return fmt.Errorf("%w: %s", err, constraintAdvice(src))
}

// doubleEquals finds "==" and the version after it, as pip pins one.
var doubleEquals = regexp.MustCompile(`==\s*(v?[0-9][0-9A-Za-z.*+-]*)`)

// exactAdvice says what to write for the "==" of alt: "=" and the
// version in full, for exactly it, as "=1.2" and "1.2" allow any 1.2.x;
// or, for a wildcard (==3.11.*, a range in pip too), "=" and it.
func exactAdvice(alt string) string {
	generic := `write "=1.2.0" for exactly 1.2.0: "=1.2" and "1.2" allow any 1.2.x`
	m := doubleEquals.FindStringSubmatch(alt)
	if m == nil {
		return generic
	}
	written := cut(m[1], 64)
	if strings.ContainsAny(written, "xX*") {
		return fmt.Sprintf(`write "=%s"`, written)
	}
	v, err := Parse(m[1])
	if err != nil {
		return generic
	}
	nums := strings.TrimPrefix(versionNumbers.FindString(m[1]), "v")
	if strings.Count(nums, ".") == 2 {
		return fmt.Sprintf(`write "=%s"`, written)
	}
	full := v.Canonical().String()
	return fmt.Sprintf(`write "=%s" for exactly %s: "=%s" and "%s" allow any %s.x`, full, full, written, written, nums)
}

// badHyphen finds the "-" of a range written with a space on one side
// only ("1.2 -1.4", "1.2- 1.4"), or with no version on one side
// ("1.2 -", "- 1.4"), which Masterminds refuses as an improper
// constraint, or reads "1.2-" as a version.
var badHyphen = regexp.MustCompile(`^\s*-|\s-\S|\s-\s*$|\S-\s`)

// constraintName finds a name written before a version, as Go writes
// go1.21 and Adoptium jdk-21.0.2: the name, and the version.
var constraintName = regexp.MustCompile(`(?:^|[\s,|=<>~^!])([A-Za-z]+[-_]?)(v?[0-9][0-9A-Za-z.+-]*)`)

// compatibleZero finds Python's "~=" on a 0.x version of two numbers,
// such as ~=0.21, and its minor version.
var compatibleZero = regexp.MustCompile(`~=\s*v?0\.([0-9]+)(?:[^.0-9]|$)`)

// constraintWords finds "&&", and "and" and "or" written as words.
var constraintWords = regexp.MustCompile(`&&|(?:^|\s)(?:and|or|AND|OR)(?:\s|$)`)

// constraintAdvice says what to write instead of src, a constraint that
// Masterminds refused where no version in it is at fault, for the shapes
// other ecosystems write: quotes, Maven's interval notation, Python's
// "~=", "and" or "or" as words, a name before a version (go1.21), a
// character of no constraint.
func constraintAdvice(src string) string {
	switch {
	case strings.ContainsAny(src, "\"'`"):
		return "remove the quotes: a constraint is written without them"
	case src[0] == '[' || src[0] == '(':
		return `interval notation is not read: write [1.0,2.0) as ">=1.0, <2.0"`
	case strings.Contains(src, "~="):
		advice := `"~=" (Python's compatible release) is not an operator: write ~=1.4 as "^1.4", ~=1.4.2 as "~1.4.2"`
		if m := compatibleZero.FindStringSubmatch(src); m != nil {
			// "^" on 0.x holds the minor version, where "~=" does not.
			minor := cut(m[1], 32)
			advice += fmt.Sprintf(`; but write ~=0.%s as ">=0.%s, <1": "^0.%s" allows 0.%s.x only`, minor, minor, minor, minor)
		}
		return advice
	case constraintWords.MatchString(src):
		return `write "," or a space for "and", "||" for "or"`
	}
	for _, m := range constraintName.FindAllStringSubmatch(src, -1) {
		if m[1] != "v" {
			return fmt.Sprintf("%q before %s is no part of a version: write %s", cut(m[1], 32), cut(m[2], 64), cut(m[2], 64))
		}
	}
	if r, i := firstOutside(src, versionChars+"*|,=<>!~^ "); i >= 0 {
		return fmt.Sprintf("character %q at byte %d is not part of a constraint", r, i)
	}
	return `write comparisons such as ">=1.2, <2", "^1.2", "~1.2.3" or "1.2.x", joined by "||" for "or"`
}

// emptyPart finds the first blank one of parts, split at sep, and says
// where it is, such as `nothing after the last "||"`; or returns "" when
// none is blank, or there is only one part.
func emptyPart(parts []string, sep string) (int, string) {
	if len(parts) < 2 {
		return 0, ""
	}
	for i, part := range parts {
		switch {
		case strings.TrimSpace(part) != "":
		case i == 0:
			return i, fmt.Sprintf("nothing before the first %q", sep)
		case i == len(parts)-1:
			return i, fmt.Sprintf("nothing after the last %q", sep)
		default:
			return i, fmt.Sprintf("nothing between the %q after %q and the next %q", sep, strings.TrimSpace(strings.Join(parts[:i], sep)), sep)
		}
	}
	return 0, ""
}

// versionLike matches what a constraint's comparisons compare with.
var versionLike = regexp.MustCompile(`v?[0-9][0-9A-Za-z.+-]*`)

// badVersionIn returns, for Masterminds' error err on constraint src, the
// error of the first version in src that does not parse, which says what
// is wrong with it ("value out of range") where Masterminds' own says
// "constraint parser error"; or nil.
func badVersionIn(src string, err error) error {
	for _, v := range versionLike.FindAllString(src, -1) {
		if strings.ContainsAny(v, "xX*") {
			continue // a wildcard, which Parse refuses
		}
		if _, perr := semver.NewVersion(v); perr != nil {
			return fmt.Errorf("%w: version %q: %w", err, v, explainVersion(v, perr))
		}
	}
	return nil
}

// MustParseConstraint is like ParseConstraint but panics on error. Use it
// only for constants.
func MustParseConstraint(s string) Constraint {
	c, err := ParseConstraint(s)
	if err != nil {
		panic(err)
	}
	return c
}

// IsZero reports whether c is the zero Constraint, which allows everything.
func (c Constraint) IsZero() bool { return c.p == nil }

// String returns the constraint as written (trimmed, its white space
// made spaces), or "*" for the zero Constraint.
func (c Constraint) String() string {
	if c.p == nil {
		return "*"
	}
	return c.p.src
}

// Allows reports whether v satisfies c. It does not allocate.
func (c Constraint) Allows(v Version) bool {
	return c.p == nil || c.p.cc.allows(&v, false)
}

// Span returns the part [lo, hi) of a list of n versions in ascending
// order (as Compare orders them; at returns the i-th) outside of which c
// allows none, or [0, 0) when c can allow none of them. It looks at
// O(log n) of them, as sort.Search does, so that a caller that wants the
// versions c allows need check only those within. Within the span, c may
// still refuse some: a pre-release, a version "!=" excludes, one between
// the ranges of "<1 || >2".
func (c Constraint) Span(n int, at func(i int) Version) (lo, hi int) {
	if c.p == nil {
		return 0, n
	}
	return c.p.cc.span(n, at)
}

// Check returns nil when v satisfies c, and otherwise an
// *UnsatisfiedError that says why. It allocates only when v fails c.
func (c Constraint) Check(v Version) error {
	if c.Allows(v) {
		return nil
	}
	return c.unsatisfied(v)
}

// unsatisfied builds Check's error. It is a function of its own so that
// v escapes to the heap only when v fails c.
func (c Constraint) unsatisfied(v Version) error {
	sv := v.semver()
	_, reasons := c.p.sem.Validate(sv)
	// The checker quotes the version in canonical form: quote it as
	// written, as everything else does.
	if s := v.String(); s != sv.String() {
		canon, written := strconv.Quote(sv.String()), strconv.Quote(s)
		for i, r := range reasons {
			if msg, ok := strings.CutPrefix(r.Error(), canon); ok {
				reasons[i] = errors.New(written + msg)
			}
		}
	}
	return &UnsatisfiedError{Version: v, Constraint: c, Reasons: reasons}
}

// ExcludesPrerelease reports whether c refuses v only because v is a
// pre-release: a constraint allows pre-releases only when it names one
// itself, so ">=1.30" refuses "1.30.4-eks-a1" though 1.30.4-eks-a1 is
// above 1.30.0, and ">=1.30.0-0" allows it.
func (c Constraint) ExcludesPrerelease(v Version) bool {
	return c.p != nil && v.Prerelease() != "" && !c.p.cc.allows(&v, false) && c.p.cc.allows(&v, true)
}

// PrereleaseHint returns, when c refuses v only because v is a
// pre-release (see [Constraint.ExcludesPrerelease]), a sentence that says
// so and how to allow pre-releases, such as "1.30.4-eks-a1 is a
// pre-release, which >=1.30 excludes: write >=1.30.0-0 to allow
// pre-releases"; otherwise "". Errors append it to say what to do next.
func (c Constraint) PrereleaseHint(v Version) string {
	if !c.ExcludesPrerelease(v) {
		return ""
	}
	msg := v.String() + " is a pre-release, which " + c.p.src + " excludes: "
	if fix, ok := c.withPrereleases(v); ok {
		return msg + "write " + fix + " to allow pre-releases"
	}
	return msg + "a constraint allows pre-releases only when it names one: add a lower bound such as >=" +
		strconv.FormatUint(v.Major(), 10) + "." + strconv.FormatUint(v.Minor(), 10) + ".0-0"
}

// PessimisticHint returns, when c refuses v but would allow it if its
// two-part "~>" clauses meant what they mean to Terraform and RubyGems
// ("~> 5.0" is any 5.x from 5.0, not Masterminds' 5.0.x), a sentence that
// says so and what to write, such as `"~> 5.0" allows only the patch
// releases of the version it names (~> is Masterminds' "~" here, not
// Terraform's or RubyGems' operator): write ">=5.0, <6" to allow 5.3.1`;
// otherwise "". Errors append it to say what to do next. It parses the
// constraint it suggests, each time: a Constraint holds nothing that
// changes once it is made, so that two made from one text stay equal
// (reflect.DeepEqual, as hosts' tests compare plans).
func (c Constraint) PessimisticHint(v Version) string {
	if c.p == nil || !strings.Contains(c.p.src, "~>") || c.Allows(v) {
		return ""
	}
	src, fix := c.p.src, c.p.src
	locs := twoPartPessimistic.FindAllStringSubmatchIndex(src, -1)
	clauses := make([]string, len(locs))
	for i := len(locs) - 1; i >= 0; i-- { // from the last, so that the earlier ones' places hold
		loc := locs[i]
		major, err := strconv.ParseUint(src[loc[2]:loc[3]], 10, 64)
		if err != nil || major == math.MaxUint64 {
			return ""
		}
		clauses[i] = strconv.Quote(src[loc[0]:loc[5]])
		fix = fix[:loc[0]] + fmt.Sprintf(">=%s.%s, <%d", src[loc[2]:loc[3]], src[loc[4]:loc[5]], major+1) + fix[loc[5]:]
	}
	if len(clauses) == 0 {
		return ""
	}
	if f, err := ParseConstraint(fix); err != nil || !f.Allows(v) {
		return ""
	}
	what := " allows only the patch releases of the version it names"
	if len(clauses) > 1 {
		what = " allow only the patch releases of the versions they name"
	}
	return fmt.Sprintf(`%s%s (~> is Masterminds' "~" here, not Terraform's or RubyGems' operator): write %q to allow %s`,
		strings.Join(clauses, " and "), what, fix, v)
}

// twoPartPessimistic finds a "~>" with a major and a minor version and no
// patch, the one "~>" that Masterminds and Terraform read differently.
var twoPartPessimistic = regexp.MustCompile(`~>\s*v?(\d+)\.(\d+)(?:[^.\-+0-9A-Za-z]|$)`)

// lowerBound finds the operator and version of a clause that sets a lower
// bound: ">=1.30" (or "=>1.30"), "~1.2", "^2", "~>3.1" or "=1.29"; not the "=" of "<="
// or "!=", which set none.
var lowerBound = regexp.MustCompile(`(?:^|[^<>!=~^])(>=|=>|~>|~|\^|=)\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:[^-+.0-9A-Za-z]|$)`)

// withPrereleases returns c with the "-0" pre-release added to the lower
// bound of its first clause that has one and whose bound, so changed,
// allows v: the pre-release may fall in any alternative of "||", as
// 22.0.0-rc.1 in the second of "^18.17 || >=20.5".
func (c Constraint) withPrereleases(v Version) (string, bool) {
	src := c.p.src
	for _, loc := range lowerBound.FindAllStringSubmatchIndex(src, -1) {
		if fix, ok := withPrereleaseAt(src, loc, v); ok {
			return fix, true
		}
	}
	return "", false
}

// withPrereleaseAt returns src with the "-0" pre-release added to the
// lower bound that loc, a match of lowerBound, finds, when the result
// allows v.
func withPrereleaseAt(src string, loc []int, v Version) (string, bool) {
	written := func(i int) bool { return loc[2*i] >= 0 }
	part := func(i int) string {
		if !written(i) {
			return "0"
		}
		return src[loc[2*i]:loc[2*i+1]]
	}
	op := src[loc[2]:loc[3]]
	end := loc[2*4+1]
	if !written(4) {
		end = max(loc[2*3+1], loc[2*2+1])
	}
	// A version without its patch is a range ("=1.2" is 1.2.x, "~1" 1.x,
	// "^0" 0.x), which the same version written in full is not, except
	// after ">=", after "~" with two parts other than 0.0, and after "^"
	// with a major or a minor above 0 ("~1.29" is ~1.29.0, "^1" ^1.0.0).
	// Elsewhere "-0" follows the version as written: "=1.2-0", "~1-0".
	bound := part(2) + "." + part(3) + "." + part(4) + "-0"
	if !written(4) {
		zero := func(i int) bool { return strings.Trim(part(i), "0") == "" }
		full := op == ">=" || op == "=>" ||
			(op == "~" || op == "~>") && written(3) && !(zero(2) && zero(3)) ||
			op == "^" && (!zero(2) || written(3) && !zero(3))
		if !full {
			bound = part(2) + "-0"
			if written(3) {
				bound = part(2) + "." + part(3) + "-0"
			}
		}
	}
	fix := src[:loc[2]] + op + bound + src[end:]
	f, err := ParseConstraint(fix)
	if err != nil || !f.Allows(v) {
		return "", false
	}
	return fix, true
}

// MarshalText implements encoding.TextMarshaler. The zero Constraint
// marshals as "" so that it round-trips as "no constraint".
func (c Constraint) MarshalText() ([]byte, error) {
	if c.p == nil {
		return []byte{}, nil
	}
	return []byte(c.p.src), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (c *Constraint) UnmarshalText(text []byte) error {
	p, err := ParseConstraint(string(text))
	if err != nil {
		return err
	}
	*c = p
	return nil
}

// UnsatisfiedError reports a version that a constraint does not allow.
// It matches ErrUnsatisfied with errors.Is.
type UnsatisfiedError struct {
	Version    Version
	Constraint Constraint
	Reasons    []error // from the constraint checker, one per failed clause
}

func (e *UnsatisfiedError) Error() string {
	msg := fmt.Sprintf("version: %s does not satisfy %q", e.Version, e.Constraint)
	if len(e.Reasons) > 0 {
		msg += ": " + errors.Join(e.Reasons...).Error()
		msg = strings.ReplaceAll(msg, "\n", "; ")
	}
	if hint := e.Constraint.PrereleaseHint(e.Version); hint != "" {
		msg += "; " + hint
	}
	return msg
}

// Is reports whether target is ErrUnsatisfied.
func (e *UnsatisfiedError) Is(target error) bool { return target == ErrUnsatisfied }
