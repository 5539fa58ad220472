package version_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/version"
)

// TestHunt12ParseSaysWhatToDo: versions as other ecosystems write them
// (Debian and RPM epochs, Ubuntu's "22.04" inside a pre-release, Java's
// "_", PEP 440's "rc1" and "!", four numbers, a YAML "|" block's line
// break) are refused saying what is wrong and what to write instead,
// where Masterminds says only "invalid semantic version" or "version
// segment starts with 0".
func TestHunt12ParseSaysWhatToDo(t *testing.T) {
	for in, want := range map[string]string{
		"":                        "give a version such as 1.4.0",
		"1.2.3\n":                 "remove the white space around it",
		" 1.2":                    "remove the white space around it",
		"1:2.30-0ubuntu1":         `"1:" is an epoch, which a semantic version has not: write the version without it`,
		"2:4.17.12+dfsg-0ubuntu1": `"2:" is an epoch`,
		"V1.2.3":                  `write a lowercase "v", or none`,
		"8.0.34-0ubuntu0.22.04.1": `the pre-release identifier "04" is a number with a leading zero, which a semantic version may not hold: write "4", or put a letter in it`,
		"1.0.0-rc.01":             `the pre-release identifier "01"`,
		"18446744073709551616":    "a number of a version is at most 18446744073709551615",
		"1.8.0_292":               `character '_' at byte 5: a version holds only ASCII letters and digits, ".", "-" and "+"`,
		"1!2.0":                   `character '!' at byte 1`,
		"１.2.3":                   `character '１' at byte 0`,
		"1.2.3.4":                 `a version has at most three numbers, major.minor.patch: write what follows the third after a "-", as a pre-release (1.2.3-4, which orders before 1.2.3), or after a "+", as build metadata (1.2.3+4, which does not order)`,
		"1.0rc1":                  `letters follow a "-", as a pre-release (1.0-rc1, which orders before 1.0), or a "+", as build metadata (1.0+rc1, which does not order)`,
		"2.0.post1":               `letters follow a "-"`,
		"1.0.0-":                  `write major.minor.patch, such as 1.4.0, then optionally "-" and a pre-release, "+" and build metadata`,
		"8.5.x":                   `a version is exact: write the version itself, such as 1.2.0; "x" and "*" belong in constraints`,
		"*":                       `a version is exact`,
		"v1.X":                    `a version is exact`,
	} {
		_, err := version.Parse(in)
		require.ErrorIs(t, err, version.ErrInvalidVersion, "%q", in)
		assert.Contains(t, err.Error(), want, "%q", in)
	}
	// A constraint names its bad version with the same advice.
	_, err := version.ParseConstraint(">=1.0, <8.0.34-0ubuntu0.22.04.1")
	require.ErrorIs(t, err, version.ErrInvalidConstraint)
	assert.Contains(t, err.Error(), `the pre-release identifier "04" is a number with a leading zero`)
}

// TestHunt12ParseConstraintSaysWhatToDo: constraints as other ecosystems
// write them (Python's "~=", Maven's and NuGet's intervals, Ruby's quoted
// lists, "and" and "&&", a "≥", a word such as "latest") were refused with
// Masterminds' "improper constraint" alone; the error now says what to
// write instead.
func TestHunt12ParseConstraintSaysWhatToDo(t *testing.T) {
	for in, want := range map[string]string{
		"~=1.4":           `"~=" (Python's compatible release) is not an operator: write ~=1.4 as "^1.4", ~=1.4.2 as "~1.4.2"`,
		"[1.0,2.0)":       `interval notation is not read: write [1.0,2.0) as ">=1.0, <2.0"`,
		"(,1.0]":          `interval notation is not read`,
		"'>= 1.0', '< 2'": `remove the quotes`,
		">=1.0 and <2":    `write "," or a space for "and", "||" for "or"`,
		">=1.0 && <2":     `write "," or a space for "and", "||" for "or"`,
		"<1 or >2":        `write "," or a space for "and", "||" for "or"`,
		">=1.0&&<2":       `write "," or a space for "and", "||" for "or"`,
		"≥1.0.0-or":       `character '≥' at byte 0 is not part of a constraint`,
		"≥1.0":            `character '≥' at byte 0 is not part of a constraint`,
		">=1:2.3":         `character ':' at byte 3 is not part of a constraint`,
		"latest":          `write comparisons such as ">=1.2, <2", "^1.2", "~1.2.3" or "1.2.x", joined by "||" for "or"`,
	} {
		_, err := version.ParseConstraint(in)
		require.ErrorIs(t, err, version.ErrInvalidConstraint, "%q", in)
		assert.Contains(t, err.Error(), want, "%q", in)
	}
}
