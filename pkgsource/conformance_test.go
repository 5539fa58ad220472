package pkgsource_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/pkgsource/sourcetest"
)

// TestConformance runs sourcetest.Test against every Source of the
// package.
func TestConformance(t *testing.T) {
	memoryPkgs := []pkgsource.Package{
		located("nginx", "1.27.3", "nginx-1.27.3.tar.gz"),
		{Type: "nginx", Version: pkg("nginx", "1.26.2").Version, From: validPackage().From, Requires: []pkgsource.Requirement{req("openssl", ">=3")}},
		validPackage(),
	}

	tests := []struct {
		name string
		// make returns the source and the packages it must list.
		make func(t *testing.T) (pkgsource.Source, []pkgsource.Package)
	}{
		{"Memory", func(t *testing.T) (pkgsource.Source, []pkgsource.Package) {
			return mustMemory(t, memoryPkgs...), memoryPkgs
		}},
		{"Dir", func(t *testing.T) (pkgsource.Source, []pkgsource.Package) {
			r := newRepo(t, false)
			return r.openDir(t), r.pkgs
		}},
		{"Dir signed", func(t *testing.T) (pkgsource.Source, []pkgsource.Package) {
			r := newRepo(t, true)
			return r.openDir(t, pkgsource.WithKeys(r.pub)), r.pkgs
		}},
		{"HTTP", func(t *testing.T) (pkgsource.Source, []pkgsource.Package) {
			r := newRepo(t, false)
			srv := newRepoServer(t, r.files)
			return newTestHTTP(t, srv.base(), srv.Client()), r.pkgs
		}},
		{"HTTP signed", func(t *testing.T) (pkgsource.Source, []pkgsource.Package) {
			r := newRepo(t, true)
			srv := newRepoServer(t, r.files)
			return newTestHTTP(t, srv.base(), srv.Client(), pkgsource.WithKeys(r.pub)), r.pkgs
		}},
		{"Chain of Dir and Memory", func(t *testing.T) (pkgsource.Source, []pkgsource.Package) {
			// The Memory packages carry no digest: a Chain is always an
			// Opener, and sourcetest opens every package with a digest.
			var mem []pkgsource.Package
			for _, p := range memoryPkgs {
				p.Digest = ""
				mem = append(mem, p)
			}
			r := newRepo(t, false)
			return pkgsource.Chain{r.openDir(t), mustMemory(t, mem...)}, append(append([]pkgsource.Package(nil), r.pkgs...), mem...)
		}},
		{"Cache of Dir", func(t *testing.T) (pkgsource.Source, []pkgsource.Package) {
			r := newRepo(t, false)
			return pkgsource.NewCache(r.openDir(t), time.Hour), r.pkgs
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, expected := tt.make(t)
			require.NotEmpty(t, expected)
			require.NoError(t, sourcetest.Test(context.Background(), src, expected...))
		})
	}
}
