package pkgsource_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
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
