package topology_test

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stackup/stackup/topology"
)

// writeTemp writes text to a file called name in a new temporary
// directory and returns its path.
func writeTemp(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	return path
}

// checkFileErrors asserts that err holds wantProblems *topology.Error
// values, however they are joined (a *multierror.Error from Validate, or
// errors.Join of bad versions), that every one names path, and that the
// message names path once for each of them.
func checkFileErrors(t *testing.T, err error, path string, wantProblems int) {
	t.Helper()
	ps := topologyErrors(err)
	require.Len(t, ps, wantProblems)
	for _, p := range ps {
		assert.Equal(t, path, p.File, p.Item)
		assert.Contains(t, p.Error(), "topology: "+path+": "+p.Item+": ")
	}
	assert.Equal(t, wantProblems, strings.Count(err.Error(), path), err.Error())
}

func TestLoad(t *testing.T) {
	shop := readShopFile(t).Applications()
	intranet := readYAMLFile(t, intranetFile).Applications()
	tests := []struct {
		name string
		path string
		want []topology.Application
	}{
		{"json", shopFile, shop},
		{"yaml", shopYAMLFile, shop},
		{"yml", intranetFile, intranet},
		{"yml copy of shop.yaml", writeTemp(t, "shop.yml", readTestdata(t, shopYAMLFile)), shop},
		{"upper-case JSON", writeTemp(t, "SHOP.JSON", readTestdata(t, shopFile)), shop},
		{"upper-case YAML", writeTemp(t, "shop.Yaml", readTestdata(t, shopYAMLFile)), shop},
		{"JSON text read as YAML", writeTemp(t, "shop.yaml", readTestdata(t, shopFile)), shop},
		{"dots in the name", writeTemp(t, "v1.2.json", readTestdata(t, shopFile)), shop},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := topology.Load(tt.path)
			require.NoError(t, err)
			require.NotNil(t, m)
			assert.Equal(t, tt.want, m.Applications())
		})
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	badVersion := editFile(t, shopYAMLFile, edit{"        version: 8.5.100\n", "        version: 8.5.x\n"})
	twoProblemsYAML := editFile(t, shopYAMLFile,
		edit{"{relation: hosted_on, target: tomcat-3}", "{relation: hosted_on, target: tomcat-9}"},
		edit{"{id: vm-2, template: ubuntu_os}", "{id: vm-1, template: ubuntu_os}"})
	severalJSON := editShop(t,
		edit{`"id": "tomcat_server", "type": "tomcat", "version": "8.5.100"`, `"id": "tomcat_server", "type": "tomcat", "version": "eight"`},
		edit{`"constraint": ">=8.5.50"`, `"constraint": "8.5.50 or newer"`})
	twoProblemsJSON := editShop(t,
		edit{`"target": "tomcat-3"`, `"target": "tomcat-9"`},
		edit{`{"id": "vm-2", "template": "ubuntu_os"}`, `{"id": "vm-1", "template": "ubuntu_os"}`})

	tests := []struct {
		name     string
		path     string
		notExist bool     // the error matches fs.ErrNotExist, not ErrInvalid
		item     string   // the first *topology.Error's Item
		problems int      // the number of Validate problems, each naming the file
		msgs     []string // parts of the message besides the path
	}{
		{name: "unknown extension", path: writeTemp(t, "shop.toml", "schema = 1\n"), item: "file", msgs: []string{"want a .json, .yaml or .yml file"}},
		{name: "no extension", path: writeTemp(t, "shop", readTestdata(t, shopFile)), item: "file", msgs: []string{"want a .json, .yaml or .yml file"}},
		{name: "unknown extension of a missing file", path: filepath.Join(dir, "gone.xml"), item: "file", msgs: []string{"want a .json, .yaml or .yml file"}},
		{name: "missing JSON file", path: filepath.Join(dir, "gone.json"), notExist: true},
		{name: "missing YAML file", path: filepath.Join(dir, "gone.yaml"), notExist: true},
		{name: "missing directory", path: filepath.Join(dir, "nowhere", "shop.yml"), notExist: true},
		{name: "YAML text read as JSON", path: writeTemp(t, "shop.json", readTestdata(t, shopYAMLFile)), item: "line 1, column 1", msgs: []string{"invalid character"}},
		{name: "bad YAML version", path: writeTemp(t, "shop.yaml", badVersion), item: fmt.Sprintf(`line %d: template "tomcat_server"`, lineOf(t, badVersion, "8.5.x")), msgs: []string{"invalid version"}},
		{name: "wrong JSON schema", path: writeTemp(t, "shop.json", editShop(t, edit{`"stackup.topology/v1"`, `"stackup.topology/v0"`})), item: "file", msgs: []string{`schema "stackup.topology/v0"`}},
		{name: "empty YAML", path: writeTemp(t, "empty.yml", ""), item: "file", msgs: []string{"empty"}},
		{name: "YAML fails Validate", path: writeTemp(t, "shop.yaml", twoProblemsYAML), problems: 3, msgs: []string{`hosted_on unknown node "tomcat-9"`, "duplicate node ID"}},
		{name: "JSON fails Validate", path: writeTemp(t, "shop.json", twoProblemsJSON), problems: 3, msgs: []string{`hosted_on unknown node "tomcat-9"`, "duplicate node ID"}},
		// Bad versions are joined with errors.Join, not by Validate: each
		// names the file all the same.
		{name: "several bad YAML versions", path: writeTemp(t, "shop.yaml", severalBadVersions(t)), problems: 3, msgs: []string{`invalid version "eight"`, `invalid version "1.4.0.0"`, "8.5.50 or newer"}},
		{name: "two bad JSON versions", path: writeTemp(t, "shop.json", severalJSON), problems: 2, msgs: []string{`invalid version "eight"`, "8.5.50 or newer"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := topology.Load(tt.path)
			require.Error(t, err)
			assert.Nil(t, m)
			assert.Contains(t, err.Error(), tt.path)
			for _, msg := range tt.msgs {
				assert.Contains(t, err.Error(), msg)
			}
			if tt.notExist {
				assert.ErrorIs(t, err, fs.ErrNotExist)
				assert.NotErrorIs(t, err, topology.ErrInvalid)
				return
			}
			assert.ErrorIs(t, err, topology.ErrInvalid)
			var te *topology.Error
			require.ErrorAs(t, err, &te)
			assert.Equal(t, tt.path, te.File)
			if tt.problems > 0 {
				checkFileErrors(t, err, tt.path, tt.problems)
				return
			}
			assert.Equal(t, tt.item, te.Item)
			assert.Equal(t, "topology: "+tt.path+": "+tt.item+": "+te.Err.Error(), te.Error())
		})
	}
}

