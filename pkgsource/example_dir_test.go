package pkgsource_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/version"
)

func ExampleNewDir() {
	dir, err := os.MkdirTemp("", "repo")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// Publish: the package files, then an index that describes them.
	var pkgs []pkgsource.Package
	for _, v := range []string{"10.1.34", "9.0.98", "11.0.2"} {
		name := "tomcat-" + v + ".tar.gz"
		content := []byte("the content of " + name)
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
			log.Fatal(err)
		}
		pkgs = append(pkgs, pkgsource.Package{
			Type: "tomcat", Version: version.MustParse(v),
			Location: name, Digest: pkgsource.Digest(content), Size: int64(len(content)),
		})
	}
	idx := &pkgsource.Index{Version: 1, Generated: time.Now(), Packages: pkgs}
	if err := pkgsource.WriteIndex(dir, idx, nil); err != nil { // nil: unsigned
		log.Fatal(err)
	}

	// Read: list the packages, then open one; the reader verifies it.
	repo, err := pkgsource.NewDir(dir)
	if err != nil {
		log.Fatal(err)
	}
	defer repo.Close()
	ctx := context.Background()
	tomcats, err := repo.Packages(ctx, "tomcat")
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range tomcats {
		fmt.Println(p, p.Location, p.Size, "bytes")
	}
	content, err := readVerified(ctx, repo, tomcats[1])
	fmt.Printf("%s: %q, %v\n", tomcats[1], content, err)

	// A package file changed after the index was published, even to
	// content of the same size, does not verify.
	if err := os.WriteFile(filepath.Join(dir, tomcats[1].Location), []byte("THE content of tomcat-10.1.34.tar.gz"), 0o644); err != nil {
		log.Fatal(err)
	}
	_, err = readVerified(ctx, repo, tomcats[1])
	fmt.Println("tampered:", errors.Is(err, pkgsource.ErrDigestMismatch))
	// Output:
	// tomcat 9.0.98 tomcat-9.0.98.tar.gz 35 bytes
	// tomcat 10.1.34 tomcat-10.1.34.tar.gz 36 bytes
	// tomcat 11.0.2 tomcat-11.0.2.tar.gz 35 bytes
	// tomcat 10.1.34: "the content of tomcat-10.1.34.tar.gz", <nil>
	// tampered: true
}

// readVerified returns the content of package p, which o verifies as it
// is read.
func readVerified(ctx context.Context, o pkgsource.Opener, p pkgsource.Package) ([]byte, error) {
	rc, err := o.Open(ctx, p)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}
