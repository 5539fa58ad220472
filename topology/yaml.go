package topology

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ReadYAML reads a topology file written in YAML, with the same schema and
// rules as ReadJSON (see [Schema]). Versions keep their text: 18.04 is
// version 18.4.0, not a number. Errors match ErrInvalid and give the line
// of the field at fault.
func ReadYAML(r io.Reader) (*Memory, error) {
	data, err := readCapped(r)
	if err != nil {
		return nil, err
	}
	root, err := parseYAML(data)
	if err != nil {
		return nil, err
	}
	var f fileTopology
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, &Error{Item: "file", Err: fmt.Errorf("%w: %s", ErrInvalid, yamlMessage(err))}
	}
	if f.Schema != Schema {
		return nil, &Error{Item: fmt.Sprintf("line %d", yamlLine(root, "schema")),
			Err: fmt.Errorf("%w: schema %q, want %q", ErrInvalid, f.Schema, Schema)}
	}
	apps, err := f.decode(func(path ...any) int { return yamlLine(root, path...) })
	if err != nil {
		return nil, err
	}
	return New(apps...)
}

// parseYAML parses one YAML document into its node tree.
func parseYAML(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{Item: "file", Err: fmt.Errorf("%w: empty", ErrInvalid)}
		}
		return nil, &Error{Item: "file", Err: fmt.Errorf("%w: %s", ErrInvalid, yamlMessage(err))}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, &Error{Item: "file", Err: fmt.Errorf("%w: more than one YAML document", ErrInvalid)}
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, &Error{Item: fmt.Sprintf("line %d", doc.Line), Err: fmt.Errorf("%w: the document is not a mapping", ErrInvalid)}
	}
	return doc.Content[0], nil
}

// yamlLine returns the line of the node at path below root: mapping keys
// as strings, sequence indexes as ints. It returns the line of the deepest
// node found when the path goes further than the document.
func yamlLine(root *yaml.Node, path ...any) int {
	n := root
	for _, step := range path {
		next := yamlChild(n, step)
		if next == nil {
			break
		}
		n = next
	}
	return n.Line
}

func yamlChild(n *yaml.Node, step any) *yaml.Node {
	switch s := step.(type) {
	case string:
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == s {
					return n.Content[i+1]
				}
			}
		}
	case int:
		if n.Kind == yaml.SequenceNode && s >= 0 && s < len(n.Content) {
			return n.Content[s]
		}
	}
	return nil
}

// yamlMessage flattens a yaml.v3 error ("yaml: line 3: …", or a
// *yaml.TypeError listing several) into one line.
func yamlMessage(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return strings.Join(te.Errors, "; ")
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

// readCapped reads at most MaxFileSize bytes of a topology file.
func readCapped(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("topology: reading file: %w", err)
	}
	if len(data) > MaxFileSize {
		return nil, &Error{Item: "file", Err: fmt.Errorf("%w: larger than %d bytes", ErrInvalid, MaxFileSize)}
	}
	return data, nil
}
