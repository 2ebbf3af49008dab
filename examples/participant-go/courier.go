// courier.go - the courier handlers: a RESERVE books a place in a delivery
// slot, CONFIRM makes the booking final, COMPENSATE cancels it and frees the
// place. Each is one statement (a data-modifying CTE), so the slot count and
// the booking change together or not at all; the library's barrier has
// already answered duplicates and out-of-order commands before they run.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	sagaworker "sagad.local/workers/go"
)

// courier implements sagaworker.Handler.
type courier struct{}

// booking is the result of every action: sagad keeps it as the step's result.
type booking struct {
	BookingID string `json:"booking_id"`
	OrderID   string `json:"order_id"`
	Slot      string `json:"slot"`
	Status    string `json:"status"`
}

func (courier) Reserve(ctx context.Context, cmd *sagaworker.Command) (sagaworker.Result, error) {
	var p struct {
		OrderID string `json:"order_id"`
		Slot    string `json:"slot"`
	}
	if err := json.Unmarshal(cmd.Payload, &p); err != nil || p.OrderID == "" || p.Slot == "" {
		return sagaworker.Refuse(`invalid payload: "order_id" and "slot" must be non-empty strings`), nil
	}
	b := booking{OrderID: p.OrderID, Slot: p.Slot, Status: "booked"}
	err := cmd.Tx.QueryRow(ctx,
		`WITH s AS (UPDATE courier.slots SET booked = booked + 1, updated_at = now()
		             WHERE slot = $1 AND booked < capacity RETURNING slot)
		 INSERT INTO courier.bookings (idempotency_key, saga_id, order_id, slot)
		 SELECT $2, $3, $4, slot FROM s RETURNING id::text`,
		p.Slot, cmd.IdempotencyKey, cmd.SagaID, p.OrderID).Scan(&b.BookingID)
	if errors.Is(err, pgx.ErrNoRows) {
		return refuse(ctx, cmd.Tx, p.Slot)
	}
	if err != nil {
		return sagaworker.Result{}, fmt.Errorf("booking slot %q: %w", p.Slot, err)
	}
	return sagaworker.Done(b), nil
}

// refuse explains why nothing was booked: unknown slot, or a full one.
func refuse(ctx context.Context, tx pgx.Tx, slot string) (sagaworker.Result, error) {
	var capacity int
	err := tx.QueryRow(ctx, "SELECT capacity FROM courier.slots WHERE slot = $1", slot).Scan(&capacity)
	if errors.Is(err, pgx.ErrNoRows) {
		return sagaworker.Refuse("unknown slot %q", slot), nil
	}
	if err != nil {
		return sagaworker.Result{}, fmt.Errorf("reading slot %q: %w", slot, err)
	}
	return sagaworker.Refuse("slot %q is full (%d places)", slot, capacity), nil
}

// settle moves the step's booking from booked to status; frees its place
// when cancelling.
func settle(ctx context.Context, cmd *sagaworker.Command, status string) (sagaworker.Result, error) {
	b := booking{Status: status}
	err := cmd.Tx.QueryRow(ctx,
		`WITH b AS (UPDATE courier.bookings SET status = $2, settled_at = now()
		             WHERE idempotency_key = $1 AND status = 'booked'
		             RETURNING id, order_id, slot),
		      s AS (UPDATE courier.slots s SET booked = s.booked - 1, updated_at = now()
		             FROM b WHERE $2 = 'cancelled' AND s.slot = b.slot)
		 SELECT id::text, order_id, slot FROM b`,
		cmd.IdempotencyKey, status).Scan(&b.BookingID, &b.OrderID, &b.Slot)
	if errors.Is(err, pgx.ErrNoRows) {
		return sagaworker.Refuse("no open booking for this step"), nil
	}
	if err != nil {
		return sagaworker.Result{}, fmt.Errorf("settling the booking: %w", err)
	}
	return sagaworker.Done(b), nil
}

func (courier) Confirm(ctx context.Context, cmd *sagaworker.Command) (sagaworker.Result, error) {
	return settle(ctx, cmd, "confirmed")
}

func (courier) Compensate(ctx context.Context, cmd *sagaworker.Command) (sagaworker.Result, error) {
	return settle(ctx, cmd, "cancelled")
}
