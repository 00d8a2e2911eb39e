package routeros

import (
	"bytes"
	"fmt"

	"github.com/cfgsnap/cfgsnap/backend/api"
)

// routerOSError is a reply RouterOS prints at the start of a line instead
// of carrying out a command. No line of a real export starts like this:
// export lines start with '/', '#', a command or a continuation, and a
// comment="syntax error" of a rule stays inside its own line.
type routerOSError struct {
	prefix string
	hint   string
}

const hintCommand = "the export command does not suit this RouterOS version, or the device is not RouterOS"

var routerOSErrors = []routerOSError{
	{"bad command name", hintCommand},
	{"expected end of command", hintCommand},
	{"expected command name", hintCommand},
	{"syntax error", hintCommand},
	{"no such command", hintCommand},
	{"not enough permissions", "give the SSH user's group the read policy (and sensitive, to back up secrets)"},
	{"failure:", ""},
	{"no such item", ""},
	{"input does not match any value", ""},
	{"invalid value for argument", ""},
	{"ambiguous value", ""},
	{"missing value", ""},
}

// maxQuoted bounds how much of a device's error line goes into a message.
const maxQuoted = 160

// Validate tells a normalised export from output that must not be stored as
// a snapshot (docs/normalization.md, "What is not a valid backup"). The
// error is an *api.Error of kind invalid_output whose message says what the
// device printed instead. It never quotes configuration lines, which may
// hold secrets.
func Validate(normalized []byte) error {
	if len(bytes.TrimSpace(normalized)) == 0 {
		return api.Errorf(api.KindInvalidOutput,
			"the export is empty: the device printed no configuration")
	}
	hasSection := false
	lineNo := 0
	for rest := normalized; len(rest) > 0; {
		var line []byte
		line, rest = nextSegment(rest)
		lineNo++
		if len(line) > 0 && line[0] == '/' {
			hasSection = true
			continue
		}
		body := trimLeftBlanks(line)
		for _, e := range routerOSErrors {
			if bytes.HasPrefix(body, []byte(e.prefix)) {
				return invalidReply(body, lineNo, e.hint)
			}
		}
	}
	if !hasSection {
		return api.Errorf(api.KindInvalidOutput,
			"the output has no configuration section (no line starting with \"/\"): it is not a RouterOS export")
	}
	return nil
}

func invalidReply(line []byte, lineNo int, hint string) error {
	quoted := line
	if len(quoted) > maxQuoted {
		quoted = quoted[:maxQuoted]
	}
	msg := fmt.Sprintf("RouterOS answered %q (line %d) instead of an export", quoted, lineNo)
	if hint != "" {
		msg += ": " + hint
	}
	return &api.Error{Kind: api.KindInvalidOutput, Msg: msg}
}
