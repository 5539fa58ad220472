package upgrade_test

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/stackup/stackup/upgrade"
)

// FuzzReadJSON feeds ReadJSON plan files: it must never panic, refuse
// what it cannot take with an error matching ErrInvalidPlan (or a read
// error), and give back what it accepts unchanged: written again and read
// back, an accepted plan has the same ID and the same JSON, and its ID is
// that of its content.
func FuzzReadJSON(f *testing.F) {
	golden, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(golden)
	// A rolled plan: barriers, and steps after them.
	rolled, err := os.ReadFile("testdata/rolled.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(rolled)
	// A batch of two requests, one of which moves nodes to a template of
	// a new ID that the other requires: steps of either request.
	batch, err := upgrade.NewPlanner(build(f, shopBuilder(2)), catalogue(f)).PlanAll(f.Context(), hunt18Tomcat10(), shop2("tomcat10_server", ">=10.1"))
	if err != nil {
		f.Fatal(err)
	}
	var buf bytes.Buffer
	if err := batch.WriteJSON(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add(bytes.Replace(golden, []byte(`"hop 1 of 2`), []byte(`"hop 1 of 3`), 1))
	f.Add(bytes.Replace(golden, []byte(`"after": [`), []byte(`"after": ["x",`), 1))
	f.Add([]byte(`{"schema":"stackup.plan/v3","id":"","requests":[],"steps":[]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(" \n")) // empty
	f.Fuzz(func(t *testing.T, data []byte) {
		plan, err := upgrade.ReadJSON(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, upgrade.ErrInvalidPlan) && !strings.Contains(err.Error(), "reading plan") {
				t.Fatalf("error matches no documented kind: %v", err)
			}
			return
		}
		var once bytes.Buffer
		if err := plan.WriteJSON(&once); err != nil {
			t.Fatalf("an accepted plan does not write: %v", err)
		}
		again, err := upgrade.ReadJSON(bytes.NewReader(once.Bytes()))
		if err != nil {
			t.Fatalf("a written plan does not read back: %v\n%s", err, once.Bytes())
		}
		if again.ID != plan.ID {
			t.Fatalf("ID changed from %s to %s", plan.ID, again.ID)
		}
		var twice bytes.Buffer
		if err := again.WriteJSON(&twice); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(once.Bytes(), twice.Bytes()) {
			t.Fatalf("written twice, the plan differs:\n%s\n%s", once.Bytes(), twice.Bytes())
		}
	})
}
