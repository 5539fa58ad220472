package topology_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
)

func TestCheckID(t *testing.T) {
	for _, id := range []string{"shop", "tomcat-1", "tomcat_server", "a.b:c/d@e+f", "X9", "a-", strings.Repeat("x", topology.MaxIDLength)} {
		assert.NoError(t, topology.CheckID("node", id), id)
	}
	for id, reason := range map[string]string{
		"":                       "empty",
		"-rf":                    "starts with -",
		"tomcat-1$(touch pwned)": "character '$' at byte 8",
		"a b":                    "character ' ' at byte 1",
		"a'b":                    `character '\'' at byte 1`,
		"a`b`":                   "character '`' at byte 1",
		"a;b":                    "character ';' at byte 1",
		"a\nb":                   `character '\n' at byte 1`,
		"a\x1b[2Jb":              `character '\x1b' at byte 1`,
		"a%2e%2e":                "character '%' at byte 1",
		"caf\u00e9":              "character 'é' at byte 3",
		"a\u202eb":               `character '\u202e' at byte 1`,
		"a\\b":                   `character '\\' at byte 1`,
		"a\xffb":                 "byte 0xff, not UTF-8, at byte 1",
		strings.Repeat("x", topology.MaxIDLength+1): "254 bytes long",
	} {
		err := topology.CheckID("node", id)
		require.Error(t, err, "%q", id)
		assert.ErrorIs(t, err, topology.ErrInvalidID)
		var idErr *topology.IDError
		require.True(t, errors.As(err, &idErr))
		assert.Equal(t, "node", idErr.Kind)
		assert.Equal(t, id, idErr.ID)
		assert.Equal(t, reason, idErr.Reason, "%q", id)
		assert.NotContains(t, err.Error(), "\n", "the message holds no raw control character")
		assert.NotContains(t, err.Error(), "\x1b")
	}
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		`tomcat "a\b"`:    `tomcat "a\b"`,
		"x\nFAKE":         `x\nFAKE`,
		"\x1b[2J":         `\x1b[2J`,
		"a\u2028b\u202ec": `a\u2028b\u202ec`,
		"bad \xff byte":   `bad \xff byte`,
		"ünïcode is fine": "ünïcode is fine",
	} {
		assert.Equal(t, want, topology.Printable(in), "%q", in)
	}
}

func TestCheckIDLength(t *testing.T) {
	long := strings.Repeat("a", topology.MaxIDLength+10)
	require.NoError(t, topology.CheckIDLength("step", long, 1024))
	err := topology.CheckIDLength("step", long+"$", 1024)
	require.ErrorIs(t, err, topology.ErrInvalidID)
	assert.Contains(t, err.Error(), "character '$' at byte 263")
	err = topology.CheckIDLength("step", long, topology.MaxIDLength+9)
	var ie *topology.IDError
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, topology.MaxIDLength+9, ie.Max)
	assert.Contains(t, err.Error(), "263 bytes long")
	assert.Contains(t, err.Error(), "has at most 262 bytes")
	assert.Equal(t, topology.CheckID("node", long).Error(), topology.CheckIDLength("node", long, topology.MaxIDLength).Error())
}
