package sagaworker

// apply.go - one transaction per batch, as workers/apply.c:
//
//	BEGIN + claim of every command's barrier row   -> 1 statement
//	each handler that runs                         -> its own statements
//	record of every answer + COMMIT                -> 1 statement + commit
//
// Duplicates and the barrier's refusals are decided in memory from what the
// claim returned and from the answers of earlier commands of the same step
// in the batch. The first pass runs handlers without savepoints; if one
// fails, the transaction is rolled back and the batch runs again with a
// savepoint around every handler, the failed command answering RETRY
// without running again: a failure costs one re-run, the usual batch pays
// no subtransactions.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"
)

// errRerun: a handler failed in the pass without savepoints.
var errRerun = errors.New("rerun the batch with savepoints")

// item is one consumed message and what became of it.
type item struct {
	rec    *kgo.Record
	cmd    *decoded // nil: poison
	poison string
	log    *slog.Logger
	// The answer, reset whenever the batch is (re-)applied.
	outcome     Outcome // 0: none
	reason      string
	result      string // JSON text or ""
	recorded    bool   // written to the barrier by this batch
	duplicate   bool   // answered from the barrier
	forcedRetry bool   // its handler failed: RETRY, not run again
	origin      int    // answered as a copy of items[origin]; -1 otherwise
}

func (it *item) key() string    { return it.cmd.pb.IdempotencyKey }
func (it *item) action() Action { return Action(it.cmd.pb.Action) }
func (it *item) takesPart() bool {
	return it.cmd != nil && !it.forcedRetry
}

func (it *item) answer(o Outcome, reason, result string) {
	it.outcome, it.reason, it.result = o, reason, result
}

// applier applies batches on one connection.
type applier struct {
	conn    *pgx.Conn
	barrier *barrier
	h       Handler
}

type pass struct {
	a          *applier
	items      []*item
	savepoints bool
	tx         pgx.Tx
	rows       rows
}

// seenBefore is what the step of items[i] recorded before it: rows
// committed before the batch, then the batch's earlier answers.
func (p *pass) seenBefore(i int) (seen, string) {
	var s seen
	var reserveResult string
	key := p.items[i].key()
	for a := Reserve; a <= Compensate; a++ {
		if r := p.rows.find(key, a, false); r != nil {
			s[a] = r.outcome
			if a == Reserve {
				reserveResult = r.result
			}
		}
	}
	for _, e := range p.items[:i] {
		if !e.takesPart() || !e.recorded || e.key() != key {
			continue
		}
		s[e.action()] = e.outcome
		if e.action() == Reserve {
			reserveResult = e.result
		}
	}
	return s, reserveResult
}

// earlierAnswer is the batch's earlier command that answered the same step
// and action, or -1.
func (p *pass) earlierAnswer(i int) int {
	it := p.items[i]
	for j, e := range p.items[:i] {
		if e.takesPart() && (e.recorded || e.duplicate) && e.action() == it.action() && e.key() == it.key() {
			return j
		}
	}
	return -1
}

func (p *pass) call(ctx context.Context, it *item, tx pgx.Tx, reserveResult string) (Result, error) {
	pb := it.cmd.pb
	cmd := &Command{
		Action: it.action(), SagaID: pb.SagaId, SagaName: pb.SagaName, SagaVersion: pb.SagaVersion,
		Step: pb.Step, Name: pb.Command, Attempt: pb.Attempt, IdempotencyKey: pb.IdempotencyKey,
		Deadline: time.UnixMilli(pb.DeadlineMs), Traceparent: pb.Traceparent,
		Payload: it.cmd.payload, Tx: tx,
	}
	if reserveResult != "" {
		cmd.ReserveResult = json.RawMessage(reserveResult)
	}
	switch cmd.Action {
	case Reserve:
		return p.a.h.Reserve(ctx, cmd)
	case Confirm:
		return p.a.h.Confirm(ctx, cmd)
	}
	return p.a.h.Compensate(ctx, cmd)
}

