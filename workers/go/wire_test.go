package sagaworker

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"sagad.local/workers/go/sagapb"
)

func command(mut func(*sagapb.Command)) []byte {
	c := &sagapb.Command{SagaId: "s1", Step: "ship", Action: sagapb.Action_RESERVE, Attempt: 1,
		IdempotencyKey: "s1/ship", Payload: []byte(`{"a":1}`)}
	if mut != nil {
		mut(c)
	}
	b, err := proto.Marshal(c)
	if err != nil {
		panic(err)
	}
	return b
}

// TestDecodePoison checks the poison rules of docs/participants.md, with
// the C library's reasons.
func TestDecodePoison(t *testing.T) {
	cases := []struct {
		value []byte
		want  string
	}{
		{[]byte{0xff, 0xff, 0xff}, "not a saga.Command protobuf (3 bytes)"},
		{command(func(c *sagapb.Command) { c.SagaId = "" }), "saga_id is empty"},
		{command(func(c *sagapb.Command) { c.Step = "" }), "step is empty"},
		{command(func(c *sagapb.Command) { c.IdempotencyKey = strings.Repeat("k", 641) }), "idempotency_key is 641 bytes long, the limit is 640"},
		{command(func(c *sagapb.Command) { c.Action = 0 }), "action 0 is not RESERVE, CONFIRM or COMPENSATE"},
		{command(func(c *sagapb.Command) { c.Attempt = -1 }), "attempt -1 is negative"},
		{command(func(c *sagapb.Command) { c.Payload = []byte("[1]") }), "payload is JSON but not an object"},
		{command(func(c *sagapb.Command) { c.Payload = []byte("null") }), "payload is JSON but not an object"},
		{command(func(c *sagapb.Command) { c.Payload = []byte("{") }), "payload is not JSON"},
		{make([]byte, 2000), "message of 2000 bytes exceeds the limit of 1000 bytes"},
	}
	for _, c := range cases {
		_, err := decodeCommand(c.value, 1000)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("decode: got %v, want %q", err, c.want)
		}
	}
}

func TestDecodeDefaults(t *testing.T) {
	d, err := decodeCommand(command(func(c *sagapb.Command) { c.Payload = nil }), 0)
	if err != nil {
		t.Fatal(err)
	}
	if string(d.payload) != "{}" || d.replyTopic != DefaultReplyTopic {
		t.Errorf("empty payload and reply topic: got %q, %q", d.payload, d.replyTopic)
	}
}

// TestReplyEcho: a reply copies the command's envelope, and carries a
// payload for OK only.
func TestReplyEcho(t *testing.T) {
	d, err := decodeCommand(command(func(c *sagapb.Command) { c.Attempt = 3; c.Traceparent = "tp" }), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []Outcome{OK, Rejected} {
		b, err := encodeReply(d.pb, o, "why", `{"x":1}`)
		if err != nil {
			t.Fatal(err)
		}
		var r sagapb.Reply
		if err := proto.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		if r.SagaId != "s1" || r.Step != "ship" || r.Action != sagapb.Action_RESERVE || r.Attempt != 3 ||
			r.Traceparent != "tp" || r.Outcome != sagapb.Outcome(o) || r.Reason != "why" {
			t.Errorf("%v: envelope not copied: %v", o, &r)
		}
		if (o == OK) != (string(r.Payload) == `{"x":1}`) {
			t.Errorf("%v: payload %q", o, r.Payload)
		}
	}
}
