package devicesim

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/cfgsnap/cfgsnap/backend/inventory"
)

// WriteInventory writes an inventory (cli.md "Inventory") that points at
// the fleet. Credentials stay out of it: the fleet's password goes to
// PATH.password and a device with its own password gets
// PATH.TENANT.ID.password, all 0600, referenced as password_file. Host keys
// are not pinned, so clients trust them on first use (and notice the
// rotate_hostkey device).
func (f *Fleet) WriteInventory(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("devicesim: inventory path: %w", err)
	}
	fleetPW := abs + ".password"
	if err := writePrivate(fleetPW, []byte(f.cfg.Password)); err != nil {
		return fmt.Errorf("devicesim: %w", err)
	}
	doc := inventory.FileDoc{Defaults: &inventory.FileSettings{
		Username:     f.cfg.Username,
		PasswordFile: fleetPW,
		Secrets:      "show",
	}}
	index := map[string]int{}
	for _, d := range f.devices {
		info := d.info()
		ti, ok := index[info.Tenant]
		if !ok {
			ti = len(doc.Tenants)
			index[info.Tenant] = ti
			doc.Tenants = append(doc.Tenants, inventory.FileTenant{ID: info.Tenant, Name: info.TenantName})
		}
		fd := inventory.FileDevice{ID: info.ID, Host: info.Host, Port: info.Port, Tags: d.tags()}
		if info.Name != info.ID {
			fd.Name = info.Name
		}
		if d.spec.Password != "" {
			fd.PasswordFile = abs + "." + info.Tenant + "." + info.ID + ".password"
			if err := writePrivate(fd.PasswordFile, []byte(d.spec.Password)); err != nil {
				return fmt.Errorf("devicesim: %w", err)
			}
		}
		doc.Tenants[ti].Devices = append(doc.Tenants[ti].Devices, fd)
	}
	if err := inventory.WriteFile(abs, doc); err != nil {
		return fmt.Errorf("devicesim: %w", err)
	}
	return nil
}

// tags say what a device simulates, for filtering in the TUI.
func (d *device) tags() []string {
	tags := []string{"sim", "routeros" + fmt.Sprint(d.version.major)}
	if d.spec.Fixture != "" {
		tags = append(tags, "capture")
	}
	if fault := d.currentFault(); fault != FaultNone {
		tags = append(tags, "fault", strings.ReplaceAll(string(fault), "_", "-"))
	}
	if d.spec.DriftEvery > 0 {
		tags = append(tags, "drift")
	}
	return tags
}
