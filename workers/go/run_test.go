package sagaworker

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	"sagad.local/workers/go/sagapb"
)

// TestRunEndToEnd drives Run over the real Kafka: a RESERVE, its duplicate
// and undecodable bytes. The replies echo the commands and agree, the bad
// bytes reach the dead-letter topic with the dlq.* headers, the offsets are
// committed past all three, and cancelling the context stops Run cleanly.
func TestRunEndToEnd(t *testing.T) {
	ctx := testCtx(t)
	dsn := pgDSN(t)
	brokers := os.Getenv("SAGA_KAFKA_BROKERS")
	if brokers == "" {
		t.Skip("SAGA_KAFKA_BROKERS not set")
	}
	conn := connect(t, ctx, dsn)
	h := effects{schema: testSchema(t, ctx, conn)}
	cfg := NewConfig(h.schema)
	cfg.Migrations = h.migrations()
	cfg.DLQTopic = "saga.dlq." + h.schema
	cfg.Partitions = 2
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	replies := "saga.replies." + h.schema

	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...),
		kgo.ConsumeTopics(replies, cfg.DLQTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), cfg.Topic, cfg.DLQTopic, replies) })
	if _, err := adm.CreateTopics(ctx, 2, -1, nil, cfg.Topic, cfg.DLQTopic, replies); err != nil {
		t.Fatal(err)
	}

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- Run(runCtx, cfg, h) }()

	cmd := commandBytes("e2e", Reserve, 1, `{"qty":1}`, replies)
	dup := commandBytes("e2e", Reserve, 2, `{"qty":1}`, replies)
	for _, v := range [][]byte{cmd, []byte("not a command"), dup} {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: cfg.Topic, Key: []byte("e2e"), Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	var got []*sagapb.Reply
	var dead *kgo.Record
	for len(got) < 2 || dead == nil {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("timed out: %d replies, dead-lettered: %v", len(got), dead != nil)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Topic == cfg.DLQTopic {
				dead = r
				return
			}
			var rep sagapb.Reply
			if err := proto.Unmarshal(r.Value, &rep); err != nil || string(r.Key) != "e2e" ||
				len(r.Headers) != 1 || string(r.Headers[0].Value) != "00-e2e-01" {
				t.Errorf("reply not keyed by saga id or without traceparent: %v %v", r, err)
			}
			got = append(got, &rep)
		})
	}
	if got[0].Outcome != sagapb.Outcome_OK || got[1].Outcome != sagapb.Outcome_OK ||
		got[0].Attempt != 1 || got[1].Attempt != 2 || string(got[0].Payload) != string(got[1].Payload) {
		t.Errorf("replies disagree: %v / %v", got[0], got[1])
	}
	hdr := map[string]string{}
	for _, h := range dead.Headers {
		hdr[h.Key] = string(h.Value)
	}
	if string(dead.Value) != "not a command" || hdr[hdrTopic] != cfg.Topic || hdr[hdrOffset] != "1" ||
		!strings.HasPrefix(hdr[hdrReason], "not a saga.Command") || hdr[hdrClass] != "invalid Command" {
		t.Errorf("dead-letter copy: %q %v", dead.Value, hdr)
	}

	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not stop within 20 s")
	}
	offsets, err := adm.FetchOffsets(ctx, cfg.Group)
	if err != nil {
		t.Fatal(err)
	}
	var committed int64
	offsets.Each(func(o kadm.OffsetResponse) { committed += max(o.At, 0) })
	if committed != 3 {
		t.Errorf("committed offsets add up to %d, want 3 (all consumed)", committed)
	}
	_, _ = adm.DeleteGroup(context.Background(), cfg.Group)
}
