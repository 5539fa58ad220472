package pkgsource_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
)

// TestHunt3EmptyIndex: an empty index.json, or one of white space only,
// was refused as "invalid index: EOF". It now says the index is empty and
// what it must hold, and a Dir names its repository.
func TestHunt3EmptyIndex(t *testing.T) {
	for _, in := range []string{"", " ", "\n\t\r\n"} {
		idx, err := pkgsource.ParseIndex([]byte(in))
		assert.Nil(t, idx)
		require.ErrorIs(t, err, pkgsource.ErrInvalidIndex)
		require.ErrorIs(t, err, topology.ErrEmpty)
		var ie *pkgsource.IndexError
		require.ErrorAs(t, err, &ie)
		assert.Contains(t, err.Error(), `empty file: it holds nothing but white space; it must hold a JSON object with "schema": "stackup.index/v1"`)
		assert.NotContains(t, err.Error(), "EOF")
	}

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, pkgsource.IndexFile), []byte("\n"), 0o600))
	d, err := pkgsource.NewDir(dir)
	require.NoError(t, err)
	defer d.Close()
	pkgs, err := d.Packages(context.Background(), "jdk")
	assert.Empty(t, pkgs)
	require.ErrorIs(t, err, topology.ErrEmpty)
	require.ErrorIs(t, err, pkgsource.ErrInvalidIndex)
	abs, err2 := filepath.Abs(dir)
	require.NoError(t, err2)
	assert.Contains(t, err.Error(), abs)
}

// TestHunt3RequirementWithoutType: a package's requirement with no type
// was refused as "requirement #1 names no type", which did not say what to
// give; it now does, naming the entry.
func TestHunt3RequirementWithoutType(t *testing.T) {
	idx, err := pkgsource.ParseIndex([]byte(indexDoc(with(tomcatEntry(), "requires", []any{map[string]any{"constraint": ">=11"}}))))
	assert.Nil(t, idx)
	require.ErrorIs(t, err, pkgsource.ErrInvalidIndex)
	require.ErrorIs(t, err, pkgsource.ErrInvalid)
	var ie *pkgsource.IndexError
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, "package #1 (tomcat 10.1.34)", ie.Entry)
	assert.Contains(t, err.Error(), "invalid package: requirement #1 names no type: give the type of the platform package it requires, such as jdk")
}

// TestHunt3EntryWithoutTypeOrVersion: an index entry with no version was
// refused as `version: invalid version "": invalid semantic version`, one
// with no type as "package #1 ( 21.0.2): no type"; each now names the
// entry without a stray space and says what to give, as Package.Validate
// does for a Go caller.
func TestHunt3EntryWithoutTypeOrVersion(t *testing.T) {
	for _, tc := range []struct {
		entry map[string]any
		want  string
	}{
		{with(jdkEntry(), "version", nil), `package #1 (jdk): invalid package: no version: give the version it installs`},
		{with(jdkEntry(), "version", ""), `package #1 (jdk): invalid package: no version: give the version it installs`},
		{with(jdkEntry(), "version", "0.0.0"), `package #1 (jdk 0.0.0): invalid package: no version: give the version it installs (0.0.0 counts as none)`},
		{with(jdkEntry(), "type", nil), `package #1 (21.0.2): invalid package: no type: give the platform type it upgrades, such as tomcat`},
		{with(jdkEntry(), "type", nil, "version", nil), `package #1: invalid package: no type`},
	} {
		idx, err := pkgsource.ParseIndex([]byte(indexDoc(tc.entry)))
		assert.Nil(t, idx)
		require.ErrorIs(t, err, pkgsource.ErrInvalidIndex)
		require.ErrorIs(t, err, pkgsource.ErrInvalid)
		var ie *pkgsource.IndexError
		require.ErrorAs(t, err, &ie)
		assert.Contains(t, err.Error(), tc.want)
		assert.NotContains(t, err.Error(), "invalid semantic version")
	}
}

// TestHunt3LongValuesAreCutShort: an index that held a value of
// megabytes (schema, sha256, file name, URL, type, version, unknown field,
// number) made a message of megabytes; each is now quoted cut short, with
// its length.
func TestHunt3LongValuesAreCutShort(t *testing.T) {
	big := strings.Repeat("j", 1<<20)
	for name, doc := range map[string]string{
		"schema":        `{"schema": "` + big + `"}`,
		"unknown field": `{"schema": "stackup.index/v1", "` + big + `": 1}`,
		"number":        `{"schema": "stackup.index/v1", "version": ` + strings.Repeat("9", 1<<20) + `}`,
		"sha256":        indexDoc(with(jdkEntry(), "sha256", big)),
		"file":          indexDoc(with(jdkEntry(), "file", strings.Repeat("j/", 1<<19))),
		"url":           indexDoc(with(jdkEntry(), "file", nil, "url", "ftp://"+big)),
		"type":          indexDoc(with(jdkEntry(), "type", big+"!")),
	} {
		idx, err := pkgsource.ParseIndex([]byte(doc))
		assert.Nil(t, idx, name)
		require.ErrorIs(t, err, pkgsource.ErrInvalidIndex, name)
		assert.Less(t, len(err.Error()), 1000, name)
		assert.Contains(t, err.Error(), `…`, name)
	}
}
