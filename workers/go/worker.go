package sagaworker

// worker.go - the participant loop, in the order workers/worker.c keeps so
// the process is safe to kill at any instant:
//
//  1. poll what is already there (up to BatchMax; never wait to fill);
//  2. in one transaction: claim, handlers, record; COMMIT once (apply.go);
//  3. produce every reply and dead-letter copy, wait for the acks;
//  4. mark the offsets; franz-go commits marked offsets every 250 ms, on
//     revocation and on close.
//
// A crash before 2 commits loses nothing (Kafka redelivers); after it, the
// redelivered commands find their barrier rows and get the recorded
// replies. Rebalances are held back while a batch is in hand
// (BlockRebalanceOnPoll), so a batch's offsets are marked before its
// partitions can move.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// How long a stopping worker keeps trying to deliver the batch in hand.
const stopGrace = 30 * time.Second

// Dead-letter headers (engine/common/dlq.h).
const (
	hdrReason    = "dlq.reason"
	hdrClass     = "dlq.class"
	hdrTopic     = "dlq.topic"
	hdrPartition = "dlq.partition"
	hdrOffset    = "dlq.offset"
	hdrTrace     = "traceparent"
)

type worker struct {
	cfg     Config
	h       Handler
	log     *slog.Logger
	cl      *kgo.Client
	conn    *pgx.Conn
	applier applier
}

// Run runs the participant until ctx is cancelled, then finishes the batch
// in hand (commit, replies, offsets), leaves the consumer group and returns
// nil. It connects to PostgreSQL (retrying with backoff), applies
// cfg.Migrations and the barrier's migration, creates the command and
// dead-letter topics, then consumes. It returns an error when it cannot
// start (bad config, a migration failed) or on a fatal Kafka error.
//
// What correctness needs is set after cfg.KafkaOpts and cannot be turned
// off: offsets committed only once marked, rebalances blocked during a
// batch, an idempotent producer waiting for all in-sync replicas.
func Run(ctx context.Context, cfg Config, h Handler) error {
	if err := cfg.check(); err != nil {
		return err
	}
	w := &worker{cfg: cfg, h: h, log: cfg.Logger.With("participant", cfg.Participant)}
	defer func() {
		if w.conn != nil {
			_ = w.conn.Close(context.WithoutCancel(ctx))
		}
	}()
	if err := w.openDB(ctx); err != nil {
		return ignoreStop(ctx, err)
	}
	if err := w.openKafka(); err != nil {
		return err
	}
	defer w.cl.Close()
	if err := w.ensureTopics(ctx); err != nil {
		return ignoreStop(ctx, err)
	}
	w.log.Info("consuming", "topic", cfg.Topic, "group", cfg.Group, "batch_max", cfg.BatchMax)
	return w.consume(ctx)
}

// ignoreStop turns an error caused by the stop itself into nil.
func ignoreStop(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// sleep waits d or until ctx is done; false when ctx is done.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func nextBackoff(d time.Duration) time.Duration { return min(2*d, 5*time.Second) }

// connect opens a connection, retrying with backoff until ctx is done.
func (w *worker) connect(ctx context.Context) (*pgx.Conn, error) {
	cc, err := pgx.ParseConfig(w.cfg.PGDSN)
	if err != nil {
		return nil, fmt.Errorf("sagaworker: PostgreSQL DSN: %w", err)
	}
	if cc.RuntimeParams["application_name"] == "" {
		cc.RuntimeParams["application_name"] = w.cfg.Participant + "-worker"
	}
	for backoff := 100 * time.Millisecond; ; backoff = nextBackoff(backoff) {
		conn, err := pgx.ConnectConfig(ctx, cc)
		if err == nil {
			return conn, nil
		}
		w.log.Warn("cannot connect to PostgreSQL; retrying", "err", err, "in", backoff)
		if !sleep(ctx, backoff) {
			return nil, ctx.Err()
		}
	}
}

// openDB connects and applies the migrations; the barrier's come after the
// participant's, as in the C library.
func (w *worker) openDB(ctx context.Context) error {
	conn, err := w.connect(ctx)
	if err != nil {
		return err
	}
	w.conn = conn
	n, err := Migrate(ctx, conn, w.cfg.Participant, w.cfg.Migrations)
	if err != nil {
		return err
	}
	if n > 0 {
		w.log.Info("applied migrations", "count", n)
	}
	if _, err = MigrateBarrier(ctx, conn, w.cfg.Schema); err != nil {
		return err
	}
	b, err := openBarrier(ctx, conn, w.cfg.Schema)
	if err != nil {
		return err
	}
	w.applier = applier{conn: conn, barrier: b, h: w.h}
	return nil
}

func (w *worker) openKafka() error {
	c := w.cfg
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.ClientID(c.Participant + "-worker"),
		kgo.ConsumerGroup(c.Group),
		kgo.ConsumeTopics(c.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.SessionTimeout(6 * time.Second),
		kgo.HeartbeatInterval(1500 * time.Millisecond),
		kgo.FetchMaxWait(100 * time.Millisecond),
		kgo.ProducerLinger(5 * time.Millisecond),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			w.log.Info("partitions assigned", "partitions", m)
		}),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
			if err := cl.CommitMarkedOffsets(ctx); err != nil {
				w.log.Warn("offset commit on revoke failed; the commands will be redelivered", "err", err)
			}
			w.log.Info("partitions revoked", "partitions", m)
		}),
	}
	opts = append(opts, c.KafkaOpts...)
	opts = append(opts,
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(250*time.Millisecond),
		kgo.BlockRebalanceOnPoll(),
		kgo.RequiredAcks(kgo.AllISRAcks()),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("sagaworker: kafka client: %w", err)
	}
	w.cl = cl
	return nil
}

