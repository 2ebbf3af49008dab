// Package sagaworker is the Go participant library of sagad: everything a
// saga participant needs except its business logic, with the same contract
// as the C library (workers/worker.h, docs/participants.md).
//
// A participant implements Handler (RESERVE, CONFIRM, COMPENSATE), each
// method changing only its own PostgreSQL tables through Command.Tx. Run
// consumes the participant's command topic in a consumer group, runs the
// idempotency barrier in the same transaction as the handler's change (the
// very table the C library uses, so a participant can move between
// languages), answers on the command's reply topic, dead-letters what
// cannot be decoded and marks Kafka offsets for commit only once the
// answers are durable. Commands are applied in batches: one transaction per
// batch, a failing handler rolled back alone.
//
// A minimal participant:
//
//	cfg := sagaworker.NewConfig("shipping")
//	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
//	defer stop()
//	if err := sagaworker.Run(ctx, cfg, myHandler{}); err != nil { ... }
package sagaworker

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Action is what sagad asks of a participant; the values are saga.proto's.
type Action int32

// The three actions of a step.
const (
	Reserve    Action = 1 // make the tentative change
	Confirm    Action = 2 // make it final
	Compensate Action = 3 // undo it
)

// String returns "RESERVE", "CONFIRM", "COMPENSATE" or "UNKNOWN", the names
// the barrier table stores.
func (a Action) String() string {
	switch a {
	case Reserve:
		return "RESERVE"
	case Confirm:
		return "CONFIRM"
	case Compensate:
		return "COMPENSATE"
	}
	return "UNKNOWN"
}

// Outcome is a participant's answer; the values are saga.proto's.
type Outcome int32

// The three answers.
const (
	OK       Outcome = 1 // done; the result goes back in the reply
	Rejected Outcome = 2 // business refusal: recorded and final
	Retry    Outcome = 3 // transient: rolled back, not recorded
)

// String returns "OK", "REJECTED", "RETRY" or "UNKNOWN".
func (o Outcome) String() string {
	switch o {
	case OK:
		return "OK"
	case Rejected:
		return "REJECTED"
	case Retry:
		return "RETRY"
	}
	return "UNKNOWN"
}

// Command is one command as a handler sees it. It is valid only during the
// handler call.
type Command struct {
	Action         Action
	SagaID         string
	SagaName       string
	SagaVersion    int32
	Step           string
	Name           string // the spec's command name ("hold_funds"), "" when none
	Attempt        int32
	IdempotencyKey string // "<saga_id>/<step>", the same for the three actions
	Deadline       time.Time
	Traceparent    string
	// Payload is always a JSON object ({} when the command carried none).
	Payload json.RawMessage
	// ReserveResult is, for CONFIRM and COMPENSATE, the result recorded for
	// this step's RESERVE, or nil when it had none.
	ReserveResult json.RawMessage
	// Tx is the batch's open transaction (a savepoint of it when a handler
	// of the batch failed). Never commit or roll it back.
	Tx pgx.Tx
}

// Result is a handler's answer. Payload, for OK only, is marshalled to a
// JSON object, recorded and sent back; sagad exposes it to later steps.
type Result struct {
	Outcome Outcome
	Reason  string
	Payload any
}

// Done is an OK answer carrying payload (may be nil).
func Done(payload any) Result { return Result{Outcome: OK, Payload: payload} }

// Refuse is a REJECTED answer with a reason built like fmt.Sprintf.
func Refuse(format string, args ...any) Result {
	return Result{Outcome: Rejected, Reason: fmt.Sprintf(format, args...)}
}

// Handler is a participant's business logic. A method returning an error
// (or a Result with Outcome Retry) is answered RETRY with the error's text
// and its changes are rolled back. A method may be called again for the
// same command in a transaction that was rolled back, so it must change
// nothing outside the database.
//
// The barrier has answered duplicates and refused out-of-order commands
// before a method is called: Confirm and Compensate only run after a
// successful Reserve of the same step, and never both. Find rows by
// Command.IdempotencyKey, not by ids in the payload.
type Handler interface {
	Reserve(ctx context.Context, cmd *Command) (Result, error)
	Confirm(ctx context.Context, cmd *Command) (Result, error)
	Compensate(ctx context.Context, cmd *Command) (Result, error)
}
