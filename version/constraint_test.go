package version_test

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/version"
)

func TestParseConstraintValid(t *testing.T) {
	tests := []struct {
		in   string
		want string // String(): the input, trimmed
	}{
		{">=9.0, <11", ">=9.0, <11"},
		{"^1.2", "^1.2"},
		{"  ^1.2\t\n", "^1.2"},
		{"~2.3 || >=3.1", "~2.3 || >=3.1"},
		{"1.2 - 2.0", "1.2 - 2.0"},
		{"1.x", "1.x"},
		{"!=1.0.0", "!=1.0.0"},
		{"=1.0.0", "=1.0.0"},
		{"1.0.0", "1.0.0"},
		{">=1.0.0-0", ">=1.0.0-0"},
		{">=v1.0 <2", ">=v1.0 <2"},
		{"~>1.2.3", "~>1.2.3"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			c, err := version.ParseConstraint(tt.in)
			require.NoError(t, err)
			assert.False(t, c.IsZero())
			assert.Equal(t, tt.want, c.String())

			again, err := version.ParseConstraint(c.String())
			require.NoError(t, err)
			assert.Equal(t, c.String(), again.String())
		})
	}
}

func TestParseConstraintInvalid(t *testing.T) {
	tests := []string{
		">>1.0",
		"abc",
		">=1.0.0.0",
		"~>",
		"1.2.3 -",
		">=1.0,",
		"1.0.0 ||",
		"||",
		">= 1.0, , <2",
		"1.2 -- 2.0",
		"1.0.0-01",
		" >>1 ", // Input is the raw input, not the trimmed one
	}
	for _, in := range tests {
		t.Run(strconv.Quote(in), func(t *testing.T) {
			c, err := version.ParseConstraint(in)
			require.Error(t, err)
			assert.True(t, c.IsZero(), "failed ParseConstraint must return the zero Constraint")
			assert.ErrorIs(t, err, version.ErrInvalidConstraint)
			assert.NotErrorIs(t, err, version.ErrInvalidVersion)
			assert.NotErrorIs(t, err, version.ErrTooLong)

			var pe *version.ParseError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, in, pe.Input)
			assert.Equal(t, version.ErrInvalidConstraint, pe.Kind)
			assert.Error(t, pe.Err)
			assert.Contains(t, err.Error(), strconv.Quote(in))
		})
	}
}

// TestParseConstraintNamesBadVersion: where Masterminds says only
// "constraint parser error", the error names the version at fault and why.
func TestParseConstraintNamesBadVersion(t *testing.T) {
	for in, want := range map[string]string{
		">=99999999999999999999":  `version "99999999999999999999": error parsing version segment: strconv.ParseUint: parsing "99999999999999999999": value out of range`,
		">=1.0, <1.2.3.4":         `version "1.2.3.4": invalid semantic version`,
		"^1.x || >=2.0.0.0":       `version "2.0.0.0": invalid semantic version`,
		">=1.0.0-01, <2.0.0-beta": `version "1.0.0-01": `,
	} {
		_, err := version.ParseConstraint(in)
		require.ErrorIs(t, err, version.ErrInvalidConstraint, in)
		assert.Contains(t, err.Error(), want, in)
	}
	_, err := version.ParseConstraint(">>1.0")
	assert.NotContains(t, err.Error(), `: version "`, "no version at fault: Masterminds' error alone")
}