// ensureTopics creates the command and dead-letter topics (an existing
// topic is success), retrying while Kafka is unreachable.
func (w *worker) ensureTopics(ctx context.Context) error {
	adm := kadm.NewClient(w.cl)
	for backoff := 200 * time.Millisecond; ; backoff = nextBackoff(backoff) {
		res, err := adm.CreateTopics(ctx, w.cfg.Partitions, w.cfg.Replication, nil, w.cfg.Topic, w.cfg.DLQTopic)
		if err == nil {
			for _, t := range res.Sorted() {
				if t.Err != nil && !errors.Is(t.Err, kerr.TopicAlreadyExists) {
					err = fmt.Errorf("creating topic %s: %w", t.Topic, t.Err)
				}
			}
		}
		if err == nil {
			return nil
		}
		w.log.Warn("cannot create topics; retrying", "err", err, "in", backoff)
		if !sleep(ctx, backoff) {
			return ctx.Err()
		}
	}
}

func (w *worker) consume(ctx context.Context) error {
	for {
		fetches := w.cl.PollRecords(ctx, w.cfg.BatchMax)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			break
		}
		var fatal error
		fetches.EachError(func(t string, p int32, err error) {
			if errors.Is(err, context.Canceled) {
				return
			}
			w.log.Warn("kafka fetch", "topic", t, "partition", p, "err", err)
			var ke *kerr.Error
			if errors.As(err, &ke) && (ke == kerr.GroupAuthorizationFailed || ke == kerr.TopicAuthorizationFailed) {
				fatal = fmt.Errorf("sagaworker: kafka: %w", err)
			}
		})
		if fatal != nil {
			return fatal
		}
		recs := fetches.Records()
		if len(recs) > 0 && !w.handleBatch(ctx, recs) {
			break
		}
		w.cl.AllowRebalance()
	}
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := w.cl.CommitMarkedOffsets(stopCtx); err != nil {
		w.log.Warn("final offset commit failed; the commands will be redelivered", "err", err)
	}
	w.cl.AllowRebalance()
	w.log.Info("stopped")
	return nil
}

// handleBatch handles one batch end to end; false when the worker must stop
// without acknowledging it.
func (w *worker) handleBatch(ctx context.Context, recs []*kgo.Record) bool {
	items := make([]*item, 0, len(recs))
	for _, r := range recs {
		it := &item{rec: r, origin: -1}
		d, err := decodeCommand(r.Value, w.cfg.MaxMessageBytes)
		if err != nil {
			it.poison = err.Error()
			w.log.Warn("dead-lettering", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "reason", it.poison)
		} else {
			it.cmd = d
			it.log = w.log.With("saga_id", d.pb.SagaId, "step", d.pb.Step, "action", Action(d.pb.Action).String(),
				"attempt", d.pb.Attempt, "traceparent", d.pb.Traceparent)
		}
		items = append(items, it)
	}
	if !w.applyUntilDone(ctx, items) {
		return false
	}
	if !w.deliver(ctx, items) {
		return false
	}
	w.cl.MarkCommitRecords(recs...)
	return true
}

