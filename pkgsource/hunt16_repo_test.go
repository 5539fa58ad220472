package pkgsource_test

import (
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