func TestParseConstraintLength(t *testing.T) {
	atLimit := ">=1.0.0" + strings.Repeat(" ", version.MaxLength-len(">=1.0.0"))
	require.Len(t, atLimit, version.MaxLength)
	c, err := version.ParseConstraint(atLimit)
	require.NoError(t, err)
	assert.Equal(t, ">=1.0.0", c.String())

	tests := []struct {
		name string
		in   string
	}{
		{"one byte over", atLimit + " "},
		{"1 MiB constraint", strings.Repeat(">=1.0.0 ", 1<<17)},
		{"1 MiB blank", strings.Repeat(" ", 1<<20)},
		{"1 MiB garbage", strings.Repeat("é|", 1<<19)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Greater(t, len(tt.in), version.MaxLength)
			c, err := version.ParseConstraint(tt.in)
			require.Error(t, err)
			assert.True(t, c.IsZero())
			assert.ErrorIs(t, err, version.ErrTooLong)
			assert.ErrorIs(t, err, version.ErrInvalidConstraint)

			var pe *version.ParseError
			require.ErrorAs(t, err, &pe)
			assert.LessOrEqual(t, len(pe.Input), maxShownInput, "ParseError.Input must be cut")
			assert.True(t, strings.HasPrefix(tt.in, strings.TrimSuffix(pe.Input, "…")),
				"ParseError.Input %q must be a prefix of the input", pe.Input)
			assert.Less(t, len(err.Error()), 300, "error message must not carry the whole input")
		})
	}
}

func TestZeroConstraint(t *testing.T) {
	probes := []string{"0.0.0", "0.0.1", "1.0.0", "2.0.0-rc.1", "1.0.0-0", "999.999.999+build"}

	var declared version.Constraint
	cases := map[string]version.Constraint{"declared": declared}
	for _, in := range []string{"", " ", "\t\n  ", "*", " * "} {
		c, err := version.ParseConstraint(in)
		require.NoError(t, err, "%q", in)
		cases[strconv.Quote(in)] = c
	}

	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			assert.True(t, c.IsZero())
			assert.Equal(t, "*", c.String())
			text, err := c.MarshalText()
			require.NoError(t, err)
			assert.Empty(t, text)
			for _, p := range probes {
				v := version.MustParse(p)
				assert.True(t, c.Allows(v), "zero Constraint must allow %s", v)
				assert.NoError(t, c.Check(v), "zero Constraint must allow %s", v)
			}
			assert.True(t, c.Allows(version.Version{}))
		})
	}
}

func TestConstraintAllows(t *testing.T) {
	tests := []struct {
		constraint string
		version    string
		want       bool
	}{
		{">=9.0, <11", "8.9.9", false},
		{">=9.0, <11", "9.0.0", true},
		{">=9.0, <11", "10.99.0", true},
		{">=9.0, <11", "11.0.0", false},
		{">=9.0, <11", "12.0.0", false},
		{">=9.0, <11", "10.0.0-rc.1", false},

		{"^1.2", "1.1.9", false},
		{"^1.2", "1.2.0", true},
		{"^1.2", "1.9.9", true},
		{"^1.2", "2.0.0", false},
		{"^1.2", "1.5.0-beta", false},

		{"~2.3 || >=3.1", "2.2.9", false},
		{"~2.3 || >=3.1", "2.3.0", true},
		{"~2.3 || >=3.1", "2.3.9", true},
		{"~2.3 || >=3.1", "2.4.0", false},
		{"~2.3 || >=3.1", "3.0.0", false},
		{"~2.3 || >=3.1", "3.1.0", true},
		{"~2.3 || >=3.1", "40.0.0", true},

		{"1.2 - 2.0", "1.1.9", false},
		{"1.2 - 2.0", "1.2.0", true},
		{"1.2 - 2.0", "1.9.0", true},
		{"1.2 - 2.0", "2.0.0", true},
		{"1.2 - 2.0", "2.0.9", true},
		{"1.2 - 2.0", "2.1.0", false},

		// Prereleases match only when the constraint names one.
		{">=1.0.0", "2.0.0", true},
		{">=1.0.0", "2.0.0-rc.1", false},
		{">=1.0.0-0", "2.0.0-rc.1", true},
		{">=1.0.0-0", "1.0.0-0", true},
		{">=1.0.0-0", "0.9.0", false},
		{">=1.0.0-0", "0.9.0-rc.1", false},
		{"*", "1.0.0-rc.1", true}, // "*" is the zero Constraint: anything
		{"x", "1.0.0-rc.1", false},
		{"*", "1.0.0", true},

		// Build metadata is ignored.
		{"=1.2.3", "1.2.3+build.7", true},
		{"=1.2.3", "1.2.4", false},
		{"!=1.2.3", "1.2.3", false},
		{"!=1.2.3", "1.2.4", true},
	}
	for _, tt := range tests {
		t.Run(tt.constraint+" allows "+tt.version, func(t *testing.T) {
			c, err := version.ParseConstraint(tt.constraint)
			require.NoError(t, err)
			v, err := version.Parse(tt.version)
			require.NoError(t, err)

			assert.Equal(t, tt.want, c.Allows(v))
			if tt.want {
				assert.NoError(t, c.Check(v))
			} else {
				assert.ErrorIs(t, c.Check(v), version.ErrUnsatisfied)
			}
		})
	}
}