// applyUntilDone applies the batch, reconnecting to PostgreSQL and applying
// again as long as needed; false when asked to stop before it could.
func (w *worker) applyUntilDone(ctx context.Context, items []*item) bool {
	run := context.WithoutCancel(ctx) // a batch in hand is finished
	for backoff := 100 * time.Millisecond; ; backoff = nextBackoff(backoff) {
		err := w.applier.apply(run, items)
		if err == nil {
			return true
		}
		w.log.Error("applying the batch failed", "err", err)
		if ctx.Err() != nil {
			w.log.Warn("stopping with a batch not applied; it will be redelivered", "messages", len(items))
			return false
		}
		if w.conn.IsClosed() {
			w.log.Warn("lost the PostgreSQL connection; reconnecting")
			conn, err := w.connect(ctx)
			if err != nil {
				return false
			}
			w.conn, w.applier.conn = conn, conn
			backoff = 100 * time.Millisecond
			continue
		}
		if !sleep(ctx, backoff) {
			return false
		}
	}
}

// poisonClass is the dlq.class of a dead letter, the labels of
// engine/common/dlq.c: too large, or not a valid Command.
func poisonClass(value []byte, maxBytes int) string {
	if maxBytes > 0 && len(value) > maxBytes {
		return "Command too large"
	}
	return "invalid Command"
}

// outgoing builds the reply (or dead-letter copy) of every item.
func (w *worker) outgoing(items []*item) ([]*kgo.Record, error) {
	out := make([]*kgo.Record, 0, len(items))
	for _, it := range items {
		r := it.rec
		if it.cmd == nil {
			hdrs := append([]kgo.RecordHeader(nil), r.Headers...)
			hdrs = append(hdrs,
				kgo.RecordHeader{Key: hdrReason, Value: []byte(it.poison)},
				kgo.RecordHeader{Key: hdrClass, Value: []byte(poisonClass(r.Value, w.cfg.MaxMessageBytes))},
				kgo.RecordHeader{Key: hdrTopic, Value: []byte(r.Topic)},
				kgo.RecordHeader{Key: hdrPartition, Value: []byte(strconv.FormatInt(int64(r.Partition), 10))},
				kgo.RecordHeader{Key: hdrOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))})
			out = append(out, &kgo.Record{Topic: w.cfg.DLQTopic, Key: r.Key, Value: r.Value, Headers: hdrs})
			continue
		}
		msg := it.outcome.String()
		if it.duplicate {
			msg += " (duplicate)"
		}
		if it.reason != "" {
			msg += ": " + it.reason
		}
		it.log.Info(msg)
		value, err := encodeReply(it.cmd.pb, it.outcome, it.reason, it.result)
		if err != nil {
			return nil, err
		}
		rec := &kgo.Record{Topic: it.cmd.replyTopic, Key: []byte(it.cmd.pb.SagaId), Value: value}
		if tp := it.cmd.pb.Traceparent; tp != "" {
			rec.Headers = []kgo.RecordHeader{{Key: hdrTrace, Value: []byte(tp)}}
		}
		out = append(out, rec)
	}
	return out, nil
}

// deliver produces every reply and dead-letter copy and waits for the acks,
// producing the failed ones again; false when stopping made it give up.
func (w *worker) deliver(ctx context.Context, items []*item) bool {
	pending, err := w.outgoing(items)
	if err != nil {
		w.log.Error("packing replies", "err", err)
		return false
	}
	run := context.WithoutCancel(ctx)
	var stopped time.Time
	for backoff := 100 * time.Millisecond; ; backoff = nextBackoff(backoff) {
		var failed []*kgo.Record
		for _, res := range w.cl.ProduceSync(run, pending...) {
			if res.Err != nil {
				w.log.Warn("delivery failed", "topic", res.Record.Topic, "err", res.Err)
				failed = append(failed, res.Record)
			}
		}
		if len(failed) == 0 {
			return true
		}
		pending = failed
		if ctx.Err() != nil {
			if stopped.IsZero() {
				stopped = time.Now()
			}
			if time.Since(stopped) > stopGrace {
				w.log.Warn("stopping with answers undelivered; the commands will be redelivered", "count", len(failed))
				return false
			}
		}
		time.Sleep(backoff)
	}
}