func TestLoadTOSCA(t *testing.T) {
	tests := []struct {
		name, service, instances string
	}{
		{"shop", toscaShop, toscaShopInstances},
		{"JBoss and MySQL", toscaJBoss, toscaJBossInstances},
		{"Kubernetes", toscaK8s, toscaK8sInstances},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := topology.LoadTOSCA(tt.service, tt.instances)
			require.NoError(t, err)
			assert.Equal(t, mustReadTOSCAFiles(t, tt.service, tt.instances).Applications(), m.Applications())
			assert.NotEmpty(t, m.Applications())
		})
	}
}

func TestLoadTOSCAErrors(t *testing.T) {
	dir := t.TempDir()
	service := readTestdata(t, toscaShop)
	instances := readTestdata(t, toscaShopInstances)
	goodService := writeTemp(t, "service.yaml", service)
	goodInstances := writeTemp(t, "instances.yaml", instances)
	badServiceText := editFile(t, toscaShop, edit{"        version: 8.0.402\n", "        version: { get_property: [ SELF, v ] }\n"})
	badService := writeTemp(t, "service.yaml", badServiceText)
	badInstancesText := editFile(t, toscaShopInstances, edit{"version: 8.0.392", "version: 8.0.x"})
	badInstances := writeTemp(t, "instances.yaml", badInstancesText)
	invalidInstances := writeTemp(t, "instances.yaml", editFile(t, toscaShopInstances,
		edit{"{id: vm-db, template: db_os}", "{id: vm-db, template: db_vm}"},
		edit{"{requirement: host, target: vm-1}", "{requirement: host, target: vm-9}"}))
	// Service templates refused for what the TOSCA reader now checks.
	badServices := map[string]string{}
	badItems := map[string]string{}
	for name, e := range map[string]struct {
		edit              edit
		marker, construct string
	}{
		"unknown target":        {edit{"        - host: db_os\n", "        - host: db_vm\n"}, "db_vm", "node_templates.db_server.requirements[0].host"},
		"null target":           {edit{"        - host: db_os\n", "        - host: ~\n"}, "host: ~", "node_templates.db_server.requirements[0].host"},
		"duplicate key":         {edit{"        version: 8.0.402\n", "        version: 8.0.402\n        version: 8.0.392\n"}, "8.0.392", "node_templates.java_runtime.properties.version"},
		"merge key":             {edit{"        version: 8.0.402\n", "        <<: { version: 8.0.402 }\n"}, "<<:", "node_templates.java_runtime.properties"},
		"bad operand":           {edit{"{ greater_or_equal: 8 }", "{ greater_or_equal: eight }"}, "eight", "node_templates.tomcat_server.requirements[0].host.node_filter.properties.version.greater_or_equal"},
		"bad component_version": {edit{"        component_version: 12.18\n", "        component_version: 12.x\n"}, "12.x", "node_templates.db_server.properties.component_version"},
	} {
		text := editFile(t, toscaShop, e.edit)
		badServices[name] = writeTemp(t, "service.yaml", text)
		badItems[name] = fmt.Sprintf("line %d: %s", lineOf(t, text, e.marker), e.construct)
	}
	serviceTooBig := filepath.Join(dir, "big.yaml")
	require.NoError(t, os.WriteFile(serviceTooBig, nil, 0o644))
	require.NoError(t, os.Truncate(serviceTooBig, topology.MaxFileSize+1)) // sparse: cheap

	tests := []struct {
		name               string
		service, instances string
		notExist           bool
		file               string // the file the errors name
		item               string // the first *topology.Error's Item, when known
		problems           int
		msgs               []string
	}{
		{name: "missing service template", service: filepath.Join(dir, "gone.yaml"), instances: goodInstances, notExist: true, file: filepath.Join(dir, "gone.yaml")},
		{name: "missing instance file", service: goodService, instances: filepath.Join(dir, "gone.yaml"), notExist: true, file: filepath.Join(dir, "gone.yaml")},
		{name: "bad service template", service: badService, instances: goodInstances, file: badService,
			item: fmt.Sprintf("line %d: node_templates.java_runtime.properties.version", lineOf(t, badServiceText, "get_property")), msgs: []string{`function "get_property" not supported`}},
		{name: "requirement on an unknown node template", service: badServices["unknown target"], instances: goodInstances, file: badServices["unknown target"],
			item: badItems["unknown target"], msgs: []string{`no node template "db_vm"`}},
		{name: "requirement with a null target", service: badServices["null target"], instances: goodInstances, file: badServices["null target"],
			item: badItems["null target"], msgs: []string{"names no target node template"}},
		{name: "duplicate key in the service template", service: badServices["duplicate key"], instances: goodInstances, file: badServices["duplicate key"],
			item: badItems["duplicate key"], msgs: []string{"duplicate key (also on line"}},
		{name: "merge key in the service template", service: badServices["merge key"], instances: goodInstances, file: badServices["merge key"],
			item: badItems["merge key"], msgs: []string{"merge keys (<<) are not supported"}},
		{name: "constraint operand not a version", service: badServices["bad operand"], instances: goodInstances, file: badServices["bad operand"],
			item: badItems["bad operand"], msgs: []string{`invalid version "eight"`}},
		{name: "bad component_version", service: badServices["bad component_version"], instances: goodInstances, file: badServices["bad component_version"],
			item: badItems["bad component_version"], msgs: []string{`invalid version "12.x"`}},
		{name: "service template too large", service: serviceTooBig, instances: goodInstances, file: serviceTooBig,
			item: "file", msgs: []string{"larger than"}},
		{name: "bad instance file", service: goodService, instances: badInstances, file: badInstances,
			item: fmt.Sprintf(`instance file line %d: node "java-2"`, lineOf(t, badInstancesText, "8.0.x")), msgs: []string{"invalid version"}},
		{name: "instances fail Validate", service: goodService, instances: invalidInstances, file: invalidInstances,
			problems: 2, msgs: []string{`unknown template "db_vm"`, `hosted_on unknown node "vm-9"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := topology.LoadTOSCA(tt.service, tt.instances)
			require.Error(t, err)
			assert.Nil(t, m)
			assert.Contains(t, err.Error(), tt.file)
			for _, msg := range tt.msgs {
				assert.Contains(t, err.Error(), msg)
			}
			if tt.notExist {
				assert.ErrorIs(t, err, fs.ErrNotExist)
				return
			}
			assert.ErrorIs(t, err, topology.ErrInvalid)
			var te *topology.Error
			require.ErrorAs(t, err, &te)
			assert.Equal(t, tt.file, te.File)
			if other := tt.service; other == tt.file {
				assert.NotContains(t, err.Error(), tt.instances, "the error names the file at fault only")
			} else {
				assert.NotContains(t, err.Error(), tt.service, "the error names the file at fault only")
			}
			if tt.problems > 0 {
				checkFileErrors(t, err, tt.file, tt.problems)
				return
			}
			assert.Equal(t, tt.item, te.Item)
		})
	}
}