func TestConstraintCheck(t *testing.T) {
	tests := []struct {
		constraint string
		version    string
		reasons    int // minimum number of reasons
	}{
		{">=9.0, <11", "11.0.1", 1},
		{">=9.0, <11", "8.0.0", 1},
		{"^1.2", "2.0.0", 1},
		{"~2.3 || >=3.1", "3.0.0", 2},
		{">=1.0.0", "2.0.0-rc.1", 1},
		{"1.2 - 2.0", "2.1.0", 1},
	}
	for _, tt := range tests {
		t.Run(tt.constraint+" rejects "+tt.version, func(t *testing.T) {
			c := version.MustParseConstraint(tt.constraint)
			v := version.MustParse(tt.version)

			err := c.Check(v)
			require.Error(t, err)
			assert.ErrorIs(t, err, version.ErrUnsatisfied)
			assert.NotErrorIs(t, err, version.ErrInvalidVersion)
			assert.NotErrorIs(t, err, version.ErrInvalidConstraint)

			var ue *version.UnsatisfiedError
			require.ErrorAs(t, err, &ue)
			assert.True(t, ue.Version == v, "UnsatisfiedError.Version = %v, want %v", ue.Version, v)
			assert.Equal(t, c, ue.Constraint)
			assert.Equal(t, tt.constraint, ue.Constraint.String())
			assert.GreaterOrEqual(t, len(ue.Reasons), tt.reasons)
			for _, r := range ue.Reasons {
				assert.Error(t, r)
			}

			msg := err.Error()
			assert.Contains(t, msg, v.String())
			assert.Contains(t, msg, tt.constraint)
			assert.NotContains(t, msg, "\n", "reasons must be joined on one line")
			for _, r := range ue.Reasons {
				assert.Contains(t, msg, r.Error())
			}
		})
	}

	t.Run("satisfied", func(t *testing.T) {
		c := version.MustParseConstraint(">=9.0, <11")
		assert.NoError(t, c.Check(version.MustParse("10.2")))
	})
}

func TestUnsatisfiedErrorMessage(t *testing.T) {
	v := version.MustParse("1.2.3")
	c := version.MustParseConstraint(">=2")

	noReasons := &version.UnsatisfiedError{Version: v, Constraint: c}
	assert.Equal(t, `version: 1.2.3 does not satisfy ">=2"`, noReasons.Error())

	two := &version.UnsatisfiedError{Version: v, Constraint: c, Reasons: []error{errors.New("a"), errors.New("b")}}
	assert.Equal(t, `version: 1.2.3 does not satisfy ">=2": a; b`, two.Error())

	assert.ErrorIs(t, two, version.ErrUnsatisfied)
	assert.NotErrorIs(t, two, errors.New("constraint not satisfied"), "Is must match the sentinel only")
}

func TestMustParseConstraint(t *testing.T) {
	assert.NotPanics(t, func() {
		assert.Equal(t, "^1.2", version.MustParseConstraint(" ^1.2 ").String())
	})
	assert.NotPanics(t, func() {
		assert.True(t, version.MustParseConstraint("").IsZero())
	})

	for _, in := range []string{">>1", "abc", strings.Repeat("1", version.MaxLength+1)} {
		t.Run(strconv.Quote(in[:min(len(in), 16)]), func(t *testing.T) {
			p := recoverPanic(func() { version.MustParseConstraint(in) })
			require.NotNil(t, p, "MustParseConstraint(%q) did not panic", in)
			err, ok := p.(error)
			require.True(t, ok, "panic value %T is not an error", p)
			assert.ErrorIs(t, err, version.ErrInvalidConstraint)
		})
	}
}

