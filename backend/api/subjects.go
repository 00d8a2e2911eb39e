package api

// DefaultPrefix is the default first token of this project's subjects.
const DefaultPrefix = "cfgsnap"

// CompatTriggerSubject is the seed-compatible trigger of the-other-dude.
const CompatTriggerSubject = "config.backup.trigger"

// QueueGroup is the queue group every worker subscribes in, so that exactly
// one worker answers each request.
const QueueGroup = "cfgsnap-workers"

// Headers of the progress stream (protocol.md §4).
const (
	HeaderProgress      = "Cfgsnap-Progress"
	HeaderProgressValue = "stream"
	HeaderEvent         = "Cfgsnap-Event"
	EventProgress       = "progress"
	EventFinal          = "final"
)

// Subjects builds this project's subjects under one prefix. Callers validate
// IDs with ValidID before building a subject from them.
type Subjects struct{ Prefix string }

func (s Subjects) p() string {
	if s.Prefix == "" {
		return DefaultPrefix
	}
	return s.Prefix
}

func (s Subjects) Trigger(tenant string) string { return s.p() + ".backup.trigger." + tenant }
func (s Subjects) Progress(tenant, device string) string {
	return s.p() + ".backup.progress." + tenant + "." + device
}
func (s Subjects) SnapshotCreated(tenant, device string) string {
	return s.p() + ".snapshot.created." + tenant + "." + device
}
func (s Subjects) Tenants() string              { return s.p() + ".inventory.tenants" }
func (s Subjects) Devices(tenant string) string { return s.p() + ".inventory.devices." + tenant }
func (s Subjects) List(tenant string) string    { return s.p() + ".snapshot.list." + tenant }
func (s Subjects) Get(tenant string) string     { return s.p() + ".snapshot.get." + tenant }

// Pin is the subject that pins and unpins snapshots (issue 9).
func (s Subjects) Pin(tenant string) string { return s.p() + ".snapshot.pin." + tenant }
