// Command courier-worker is a saga participant in Go, built on the
// sagaworker library (workers/go): it books places in courier delivery
// slots for the "book_courier" step of sagas/order_courier.json.
//
//	courier-worker [run]                  consume saga.courier.commands until SIGTERM
//	courier-worker migrate                create schema courier (slots, bookings, barrier)
//	courier-worker seed SLOT CAPACITY ... set the capacity of delivery slots
//
// Configuration comes from SAGA_PG_DSN and SAGA_KAFKA_BROKERS, as for the C
// workers.
package main

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"

	sagaworker "sagad.local/workers/go"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrations reads migrations/NNN_name.sql in order.
func migrations() ([]sagaworker.Migration, error) {
	entries, err := migrationFiles.ReadDir("migrations")
	if err != nil {
		return nil, err
	}
	var list []sagaworker.Migration
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".sql")
		v, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migration %s: no version number", e.Name())
		}
		text, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		list = append(list, sagaworker.Migration{Version: v, Name: name, SQL: string(text)})
	}
	return list, nil
}

// migrate applies the courier's migrations, then the barrier's, on conn.
func migrate(ctx context.Context, conn *pgx.Conn, list []sagaworker.Migration) error {
	if _, err := sagaworker.Migrate(ctx, conn, "courier", list); err != nil {
		return err
	}
	_, err := sagaworker.MigrateBarrier(ctx, conn, "courier")
	return err
}

// seed sets each SLOT's capacity (pairs of arguments); a capacity below
// the places already booked is refused by the table's check.
func seed(ctx context.Context, conn *pgx.Conn, args []string) error {
	if len(args) == 0 || len(args)%2 != 0 {
		return errors.New("usage: courier-worker seed SLOT CAPACITY [SLOT CAPACITY ...]")
	}
	for i := 0; i < len(args); i += 2 {
		n, err := strconv.Atoi(args[i+1])
		if err != nil || n < 0 {
			return fmt.Errorf("capacity of %s: %q is not a number >= 0", args[i], args[i+1])
		}
		if _, err := conn.Exec(ctx, `INSERT INTO courier.slots (slot, capacity) VALUES ($1, $2)
			ON CONFLICT (slot) DO UPDATE SET capacity = $2, updated_at = now()`, args[i], n); err != nil {
			return fmt.Errorf("seeding slot %s: %w", args[i], err)
		}
	}
	return nil
}

// admin runs a subcommand that needs only the database.
func admin(ctx context.Context, cfg sagaworker.Config, sub string, args []string) error {
	conn, err := pgx.Connect(ctx, cfg.PGDSN)
	if err != nil {
		return fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := migrate(ctx, conn, cfg.Migrations); err != nil {
		return err
	}
	if sub == "seed" {
		return seed(ctx, conn, args)
	}
	return nil
}

func run(args []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	cfg := sagaworker.NewConfig("courier")
	list, err := migrations()
	if err != nil {
		return err
	}
	cfg.Migrations = list
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	sub := "run"
	if len(args) > 0 {
		sub = args[0]
	}
	switch sub {
	case "run":
		return sagaworker.Run(ctx, cfg, courier{})
	case "migrate", "seed":
		return admin(ctx, cfg, sub, args[1:])
	}
	return fmt.Errorf("unknown subcommand %q (run, migrate, seed)", sub)
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "courier-worker: error:", err)
		os.Exit(2)
	}
}