// constraintProbes are versions used to compare what two constraints allow.
var constraintProbes = []string{
	"0.0.0", "0.9.0", "1.0.0-rc.1", "1.0.0", "1.2.0", "1.5.0-beta", "1.9.9",
	"2.0.0", "2.3.4", "9.0.0", "10.0.0-rc.1", "10.5.0", "11.0.0",
}

func assertSameAllows(t *testing.T, want, got version.Constraint) {
	t.Helper()
	for _, p := range constraintProbes {
		v := version.MustParse(p)
		assert.Equal(t, want.Allows(v), got.Allows(v), "%q vs %q on %s", want, got, v)
	}
}

func TestConstraintText(t *testing.T) {
	for _, in := range []string{">=9.0, <11", "^1.2", "~2.3 || >=3.1", "1.2 - 2.0", ">=1.0.0-0", "", "  "} {
		t.Run(strconv.Quote(in), func(t *testing.T) {
			c := version.MustParseConstraint(in)
			text, err := c.MarshalText()
			require.NoError(t, err)
			assert.Equal(t, strings.TrimSpace(in), string(text))

			var got version.Constraint
			require.NoError(t, got.UnmarshalText(text))
			assert.Equal(t, c.IsZero(), got.IsZero())
			assert.Equal(t, c.String(), got.String())
			assertSameAllows(t, c, got)

			// UnmarshalText overwrites a non-zero receiver, also with "".
			got = version.MustParseConstraint(">=100")
			require.NoError(t, got.UnmarshalText(text))
			assert.Equal(t, c.IsZero(), got.IsZero())
			assertSameAllows(t, c, got)
		})
	}
}

func TestConstraintUnmarshalTextInvalid(t *testing.T) {
	for _, in := range []string{">>1", "abc", strings.Repeat("1", 1<<20)} {
		t.Run(strconv.Quote(in[:min(len(in), 16)]), func(t *testing.T) {
			orig := version.MustParseConstraint("^1.2")
			c := orig
			err := c.UnmarshalText([]byte(in))
			require.Error(t, err)
			assert.ErrorIs(t, err, version.ErrInvalidConstraint)
			var pe *version.ParseError
			assert.ErrorAs(t, err, &pe)
			assert.Equal(t, orig, c, "receiver changed on error")
		})
	}
}

type requirement struct {
	Name     string             `json:"name"`
	Requires version.Constraint `json:"requires"`
}

func TestConstraintJSON(t *testing.T) {
	tests := []struct {
		in   string
		json string
	}{
		{">=9.0, <11", `{"name":"x","requires":">=9.0, <11"}`},
		{" ~2.3 || >=3.1 ", `{"name":"x","requires":"~2.3 || >=3.1"}`},
		{"", `{"name":"x","requires":""}`},
	}
	for _, tt := range tests {
		t.Run(strconv.Quote(tt.in), func(t *testing.T) {
			c := version.MustParseConstraint(tt.in)
			b, err := json.Marshal(requirement{Name: "x", Requires: c})
			require.NoError(t, err)
			assert.JSONEq(t, tt.json, string(b))

			var got requirement
			require.NoError(t, json.Unmarshal(b, &got))
			assert.Equal(t, c.IsZero(), got.Requires.IsZero())
			assert.Equal(t, c.String(), got.Requires.String())
			assertSameAllows(t, c, got.Requires)
		})
	}

	t.Run("zero struct", func(t *testing.T) {
		b, err := json.Marshal(requirement{})
		require.NoError(t, err)
		assert.JSONEq(t, `{"name":"","requires":""}`, string(b))
		var got requirement
		require.NoError(t, json.Unmarshal(b, &got))
		assert.True(t, got.Requires.IsZero())
		assert.True(t, got.Requires.Allows(version.MustParse("1.0.0-rc.1")))
	})

	t.Run("invalid", func(t *testing.T) {
		got := requirement{Requires: version.MustParseConstraint("^1.2")}
		err := json.Unmarshal([]byte(`{"requires":">>1"}`), &got)
		require.Error(t, err)
		assert.ErrorIs(t, err, version.ErrInvalidConstraint)
		var pe *version.ParseError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, ">>1", pe.Input)
		assert.Equal(t, "^1.2", got.Requires.String(), "constraint changed on error")
	})
}

