package pkgsource_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/version"
)

// An operator who lists a version twice in an index, by hand or by a
// script run twice, learns which entries clash and what to do about it.
func TestHunt16IndexDuplicateVersionSaysWhatToDo(t *testing.T) {
	tests := []struct {
		name   string
		second map[string]any
		want   []string
	}{
		{"same spelling", tomcatEntry(), []string{"package #3 (tomcat 10.1.34)", "package #2", "list each version once"}},
		{"other spelling", with(tomcatEntry(), "version", "v10.1.34", "file", "other.tgz"), []string{"package #3 (tomcat v10.1.34)", "package #2", `"10.1.34"`, "list each version once"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pkgsource.ParseIndex([]byte(indexDoc(jdkEntry(), tomcatEntry(), tt.second)))
			require.ErrorIs(t, err, pkgsource.ErrInvalidIndex)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

// A negative size says what a size is and what to give instead.
func TestHunt16ValidateNegativeSizeSaysWhatToDo(t *testing.T) {
	p := pkgsource.Package{Type: "tomcat", Version: version.MustParse("10.1.18"), Size: -5}
	err := p.Validate()
	require.ErrorIs(t, err, pkgsource.ErrInvalid)
	assert.Contains(t, err.Error(), "tomcat 10.1.18")
	assert.Contains(t, err.Error(), "negative size -5")
	assert.Contains(t, err.Error(), "give the content's length in bytes, or 0 when unknown")
}

// A key misspelt in a hand-edited index ("sha" for "sha256") says where
// it is and which keys belong there: encoding/json names an unknown field
// but not its place, and an index of thousands of packages is long.
func TestHunt16IndexUnknownFieldSaysWhereAndWhichKeys(t *testing.T) {
	doc := "{\n" +
		`  "schema": "stackup.index/v1", "version": 3, "generated": "2026-01-02T03:04:05Z",` + "\n" +
		`  "packages": [` + "\n" +
		`    {"type": "jdk", "version": "21.0.2", "file": "jdk.tgz", "sha256": "` + strings.Repeat("a", 64) + `", "size": 10},` + "\n" +
		`    {"type": "tomcat", "version": "10.1.1", "file": "t.tgz", "sha": "` + strings.Repeat("b", 64) + `", "size": 10}` + "\n" +
		"  ]\n}\n"
	idx, err := pkgsource.ParseIndex([]byte(doc))
	require.ErrorIs(t, err, pkgsource.ErrInvalidIndex)
	assert.Nil(t, idx)
	assert.Contains(t, err.Error(), `line 5, column 62: unknown field "sha": the keys here are "type", "version", "from", "requires", "file", "url", "sha256" and "size"`)
}

// An index cut short says so, and where it ends.
func TestHunt16IndexCutShortSaysSo(t *testing.T) {
	idx, err := pkgsource.ParseIndex([]byte(`{"schema": "stackup.index/v1", "version": 3, "packages": [`))
	require.ErrorIs(t, err, pkgsource.ErrInvalidIndex)
	assert.Nil(t, idx)
	assert.Contains(t, err.Error(), "line 1, column 59: unexpected EOF: the JSON ends")
	assert.Contains(t, err.Error(), "was the file cut short")
}
