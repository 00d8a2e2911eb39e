package devicesim

import "embed"

// captures are the real RouterOS captures the simulator serves as devices
// (DefaultFleet's globex capture-* devices). They are the simulator's own,
// copied from the Oxidized project with their licence (captures/
// LICENSE.oxidized, Apache-2.0) and README, so the binary needs nothing
// outside the repository.
//
//go:embed captures/*#simulation.yaml captures/LICENSE.oxidized captures/README.md
var captures embed.FS

// BuiltinCapture prefixes Spec.Fixture to name one of the embedded
// captures (a file of captures/) instead of a path.
const BuiltinCapture = "builtin:"