// TestConstraintStringOneLine checks that a constraint whose text holds a
// line break or tab, which the syntax takes as white space, prints on one
// line and means what it meant: a constraint from a hostile file cannot
// forge a line of a plan, an error or a log.
func TestConstraintStringOneLine(t *testing.T) {
	for in, want := range map[string]string{
		">=1,\n<2":            ">=1, <2",
		">=1\t<2":             ">=1 <2",
		">=1 ||\r\n<0.5":      ">=1 ||  <0.5",
		"\n >=8.5,\f <9 \r\n": ">=8.5,  <9",
		">=1, <x\n2":          ">=1, <x 2",
	} {
		got, err := version.ParseConstraint(in)
		require.NoError(t, err, "%q", in)
		assert.Equal(t, want, got.String(), "%q", in)
		same, err := version.ParseConstraint(want)
		require.NoError(t, err)
		for _, v := range []string{"0.1.0", "0.9.0", "1.0.0", "1.5.0", "2.0.0", "8.5.0", "8.9.9", "9.0.0"} {
			assert.Equal(t, same.Allows(version.MustParse(v)), got.Allows(version.MustParse(v)), "%q on %s", in, v)
		}
	}
}

// TestPrereleaseHint attacks the pre-release rule with the EKS-style
// versions of issue 14: a constraint that refuses a pre-release only
// because it names none must say so and give the fix; one that refuses it
// for its value must not.
func TestPrereleaseHint(t *testing.T) {
	tests := []struct {
		constraint, version string
		hint                string // "" for no hint
	}{
		{">=1.30", "1.30.4-eks-a1", "1.30.4-eks-a1 is a pre-release, which >=1.30 excludes: write >=1.30.0-0 to allow pre-releases"},
		{">=1.29, <1.30", "1.29.3-eks-1", "1.29.3-eks-1 is a pre-release, which >=1.29, <1.30 excludes: write >=1.29.0-0, <1.30 to allow pre-releases"},
		{"~1.29", "v1.29.3-eks-1", "v1.29.3-eks-1 is a pre-release, which ~1.29 excludes: write ~1.29.0-0 to allow pre-releases"},
		{"<1.30", "1.29.3-eks-1", "1.29.3-eks-1 is a pre-release, which <1.30 excludes: a constraint allows pre-releases only when it names one: add a lower bound such as >=1.29.0-0"},
		{">=1.30", "1.29.3-eks-1", ""},      // below the bound whatever the rule
		{">1.29", "1.29.3-eks-1", ""},       // ">1.29" means 1.30 and above
		{">=1.30", "1.30.4", ""},            // allowed
		{">=1.30.0-0", "1.30.4-eks-a1", ""}, // allowed
		{"", "1.30.4-eks-a1", ""},           // the zero Constraint allows all
		{">=1.30", "1.31.0", ""},            // not a pre-release
	}
	for _, tt := range tests {
		t.Run(tt.constraint+" "+tt.version, func(t *testing.T) {
			c, v := version.MustParseConstraint(tt.constraint), version.MustParse(tt.version)
			assert.Equal(t, tt.hint != "", c.ExcludesPrerelease(v))
			assert.Equal(t, tt.hint, c.PrereleaseHint(v))
			err := c.Check(v)
			if tt.hint != "" {
				require.Error(t, err)
				assert.True(t, strings.HasSuffix(err.Error(), "; "+tt.hint), "Check error %q lacks the hint", err)
			} else if err != nil {
				assert.NotContains(t, err.Error(), "pre-release,")
			}
		})
	}
}

