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

// Headers of a reply too large for one NATS message (an extension of
// protocol.md §2, used by snapshot.get and any other reply that outgrows the
// server's max_payload). The reply's JSON is cut into N parts, each sent to
// the requester's inbox with HeaderChunk "i/N" (1-based, in order); then one
// message with HeaderEvent "final", HeaderChunks N and HeaderSHA256 (hex
// sha256 of the whole JSON) and an empty body ends it. A reply that fits is
// one plain message, so `nats req` keeps working for everything that fits.
const (
	HeaderChunk  = "Cfgsnap-Chunk"
	HeaderChunks = "Cfgsnap-Chunks"
	HeaderSHA256 = "Cfgsnap-Sha256"
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

// NKeyInbox is the inbox prefix of a client that logs in with the nkey
// whose public key is pub: its replies arrive under _INBOX.<pub>., and the
// embedded server lets that client subscribe there only, so one engineer's
// client cannot read the replies (snapshot contents) meant for another.
// The prefix stays under _INBOX., where the service may answer.
func NKeyInbox(pub string) string { return "_INBOX." + pub }

// Pin is the subject that pins and unpins snapshots (issue 9).
func (s Subjects) Pin(tenant string) string { return s.p() + ".snapshot.pin." + tenant }
