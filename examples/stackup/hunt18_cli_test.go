package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/version"
)

// TestHunt18InventoryKeepsWindowsCommentsWhole: a YAML topology file
// whose lines end in CR LF, as a Windows editor saves it, came back from
// each step learnt with a blank line after every line of its comments
// (yaml.v3 keeps the CR in a comment, and the line end put back doubled
// it), so that version control showed the comments changed and they
// grew at every run. The file is now edited as the same file with LF
// ends would be, and written with CR LF ends again: nothing but the
// version changes.
func TestHunt18InventoryKeepsWindowsCommentsWhole(t *testing.T) {
	lf, err := os.ReadFile("testdata/shop.yaml")
	require.NoError(t, err)
	require.Contains(t, string(lf), "# its own Tomcat", "the file has comments of several lines")
	learn := func(data []byte) []byte {
		path := filepath.Join(t.TempDir(), "shop.yaml")
		require.NoError(t, os.WriteFile(path, data, 0o644))
		inv := newInventory(&inputFlags{topology: path})
		require.NoError(t, inv.Set(t.Context(), "tomcat-1", version.MustParse("10.1.34")))
		require.NoError(t, inv.Set(t.Context(), "java-1", version.MustParse("17.0.13")))
		got, err := os.ReadFile(path)
		require.NoError(t, err)
		return got
	}
	want := bytes.ReplaceAll(learn(lf), []byte("\n"), []byte("\r\n"))
	got := learn(bytes.ReplaceAll(lf, []byte("\n"), []byte("\r\n")))
	assert.Equal(t, string(want), string(got), "a CR LF file learns as the LF file does, its lines ending in CR LF")
}

// TestHunt18InventoryKeepsByteOrderMark: a topology file that starts
// with a UTF-8 byte-order mark, as some Windows editors save it (and
// which stackup reads), lost it at the first step learnt, so that
// version control showed its first line changed, and the editor saw
// the file's encoding change. The mark is kept now, in each format
// the inventory writes, with LF or CR LF ends; nothing else changes.
func TestHunt18InventoryKeepsByteOrderMark(t *testing.T) {
	for name, data := range shopFiles(t) {
		for _, crlf := range []bool{false, true} {
			if crlf {
				data = bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n"))
			}
			want := append([]byte(byteOrderMark), learnTomcat(t, name, data)...)
			got := learnTomcat(t, name, append([]byte(byteOrderMark), data...))
			assert.Equal(t, string(want), string(got), "%s (CR LF %t): the mark is kept, and nothing else changes", name, crlf)
		}
	}
}

// shopFiles returns testdata/shop.yaml, and the same topology in JSON, by
// file name.
func shopFiles(t *testing.T) map[string][]byte {
	yamlData, err := os.ReadFile("testdata/shop.yaml")
	require.NoError(t, err)
	m, err := topology.Load("testdata/shop.yaml")
	require.NoError(t, err)
	var jsonData bytes.Buffer
	require.NoError(t, m.WriteJSON(&jsonData))
	return map[string][]byte{"shop.yaml": yamlData, "shop.json": jsonData.Bytes()}
}

// learnTomcat writes data to a file name of a new directory, has the
// inventory record tomcat-1 at 10.1.34 in it, and returns the file then.
func learnTomcat(t *testing.T, name string, data []byte) []byte {
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, data, 0o644))
	inv := newInventory(&inputFlags{topology: path})
	require.NoError(t, inv.Set(t.Context(), "tomcat-1", version.MustParse("10.1.34")))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	return got
}

// TestHunt18InventoryKeepsYAMLPrologue: a YAML topology file that starts
// with a "%YAML 1.2" directive, which stackup reads (tools that write
// YAML 1.2 put it there), could not record a single version: the parser
// the inventory edits with refuses the directive, so that apply ran every
// step, recorded none, and exited 1, and the next plan planned them all
// again. And the directive of other files ("%YAML 1.1"), and the "---"
// that starts a document, were dropped at the first step learnt. They
// are all kept now, and the file is edited as the same file without
// them.
func TestHunt18InventoryKeepsYAMLPrologue(t *testing.T) {
	data, err := os.ReadFile("testdata/shop.yaml")
	require.NoError(t, err)
	learn := func(data []byte) ([]byte, error) {
		path := filepath.Join(t.TempDir(), "shop.yaml")
		require.NoError(t, os.WriteFile(path, data, 0o644))
		inv := newInventory(&inputFlags{topology: path})
		err := inv.Set(t.Context(), "tomcat-1", version.MustParse("10.1.34"))
		got, rerr := os.ReadFile(path)
		require.NoError(t, rerr)
		return got, err
	}
	plain, err := learn(data)
	require.NoError(t, err)
	for _, prologue := range []string{"%YAML 1.2\n---\n", "%YAML 1.1\n---\n", "---\n", "# The shop.\n---\n", "%YAML 1.2\n--- # the shop\n"} {
		for _, crlf := range []bool{false, true} {
			file, want := append([]byte(prologue), data...), append([]byte(prologue), plain...)
			if crlf {
				file, want = bytes.ReplaceAll(file, []byte("\n"), []byte("\r\n")), bytes.ReplaceAll(want, []byte("\n"), []byte("\r\n"))
			}
			got, err := learn(file)
			if assert.NoError(t, err, "%q (CR LF %t): the version is recorded", prologue, crlf) {
				assert.Equal(t, string(want), string(got), "%q (CR LF %t): the prologue is kept, and nothing else changes", prologue, crlf)
			}
		}
	}
}

