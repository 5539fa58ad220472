// Command signed-repo publishes a signed package repository in a directory,
// plans and runs an upgrade from it, and shows what the signature and the
// package digests protect against.
//
// A shop runs on Tomcat 9 on Java 11. Shop 2.0 needs Tomcat >=10.1 and
// Java >=17. The packages come from a repository whose index is signed
// with an ed25519 key; the runner fetches and verifies every package
// before it changes anything (upgrade.WithPrefetch). Then a package file
// is tampered with, and the next run refuses to start; and a copy of the
// index without its signature is refused outright.
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/stackup/stackup/pkgsource"
	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
	"github.com/stackup/stackup/version"
)

func main() {
	if err := run(context.Background()); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context) error {
	tmp, err := os.MkdirTemp("", "signed-repo")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	// 1. Publish: package files, an index of their digests, and its
	// signature.
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	repoDir := filepath.Join(tmp, "repo")
	if err := publish(repoDir, priv); err != nil {
		return err
	}
	fmt.Printf("Published a signed repository in %s\n\n", filepath.Base(repoDir))

	// 2. Read it, trusting only indexes signed with our key.
	repo, err := pkgsource.NewDir(repoDir, pkgsource.WithKeys(pub))
	if err != nil {
		return err
	}
	defer repo.Close()

	topo, err := deployment()
	if err != nil {
		return err
	}
	plan, err := upgrade.NewPlanner(topo, repo).Plan(ctx, upgrade.Request{
		Application: "shop",
		Replaces:    "shop_app",
		Template: topology.Template{
			ID: "shop_app", Type: "webapp", Version: version.MustParse("2.0.0"),
			Requirements: []topology.Requirement{
				{Name: "host", Template: "tomcat_server", Constraint: version.MustParseConstraint(">=10.1"), Relation: topology.HostedOn},
				{Name: "runtime", Template: "java_runtime", Constraint: version.MustParseConstraint(">=17")},
			},
		},
	})
	if err != nil {
		return err
	}
	if err := plan.WriteText(os.Stdout); err != nil {
		return err
	}

	// 3. Run it: every package is fetched and verified first.
	install := upgrade.ExecutorFunc(func(ctx context.Context, s upgrade.Step) error {
		fmt.Printf("  executing %s: %s %s → %s\n", s.ID, s.Node, s.From, s.To)
		return nil
	})
	fmt.Println("\nRun 1, with the packages as published:")
	report, err := upgrade.Run(ctx, plan, install, upgrade.WithPrefetch(repo))
	if err != nil {
		return err
	}
	fmt.Printf("  Steps succeeded: %d.\n", report.Count(upgrade.Succeeded))

	// 4. Someone swaps a package file on the server.
	if err := os.WriteFile(filepath.Join(repoDir, "tomcat-10.1.34.tar.gz"), []byte("tomcat 10.1.34, with a backdoor\n"), 0o644); err != nil {
		return err
	}
	fmt.Println("\nRun 2, after tomcat-10.1.34.tar.gz was tampered with:")
	_, err = upgrade.Run(ctx, plan, install, upgrade.WithPrefetch(repo))
	if !errors.Is(err, pkgsource.ErrDigestMismatch) || !errors.Is(err, upgrade.ErrPrefetch) {
		return fmt.Errorf("run 2: got %v, want a prefetch digest mismatch", err)
	}
	fmt.Printf("  refused before any step ran:\n  %v\n", err)

	// 5. A mirror serves the index without its signature.
	mirror := filepath.Join(tmp, "mirror")
	if err := os.Mkdir(mirror, 0o755); err != nil {
		return err
	}
	index, err := os.ReadFile(filepath.Join(repoDir, pkgsource.IndexFile))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(mirror, pkgsource.IndexFile), index, 0o644); err != nil {
		return err
	}
	unsigned, err := pkgsource.NewDir(mirror, pkgsource.WithKeys(pub))
	if err != nil {
		return err
	}
	defer unsigned.Close()
	fmt.Println("\nReading an unsigned copy of the index:")
	_, err = unsigned.Packages(ctx, "tomcat")
	if !errors.Is(err, pkgsource.ErrUntrusted) {
		return fmt.Errorf("unsigned index: got %v, want ErrUntrusted", err)
	}
	fmt.Printf("  refused: %v\n", err)
	return nil
}

// publish writes a few Tomcat and JDK packages into dir and a signed
// index describing them.
func publish(dir string, key ed25519.PrivateKey) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	var pkgs []pkgsource.Package
	for _, p := range []struct{ typ, version, from string }{
		{"tomcat", "9.0.98", ">=9.0"},
		{"tomcat", "10.1.34", ">=9.0"},
		{"jdk", "17.0.10", ">=11"},
		{"jdk", "21.0.2", ">=11"},
	} {
		name := p.typ + "-" + p.version + ".tar.gz"
		content := []byte(p.typ + " " + p.version + "\n") // a real package is an archive
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
			return err
		}
		pkgs = append(pkgs, pkgsource.Package{
			Type: p.typ, Version: version.MustParse(p.version), From: version.MustParseConstraint(p.from),
			Location: name, Digest: pkgsource.Digest(content), Size: int64(len(content)),
		})
	}
	idx := &pkgsource.Index{Version: 1, Generated: time.Now(), Expires: time.Now().Add(30 * 24 * time.Hour), Packages: pkgs}
	return pkgsource.WriteIndex(dir, idx, key)
}

// deployment is the shop as deployed today: one instance on Tomcat 9 on
// Java 11.
func deployment() (*topology.Memory, error) {
	var b topology.Builder
	b.Template("shop", topology.Template{ID: "shop_app", Type: "webapp", Version: version.MustParse("1.4.0"),
		Requirements: []topology.Requirement{
			{Name: "host", Template: "tomcat_server", Constraint: version.MustParseConstraint(">=9.0"), Relation: topology.HostedOn},
		}}).
		Template("shop", topology.Template{ID: "tomcat_server", Type: "tomcat", Version: version.MustParse("9.0.85")}).
		Template("shop", topology.Template{ID: "java_runtime", Type: "jdk", Version: version.MustParse("11.0.22")}).
		Node("shop", topology.Node{ID: "java", Template: "java_runtime"}).
		Node("shop", topology.Node{ID: "tomcat", Template: "tomcat_server",
			Relationships: []topology.Relationship{{Relation: topology.HostedOn, Target: "java"}}}).
		Node("shop", topology.Node{ID: "shop", Template: "shop_app",
			Relationships: []topology.Relationship{{Relation: topology.HostedOn, Target: "tomcat"}}})
	return b.Build()
}
