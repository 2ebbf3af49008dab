package sagaworker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	"sagad.local/workers/go/sagapb"
)

// These tests run against the stack's real PostgreSQL (SAGA_PG_DSN) and,
// for Run, Kafka (SAGA_KAFKA_BROKERS), as `make test` provides them; each
// uses a schema and topics of its own and removes them.

func pgDSN(t *testing.T) string {
	dsn := os.Getenv("SAGA_PG_DSN")
	if dsn == "" {
		t.Skip("SAGA_PG_DSN not set: start the stack (sh tests/stack/stack.sh up)")
	}
	return dsn
}

func suffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func connect(t *testing.T, ctx context.Context, dsn string) *pgx.Conn {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// testSchema creates nothing but names a schema and removes it, and its
// migration records, when the test ends.
func testSchema(t *testing.T, ctx context.Context, conn *pgx.Conn) string {
	schema := "gotest_" + suffix()
	t.Cleanup(func() {
		c := context.Background()
		_, _ = conn.Exec(c, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
		_, _ = conn.Exec(c, "DELETE FROM saga_schema_migrations WHERE component IN ($1, $2)", schema, "barrier:"+schema)
	})
	return schema
}

// effects is a handler recording what it did in <schema>.effects; a qty of
// 0 is refused, 13 fails transiently (after writing, to prove the rollback).
type effects struct{ schema string }

func (e effects) migrations() []Migration {
	s := pgx.Identifier{e.schema}.Sanitize()
	return []Migration{{Version: 1, Name: "001_effects", SQL: "CREATE SCHEMA IF NOT EXISTS " + s + ";" +
		" CREATE TABLE " + s + ".effects (key text PRIMARY KEY, status text NOT NULL, n bigserial);"}}
}

func (e effects) Reserve(ctx context.Context, cmd *Command) (Result, error) {
	var p struct {
		Qty int `json:"qty"`
	}
	if err := json.Unmarshal(cmd.Payload, &p); err != nil || p.Qty < 1 {
		return Refuse("invalid payload: qty must be >= 1"), nil
	}
	var n int64
	err := cmd.Tx.QueryRow(ctx, "INSERT INTO "+pgx.Identifier{e.schema}.Sanitize()+
		".effects (key, status) VALUES ($1, 'reserved') RETURNING n", cmd.IdempotencyKey).Scan(&n)
	if err != nil {
		return Result{}, fmt.Errorf("insert: %w", err)
	}
	if p.Qty == 13 {
		return Result{}, errors.New("unlucky")
	}
	return Done(map[string]any{"n": n}), nil
}

func (e effects) settle(ctx context.Context, cmd *Command, status string) (Result, error) {
	tag, err := cmd.Tx.Exec(ctx, "UPDATE "+pgx.Identifier{e.schema}.Sanitize()+
		".effects SET status = $2 WHERE key = $1 AND status = 'reserved'", cmd.IdempotencyKey, status)
	if err != nil {
		return Result{}, fmt.Errorf("update: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return Refuse("no open reservation"), nil
	}
	return Done(map[string]any{"status": status, "reserve": cmd.ReserveResult}), nil
}

func (e effects) Confirm(ctx context.Context, cmd *Command) (Result, error) {
	return e.settle(ctx, cmd, "confirmed")
}

func (e effects) Compensate(ctx context.Context, cmd *Command) (Result, error) {
	return e.settle(ctx, cmd, "released")
}

func commandBytes(saga string, a Action, attempt int32, payload, replyTopic string) []byte {
	b, err := proto.Marshal(&sagapb.Command{SagaId: saga, SagaName: "gotest", Step: "step",
		Action: sagapb.Action(a), Attempt: attempt, IdempotencyKey: saga + "/step",
		Payload: []byte(payload), ReplyTopic: replyTopic, Traceparent: "00-" + saga + "-01"})
	if err != nil {
		panic(err)
	}
	return b
}

// batchItem builds an item the way the loop does, from the wire bytes.
func batchItem(t *testing.T, saga string, a Action, attempt int32, payload string) *item {
	d, err := decodeCommand(commandBytes(saga, a, attempt, payload, ""), 0)
	if err != nil {
		t.Fatal(err)
	}
	return &item{cmd: d, origin: -1, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}