// TestHunt18RequestFileYAML12: a request file that starts with a
// "%YAML 1.2" directive, as tools writing YAML 1.2 put it, and as
// stackup reads a topology file, was refused with yaml.v3's "found
// incompatible YAML document", which says neither why nor what to do.
// It is read as the file without the directive, and an error in it
// gives the line as the file has it.
func TestHunt18RequestFileYAML12(t *testing.T) {
	for _, name := range []string{"testdata/requests.yaml", "testdata/requests-unknown-field.yaml"} {
		data, err := os.ReadFile(name)
		require.NoError(t, err)
		want, wantErr := parseRequestsYAML(data)
		for _, prologue := range []string{"%YAML 1.2\n---\n", "%YAML 1.2\r\n---\r\n", byteOrderMark + "%YAML 1.2\n--- # requests\n"} {
			got, err := parseRequestsYAML(append([]byte(prologue), data...))
			if wantErr != nil {
				// The same error, two lines down.
				want := strings.Replace(wantErr.Error(), "line 4:", "line 6:", 1)
				require.NotEqual(t, wantErr.Error(), want)
				assert.EqualError(t, err, want, "%s after %q", name, prologue)
				continue
			}
			require.NoError(t, err, "%s after %q", name, prologue)
			assert.Equal(t, want, got, "%s after %q", name, prologue)
		}
	}
}

// utf16With returns text in UTF-16, with a byte-order mark, in order.
func utf16With(order binary.AppendByteOrder, text []byte) []byte {
	out := order.AppendUint16(nil, 0xfeff)
	for _, u := range utf16.Encode([]rune(string(text))) {
		out = order.AppendUint16(out, u)
	}
	return out
}

// TestHunt18InventoryKeepsUTF16: a topology file in UTF-16, as Windows
// PowerShell 5 writes files (with a byte-order mark, and CR LF ends), which
// stackup reads, came back from the first step learnt in UTF-8 with LF
// ends: version control showed every line changed, and tools that read
// it as the UTF-16 it was saved in read garbage. It keeps its encoding,
// its byte-order mark and line ends now, in each format the inventory
// writes; nothing but the versions changes.
func TestHunt18InventoryKeepsUTF16(t *testing.T) {
	for name, data := range shopFiles(t) {
		crlf := bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n"))
		want := bytes.ReplaceAll(learnTomcat(t, name, data), []byte("\n"), []byte("\r\n"))
		for _, order := range []binary.AppendByteOrder{binary.LittleEndian, binary.BigEndian} {
			got := learnTomcat(t, name, utf16With(order, crlf))
			assert.Equal(t, utf16With(order, want), got, "%s in UTF-16 (%s): its encoding, mark and line ends are kept", name, order)
		}
	}
}

// TestHunt18ApplyRefusesTopologyItCannotEdit: a YAML topology that
// stackup reads but the inventory cannot edit, such as one whose two JDK
// nodes share a version through an anchor and an alias ("version: &jdk
// 8.0.392", "version: *jdk"), planned and ran every step, then recorded
// none of those nodes ("its version is not a plain value; edit it by
// hand") and exited 1; the next plan planned them again, though they
// had run. apply now tries the edits of every step before anything runs,
// and refuses the plan (exit 2), naming the file and the node, leaving
// the file as it was; with --learn=false it runs.
func TestHunt18ApplyRefusesTopologyItCannotEdit(t *testing.T) {
	e := newApplyEnv(t)
	shared := shareJDKVersion(t, e.topo)

	r := stackup(t, e.args("--exec", e.record())...)
	assert.Equal(t, exitUsage, r.code, r.stderr)
	assert.Contains(t, r.stderr, e.topo+" cannot record the plan's steps")
	assert.Contains(t, r.stderr, `node "java-1": its version is not a plain value; edit it by hand`)
	assert.Empty(t, e.readLedger(t), "nothing ran")
	after, err := os.ReadFile(e.topo)
	require.NoError(t, err)
	assert.Equal(t, shared, string(after))

	r = stackup(t, e.args("--exec", e.record(), "--learn=false")...)
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.NotEmpty(t, e.readLedger(t))
}

// shareJDKVersion rewrites the topology file at path, a copy of
// testdata/shop.yaml, so that its two JDK nodes share their version
// through an anchor and an alias, which stackup reads, and returns it.
func shareJDKVersion(t *testing.T, path string) string {
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	shared := strings.Replace(string(data), "{id: java-1, template: java_runtime,", "{id: java-1, template: java_runtime, version: &jdk 8.0.392,", 1)
	shared = strings.Replace(shared, "{id: java-2, template: java_runtime, version: 8.0.392,", "{id: java-2, template: java_runtime, version: *jdk,", 1)
	require.NotEqual(t, string(data), shared)
	require.NoError(t, os.WriteFile(path, []byte(shared), 0o644))
	_, err = topology.Load(path)
	require.NoError(t, err, "stackup reads the file")
	return shared
}