// TestCheckQuotesVersionAsWritten: the checker's reasons quote the
// version as the operator wrote it, not its canonical form.
func TestCheckQuotesVersionAsWritten(t *testing.T) {
	err := version.MustParseConstraint(">=20").Check(version.MustParse("18.04"))
	require.Error(t, err)
	assert.Equal(t, `version: 18.04 does not satisfy ">=20": "18.04" is less than "20"`, err.Error())
	// The constraint's own version text is left alone.
	err = version.MustParseConstraint("!=18.4.0").Check(version.MustParse("v18.4"))
	require.Error(t, err)
	assert.Equal(t, `version: v18.4 does not satisfy "!=18.4.0": "v18.4" is equal to "18.4.0"`, err.Error())
}

// TestTildeArrowIsMasterminds pins the meaning the Constraint doc gives
// "~>": Masterminds' "~", not Terraform's pessimistic operator, for which
// "~>1.2" would allow 1.9.
func TestTildeArrowIsMasterminds(t *testing.T) {
	for _, tc := range []struct {
		constraint, v string
		want          bool
	}{
		{"~>1.2", "1.2.0", true},
		{"~>1.2", "1.2.9", true},
		{"~>1.2", "1.3.0", false},
		{"~>1.2", "1.9.0", false},
		{"~>1.2.3", "1.2.2", false},
		{"~>1.2.3", "1.2.7", true},
		{"~>1.2.3", "1.3.0", false},
		{"^1.2", "1.9.0", true},
		{">=1.2, <2", "1.9.0", true},
	} {
		c, err := version.ParseConstraint(tc.constraint)
		require.NoError(t, err)
		assert.Equal(t, tc.want, c.Allows(version.MustParse(tc.v)), "%s allows %s", tc.constraint, tc.v)
	}
}

// TestParseConstraintSaysWhatIsEmpty: where Masterminds says only
// `improper constraint: ""` or "constraint parser error", the error says
// which alternative or comparison is empty, or what a stray "|" or "=="
// should be, and what to write.
func TestParseConstraintSaysWhatIsEmpty(t *testing.T) {
	for in, want := range map[string][]string{
		">=1.0 ||":       {`alternative 2 of 2 is empty`, `nothing after the last "||"`, `write a version range on each side of every "||"`},
		">=1.0 || ":      {`alternative 2 of 2 is empty`, `nothing after the last "||"`},
		"|| <2":          {`alternative 1 of 2 is empty`, `nothing before the first "||"`},
		"||":             {`alternative 1 of 2 is empty`},
		">=1 |||| <3":    {`alternative 2 of 3 is empty`, `nothing between the "||" after ">=1" and the next "||"`},
		">=1 || || <3":   {`alternative 2 of 3 is empty`},
		">=1 | <2":       {`a single "|"`, `write "||" for "or"`},
		">=1 ||| <3":     {`a single "|" in alternative 2, "| <3"`},
		",":              {`an empty comparison (nothing before the first ",")`, `separate comparisons with one ","`},
		">=1,":           {`an empty comparison (nothing after the last ",")`},
		",>=1":           {`nothing before the first ","`},
		">=1,,<2":        {`nothing between the "," after ">=1" and the next ","`},
		">= 1.0, , <2":   {`nothing between the "," after ">= 1.0" and the next ","`},
		">=1, <2 || ,3":  {`an empty comparison in alternative 2, ",3" (nothing before the first ",")`},
		"==1.2":          {`"==" is not an operator`, `write "=1.2.0" for exactly 1.2.0`},
		"\t>=1\x00 ||\n": {`alternative 2 of 2 is empty`},
	} {
		c, err := version.ParseConstraint(in)
		require.Error(t, err, in)
		assert.True(t, c.IsZero(), in)
		assert.ErrorIs(t, err, version.ErrInvalidConstraint, in)
		var pe *version.ParseError
		require.ErrorAs(t, err, &pe, in)
		assert.Equal(t, in, pe.Input)
		msg := err.Error()
		assert.Contains(t, msg, strconv.Quote(in), "names the constraint")
		for _, w := range want {
			assert.Contains(t, msg, w, in)
		}
		assert.NotContains(t, msg, "improper constraint", in)
		assert.NotContains(t, msg, "constraint parser error", in)
		assert.NotContains(t, msg, "\x00", "quoted safely")
	}
}
