package sourcetest_test

import (
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/pkgsource/sourcetest"
)

// TestHunt18OpenerWithoutContent: an Opener that returns neither content
// nor an error made Test panic, reading the nil reader, where it is to
// report what the Opener does wrong.
func TestHunt18OpenerWithoutContent(t *testing.T) {
	src := fakeOpener{&fake{pkgs: expected(), open: func(pkgsource.Package) (io.ReadCloser, error) { return nil, nil }}}
	err := sourcetest.Test(context.Background(), src, expected()...)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Open(tomcat 10.1.34): pkgsource: package tomcat 10.1.34: "+pkgsource.ErrNoContent.Error())
}
