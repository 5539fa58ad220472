package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/stackup/stackup/topology"
	"github.com/stackup/stackup/upgrade"
)

// FuzzArgv renders a command for any step data: when the command parses
// and renders, there is exactly one argument per word, and the program is
// the word given, never a shell the data chose.
func FuzzArgv(f *testing.F) {
	flags := []string{
		"deploy --node {{.Node}} --to {{.To}}",
		`deploy '{{.Reason}} {{.Node}}' "{{.ID}}" x{{.App}}y {{with .Package}}{{.Location}}{{end}}`,
		`sh -c 'deploy "$1"' sh {{.Node}}`,
		`deploy {{if eq .Node "a b"}}--ab{{end}} {{printf "%q" .Reason}}`,
		`deploy "" '' {{.InDoubt}}`,
		"deploy {{.Nope}}",
		"{{.Node}}",
	}
	for i, h := range hostile {
		f.Add(flags[i%len(flags)], h, h, h, h, i%2 == 0)
	}
	f.Fuzz(func(t *testing.T, flag, node, app, location, reason string, inDoubt bool) {
		if strings.Contains(flag, "range") || len(flag) > 200 {
			// Commands are the operator's, not an attacker's: a range over
			// a large number is allowed to be slow.
			t.Skip()
		}
		c, err := parseCommand("--exec", flag)
		if err != nil {
			ce, ok := errors.AsType[*commandError](err)
			if !ok || ce.Flag != "--exec" {
				t.Fatalf("error %v (%T) does not name the flag", err, err)
			}
			return
		}
		words, err := splitWords(flag)
		if err != nil {
			t.Fatalf("parsed, but does not split: %v", err)
		}
		for _, st := range sampleSteps() {
			st.Node, st.App, st.Reason = topology.NodeID(node), topology.AppID(app), reason
			st.ID = upgrade.StepID(reason)
			if st.Package != nil {
				st.Package.Location = location
			}
			argv, err := c.argv(stepData{Step: st, InDoubt: inDoubt}, "fuzz")
			if err != nil {
				continue // such as printf of a bad verb: the plan check reports it
			}
			if len(argv) != len(words) {
				t.Fatalf("%q gives %d arguments for %d words: %q", flag, len(argv), len(words), argv)
			}
			if argv[0] != words[0] || strings.Contains(argv[0], "{{") {
				t.Fatalf("program %q, want %q", argv[0], words[0])
			}
		}
	})
}

// FuzzSplitWords checks the splitter against quoting: any words without
// template actions, each single-quoted and joined with blanks, split back
// into the same words; and no input makes it panic.
func FuzzSplitWords(f *testing.F) {
	for _, h := range hostile {
		f.Add(h, "it's", "a\\b")
	}
	f.Fuzz(func(t *testing.T, a, b, c string) {
		splitWords(a + " " + b + " " + c) // must not panic
		words := []string{a, b, c}
		for _, w := range words {
			if strings.Contains(w, "{{") {
				t.Skip()
			}
		}
		var quoted []string
		for _, w := range words {
			quoted = append(quoted, sq(w))
		}
		got, err := splitWords(strings.Join(quoted, " \t"))
		if err != nil {
			t.Fatalf("%q: %v", quoted, err)
		}
		if strings.Join(got, "\x00") != strings.Join(words, "\x00") || len(got) != 3 {
			t.Fatalf("%q splits into %q, want %q", quoted, got, words)
		}
	})
}
