package sagaworker

// wire.go - the library's side of schema/saga.proto, as workers/wire.c:
// everything that makes a message unusable is decided here, before any
// database work, so poison is dead-lettered instead of retried for ever.

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"sagad.local/workers/go/sagapb"
)

// Limits shared with the C library (workers/wire.h): the key is part of the
// barrier's primary key, whose btree entries must stay small.
const (
	maxID       = 256
	maxKey      = 640
	maxTopicLen = 249
)

// decoded is a command that passed every check.
type decoded struct {
	pb         *sagapb.Command
	payload    json.RawMessage // a JSON object
	replyTopic string
}

// decodeCommand decodes and validates one message value. The error's text
// is the dead-letter reason (the C library's wording).
func decodeCommand(value []byte, maxBytes int) (*decoded, error) {
	if maxBytes > 0 && len(value) > maxBytes {
		return nil, fmt.Errorf("message of %d bytes exceeds the limit of %d bytes", len(value), maxBytes)
	}
	var c sagapb.Command
	if err := proto.Unmarshal(value, &c); err != nil {
		return nil, fmt.Errorf("not a saga.Command protobuf (%d bytes)", len(value))
	}
	fields := []struct {
		name     string
		v        string
		max      int
		required bool
	}{
		{"saga_id", c.SagaId, maxID, true},
		{"step", c.Step, maxID, true},
		{"idempotency_key", c.IdempotencyKey, maxKey, true},
		{"saga_name", c.SagaName, maxID, false},
		{"command", c.Command, maxID, false},
		{"reply_topic", c.ReplyTopic, maxTopicLen, false},
		{"traceparent", c.Traceparent, maxID, false},
	}
	for _, f := range fields {
		switch {
		case f.required && f.v == "":
			return nil, fmt.Errorf("%s is empty", f.name)
		case len(f.v) > f.max:
			return nil, fmt.Errorf("%s is %d bytes long, the limit is %d", f.name, len(f.v), f.max)
		case !utf8.ValidString(f.v):
			return nil, fmt.Errorf("%s is not valid UTF-8", f.name)
		}
	}
	if c.Action < sagapb.Action_RESERVE || c.Action > sagapb.Action_COMPENSATE {
		return nil, fmt.Errorf("action %d is not RESERVE, CONFIRM or COMPENSATE", int32(c.Action))
	}
	if c.Attempt < 0 {
		return nil, fmt.Errorf("attempt %d is negative", c.Attempt)
	}
	payload := json.RawMessage("{}")
	if len(c.Payload) > 0 {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(c.Payload, &obj); err != nil {
			var v any
			if json.Unmarshal(c.Payload, &v) == nil {
				return nil, fmt.Errorf("payload is JSON but not an object")
			}
			return nil, fmt.Errorf("payload is not JSON: %w", err)
		}
		if obj == nil {
			return nil, fmt.Errorf("payload is JSON but not an object")
		}
		payload = json.RawMessage(c.Payload)
	}
	d := &decoded{pb: &c, payload: payload, replyTopic: c.ReplyTopic}
	if d.replyTopic == "" {
		d.replyTopic = DefaultReplyTopic
	}
	return d, nil
}

// encodeReply packs the Reply to c: saga_id, step, action, attempt and
// traceparent copied, the result (JSON text, may be "") sent for OK only.
func encodeReply(c *sagapb.Command, o Outcome, reason, result string) ([]byte, error) {
	r := &sagapb.Reply{
		SagaId:      c.SagaId,
		Step:        c.Step,
		Action:      c.Action,
		Attempt:     c.Attempt,
		Outcome:     sagapb.Outcome(o),
		Reason:      reason,
		Traceparent: c.Traceparent,
	}
	if o == OK && result != "" {
		r.Payload = []byte(result)
	}
	b, err := proto.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("packing the reply: %w", err)
	}
	return b, nil
}
