// Package version holds the provider version, set at link time by govcloud setup (pins.json).
package version

// Version is the version the provider reports; it must equal what the pulumi-openstack Python SDK requests.
var Version = "5.5.3"
