// Command pulumi-resource-openstack is govcloud's build of the Pulumi OpenStack provider.
//
// The upstream provider module is not served by the Go module proxy we can reach, so we assemble the
// same thing from its two public parts: the Terraform OpenStack provider (plugin-sdk v2) and the Pulumi
// Terraform bridge. The Pulumi type tokens are not derived by a naming rule but read from tokens.json,
// which tools/openstack/gen_tokens.py generates from the pulumi-openstack Python SDK wheel we pin, so the
// tokens are exactly what that SDK sends. Property names follow the bridge's standard naming (the same
// rule the SDK was generated with); `-dump-names` prints them so a test can compare them with the SDK.
package main

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"github.com/govcloud/govcloud/tools/openstack/version"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	shimv2 "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim/sdk-v2"
	shim "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/terraform-provider-openstack/terraform-provider-openstack/v3/openstack"
)

//go:embed tokens.json
var tokensJSON []byte

type tokenMap struct {
	Resources   map[string]string `json:"resources"`
	DataSources map[string]string `json:"datasources"`
	// Fields: Terraform resource -> Terraform field -> Pulumi name, where the SDK departs from the default rule.
	Fields map[string]map[string]string `json:"fields"`
}

func providerInfo() (tfbridge.ProviderInfo, error) {
	var tm tokenMap
	if err := json.Unmarshal(tokensJSON, &tm); err != nil {
		return tfbridge.ProviderInfo{}, fmt.Errorf("tokens.json: %w", err)
	}
	p := shimv2.NewProvider(openstack.Provider())
	info := tfbridge.ProviderInfo{
		P:                 p,
		Name:              "openstack",
		Version:           version.Version,
		Description:       "OpenStack provider for Pulumi (govcloud build of the Terraform OpenStack provider)",
		License:           "Apache-2.0",
		GitHubOrg:         "terraform-provider-openstack",
		Repository:        "https://github.com/pulumi/pulumi-openstack",
		TFProviderVersion: "3.4.0",
		Resources:         map[string]*tfbridge.ResourceInfo{},
		DataSources:       map[string]*tfbridge.DataSourceInfo{},
	}
	var missing []string
	p.ResourcesMap().Range(func(name string, _ shim.Resource) bool {
		tok, ok := tm.Resources[name]
		if !ok {
			missing = append(missing, name)
			return true
		}
		ri := &tfbridge.ResourceInfo{Tok: tokens.Type(tok)}
		if fields, ok := tm.Fields[name]; ok {
			ri.Fields = map[string]*tfbridge.SchemaInfo{}
			for tf, pulumiName := range fields {
				ri.Fields[tf] = &tfbridge.SchemaInfo{Name: pulumiName}
			}
		}
		info.Resources[name] = ri
		return true
	})
	p.DataSourcesMap().Range(func(name string, _ shim.Resource) bool {
		tok, ok := tm.DataSources[name]
		if !ok {
			missing = append(missing, name)
			return true
		}
		info.DataSources[name] = &tfbridge.DataSourceInfo{Tok: tokens.ModuleMember(tok)}
		return true
	})
	// Terraform entities the SDK has no token for are left out of the bridge on purpose.
	info.IgnoreMappings = missing
	return info, nil
}

// dumpNames prints token -> sorted top-level Pulumi property names, as the bridge will map them.
func dumpNames(info tfbridge.ProviderInfo) error {
	out := map[string][]string{}
	add := func(tok string, r shim.Resource, fields map[string]*tfbridge.SchemaInfo) {
		var names []string
		r.Schema().Range(func(key string, _ shim.Schema) bool {
			names = append(names, tfbridge.TerraformToPulumiNameV2(key, r.Schema(), fields))
			return true
		})
		sort.Strings(names)
		out[tok] = names
	}
	info.P.ResourcesMap().Range(func(name string, r shim.Resource) bool {
		if ri, ok := info.Resources[name]; ok {
			add(string(ri.Tok), r, ri.Fields)
		}
		return true
	})
	info.P.DataSourcesMap().Range(func(name string, r shim.Resource) bool {
		if di, ok := info.DataSources[name]; ok {
			add(string(di.Tok), r, di.Fields)
		}
		return true
	})
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	return enc.Encode(out)
}

func main() {
	info, err := providerInfo()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if len(os.Args) > 1 && os.Args[1] == "-dump-names" {
		if err := dumpNames(info); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	tfbridge.Main("openstack", version.Version, info, nil)
}
