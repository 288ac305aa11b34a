package daemon

import "fmt"

// Sources of readiness problems (see setProblem).
const (
	problemInterfaces = "inventory-interfaces"
	problemDeadLetter = "dead-letter"
	problemFilePrefix = "file:"
)

// checkInterfaces warns, and reports on /readyz, an inventory without
// network interfaces: no flow can then be attributed to a rule.
func (d *Daemon) checkInterfaces(n int) {
	if n > 0 {
		d.setProblem(problemInterfaces, "")
		return
	}
	msg := "inventory: no network interfaces, so no flow can be attributed to a rule"
	if d.opts.LoadInventory == nil && len(d.cfg.Inventory.NetworkInterfaces) == 0 {
		msg += "; set inventory.network_interfaces (aws ec2 describe-network-interfaces)"
	}
	d.log.Warn(msg)
	d.setProblem(problemInterfaces, msg)
}

// fileFailed reports on /readyz a file input that could not be read.
func (d *Daemon) fileFailed(path string, err error) {
	d.setProblem(problemFilePrefix+path, fmt.Sprintf("file input %s could not be read: %v", path, err))
}
