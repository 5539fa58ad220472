package pkgsource_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
)

// Test: a package type, or the type a package's requirement names, outside
// the safe set of identifiers is refused by NewMemory (through Validate),
// as ParseIndex refuses it in an index: "tomcat\n", read from a file with
// its line break, would otherwise never match the template type "tomcat",
// and a requirement on "jdk 21" was accepted by NewMemory only for every
// plan that reached the package to fail. The error names the package
// printably, and the identifier's problem.
func TestHunt14MemoryRefusesTypesOutsideTheSafeSet(t *testing.T) {
	typed := validPackage()
	typed.Type = "tomcat\n\x1b[31m"
	required := validPackage()
	required.Requires[1].Type = "jdk 21"
	for name, tt := range map[string]struct {
		p    pkgsource.Package
		want string
	}{
		"type":             {typed, `package type "tomcat\n\x1b[31m": character '\n' at byte 6`},
		"requirement type": {required, `requirement #2: topology: package type "jdk 21": character ' ' at byte 3`},
	} {
		t.Run(name, func(t *testing.T) {
			err := tt.p.Validate()
			require.Error(t, err, "Validate accepts it")
			assert.ErrorIs(t, err, pkgsource.ErrInvalid)
			assert.ErrorIs(t, err, topology.ErrInvalidID)
			var pe *pkgsource.PackageError
			require.ErrorAs(t, err, &pe)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "\n", "one line")
			assert.NotContains(t, err.Error(), "\x1b", "no escape sequence")

			m, err := pkgsource.NewMemory(tt.p)
			assert.Nil(t, m)
			assert.ErrorIs(t, err, topology.ErrInvalidID)
		})
	}
}

// Test: a Chain of no sources, as a configuration that lists no
// repository makes, keeps the Source contract on a cancelled context:
// an error matching ctx.Err(), not an empty list.
func TestHunt14EmptyChainCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ps, err := pkgsource.Chain{}.Packages(ctx, "tomcat")
	assert.ErrorIs(t, err, context.Canceled)
	assert.Empty(t, ps)
	rc, err := pkgsource.Chain{}.Open(ctx, validPackage())
	assert.ErrorIs(t, err, context.Canceled)
	assert.Nil(t, rc)

	ps, err = pkgsource.Chain{}.Packages(context.Background(), "tomcat")
	assert.NoError(t, err, "not cancelled: no packages")
	assert.Empty(t, ps)
}