// runHandler runs the participant's handler for it. nil with it answered,
// errRerun, or an error when the transaction is lost.
func (p *pass) runHandler(ctx context.Context, it *item, reserveResult string) error {
	tx := p.tx
	if p.savepoints {
		sp, err := p.tx.Begin(ctx)
		if err != nil {
			return fmt.Errorf("savepoint: %w", err)
		}
		tx = sp
	}
	res, herr := p.call(ctx, it, tx, reserveResult)
	if p.a.conn.IsClosed() {
		return errors.New("lost the PostgreSQL connection in a handler")
	}
	sqlFailed := p.a.conn.PgConn().TxStatus() == 'E'
	var result string
	if herr == nil && res.Outcome == OK && res.Payload != nil {
		b, err := json.Marshal(res.Payload)
		if err != nil {
			herr = fmt.Errorf("result is not JSON: %w", err)
		}
		result = string(b)
	}
	if herr == nil && !sqlFailed && (res.Outcome == OK || res.Outcome == Rejected) {
		if p.savepoints {
			if err := tx.Commit(ctx); err != nil {
				return fmt.Errorf("release savepoint: %w", err)
			}
		}
		it.answer(res.Outcome, res.Reason, result)
		it.recorded = true
		return nil
	}
	why := res.Reason
	switch {
	case herr != nil:
		why = herr.Error()
	case sqlFailed:
		why = "handler failed: a statement failed: " + why
	case res.Outcome != Retry:
		why = fmt.Sprintf("handler returned outcome %d", res.Outcome)
	case why == "":
		why = "transient failure"
	}
	it.log.Info("answering RETRY: " + why)
	it.answer(Retry, why, "")
	if !p.savepoints {
		it.forcedRetry = true
		return errRerun
	}
	if err := tx.Rollback(ctx); err != nil {
		return fmt.Errorf("rollback to savepoint: %w", err)
	}
	return nil
}

// decide answers items[i]: nil, errRerun or a lost transaction.
func (p *pass) decide(ctx context.Context, i int) error {
	it := p.items[i]
	if j := p.earlierAnswer(i); j >= 0 {
		e := p.items[j]
		it.answer(e.outcome, e.reason, e.result)
		it.duplicate, it.origin = true, j
		return nil
	}
	if prior := p.rows.find(it.key(), it.action(), false); prior != nil {
		it.answer(prior.outcome, prior.reason, prior.result)
		it.duplicate = true
		return nil
	}
	s, reserveResult := p.seenBefore(i)
	d := decide(it.action(), s)
	if !d.handle {
		if d.anomaly {
			it.log.Warn("refused: " + d.reason)
		}
		it.answer(d.outcome, d.reason, d.result)
		it.recorded = true
		return nil
	}
	return p.runHandler(ctx, it, reserveResult)
}

// answers are the rows to write: per step and action, the recorded answer
// of the batch's command that gave one, or none (row removed) when every
// command of that step and action answered RETRY.
func (p *pass) answers() []answer {
	var out []answer
	for _, it := range p.items {
		if !it.takesPart() || it.duplicate {
			continue
		}
		k := -1
		for j := range out {
			if out[j].action == it.action() && out[j].key == it.key() {
				k = j
			}
		}
		if k < 0 {
			out = append(out, answer{key: it.key(), action: it.action()})
			k = len(out) - 1
		}
		if it.recorded {
			out[k].outcome, out[k].reason, out[k].result = it.outcome, it.reason, it.result
		}
	}
	return out
}

// adopt replaces each recorded result by the text PostgreSQL stored and
// copies the final answers into the batch's duplicates of them.
func (p *pass) adopt(stored rows) {
	for _, it := range p.items {
		if it.takesPart() && it.recorded {
			if r := stored.find(it.key(), it.action(), true); r != nil {
				it.result = r.result
			}
		}
	}
	for _, it := range p.items {
		if it.takesPart() && it.origin >= 0 {
			o := p.items[it.origin]
			it.answer(o.outcome, o.reason, o.result)
		}
	}
}

func (p *pass) reset() {
	for _, it := range p.items {
		if it.forcedRetry {
			continue
		}
		it.answer(0, "", "")
		it.recorded, it.duplicate, it.origin = false, false, -1
	}
}

// run is one pass over the batch: nil once committed, errRerun, or an
// error when nothing was committed.
func (p *pass) run(ctx context.Context) (err error) {
	p.reset()
	var cmds []*decoded
	for _, it := range p.items {
		if it.takesPart() {
			cmds = append(cmds, it.cmd)
		}
	}
	if len(cmds) == 0 {
		return nil
	}
	if p.tx, err = p.a.conn.Begin(ctx); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = p.tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if p.rows, err = p.a.barrier.claim(ctx, p.tx, cmds); err != nil {
		return err
	}
	for i, it := range p.items {
		if it.takesPart() {
			if err = p.decide(ctx, i); err != nil {
				return err
			}
		}
	}
	stored, err := p.a.barrier.record(ctx, p.tx, p.answers())
	if err != nil {
		return err
	}
	if err = p.tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	p.adopt(stored)
	return nil
}

// apply applies every valid command of items in one transaction and sets
// each one's answer. An error means nothing was committed: apply the same
// batch again later (after reconnecting), the barrier makes that safe.
func (a *applier) apply(ctx context.Context, items []*item) error {
	for _, it := range items {
		it.forcedRetry = false
	}
	p := &pass{a: a, items: items}
	err := p.run(ctx)
	if errors.Is(err, errRerun) {
		p.savepoints = true
		err = p.run(ctx)
	}
	return err
}
