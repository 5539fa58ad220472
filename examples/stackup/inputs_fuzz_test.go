package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// FuzzParseRequests: request files and bodies never panic the parsers, and
// their errors never speak of Go types.
func FuzzParseRequests(f *testing.F) {
	for _, file := range []string{"testdata/requests.yaml", "testdata/requests.json", "testdata/requests-bad.yaml", "testdata/requests-unknown-field.yaml"} {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"requests": [{"application": {"id": 1}, "template": [], "replace": 2}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, yerr := parseRequestsYAML(data)
		_, jerr := parseRequestsJSON(bytes.NewReader(data))
		for _, err := range []error{yerr, jerr} {
			if err != nil && (strings.Contains(err.Error(), "main.") || strings.Contains(err.Error(), "Go value")) {
				t.Errorf("error speaks of Go types: %v", err)
			}
		}
	})
}
