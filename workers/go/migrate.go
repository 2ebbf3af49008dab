package sagaworker

// migrate.go - ordered migrations recorded exactly as engine/common/migrate.c
// records them (table saga_schema_migrations, the same advisory lock, the
// SHA-256 of the applied text), so the C and Go libraries see each other's
// migrations as applied and refuse the same edited ones.

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// barrierFiles is a byte-for-byte copy of schema/barrier/ (gen.sh).
//
//go:embed migrations/*.sql
var barrierFiles embed.FS

const createMigrations = "CREATE TABLE IF NOT EXISTS saga_schema_migrations (" +
	" component text NOT NULL," +
	" version integer NOT NULL," +
	" name text NOT NULL," +
	" sha256 text NOT NULL," +
	" applied_at timestamptz NOT NULL DEFAULT now()," +
	" PRIMARY KEY (component, version))"

// ErrMigrationChanged is wrapped by Migrate when an applied migration's
// text differs from the one given: never edit one, add a new one.
var ErrMigrationChanged = errors.New("migration changed after it was applied")

// Migrate applies the pending migrations of component on conn (not in a
// transaction), all in one transaction under an advisory lock, and returns
// how many it applied.
func Migrate(ctx context.Context, conn *pgx.Conn, component string, list []Migration) (applied int, err error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrate %s: %w", component, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	for _, q := range []string{"SET LOCAL client_min_messages = warning", createMigrations} {
		if _, err = tx.Exec(ctx, q); err != nil {
			return 0, fmt.Errorf("migrate %s: %w", component, err)
		}
	}
	if _, err = tx.Exec(ctx, "SELECT pg_advisory_xact_lock(7001, hashtext($1))", component); err != nil {
		return 0, fmt.Errorf("migrate %s: %w", component, err)
	}
	done, err := appliedChecksums(ctx, tx, component)
	if err != nil {
		return 0, err
	}
	maxApplied := 0
	for v := range done {
		maxApplied = max(maxApplied, v)
	}
	for _, m := range list {
		sum := checksum(m.SQL)
		if recorded, ok := done[m.Version]; ok && recorded != sum {
			return 0, fmt.Errorf("migration %s of %s: %w", m.Name, component, ErrMigrationChanged)
		}
		if m.Version <= maxApplied {
			continue
		}
		if _, err = tx.Exec(ctx, m.SQL); err != nil {
			return 0, fmt.Errorf("migration %s of %s failed: %w", m.Name, component, err)
		}
		if _, err = tx.Exec(ctx, "INSERT INTO saga_schema_migrations (component, version, name, sha256)"+
			" VALUES ($1, $2, $3, $4)", component, m.Version, m.Name, sum); err != nil {
			return 0, fmt.Errorf("migrate %s: %w", component, err)
		}
		applied++
	}
	if err = tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("migrate %s: %w", component, err)
	}
	return applied, nil
}

func appliedChecksums(ctx context.Context, tx pgx.Tx, component string) (map[int]string, error) {
	r, err := tx.Query(ctx, "SELECT version, sha256 FROM saga_schema_migrations"+
		" WHERE component = $1 ORDER BY version", component)
	if err != nil {
		return nil, fmt.Errorf("migrate %s: %w", component, err)
	}
	done := map[int]string{}
	var v int
	var sum string
	_, err = pgx.ForEachRow(r, []any{&v, &sum}, func() error {
		done[v] = sum
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("migrate %s: %w", component, err)
	}
	return done, nil
}

func checksum(sql string) string {
	h := sha256.Sum256([]byte(sql))
	return hex.EncodeToString(h[:])
}

// BarrierMigrations returns the barrier table's migrations for schema: the
// files of schema/barrier/ with :"schema" replaced by the quoted schema, as
// the C library applies them (component "barrier:<schema>").
func BarrierMigrations(schema string) ([]Migration, error) {
	names, err := barrierFiles.ReadDir("migrations")
	if err != nil {
		return nil, fmt.Errorf("barrier migrations: %w", err)
	}
	ident := pgx.Identifier{schema}.Sanitize()
	var list []Migration
	for _, e := range names {
		name := strings.TrimSuffix(e.Name(), ".sql")
		v, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("barrier migration %s: no version number", e.Name())
		}
		text, err := barrierFiles.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("barrier migrations: %w", err)
		}
		sql := string(text)
		if !strings.HasSuffix(sql, "\n") {
			sql += "\n" // embed-sql.sh ends every line with one
		}
		list = append(list, Migration{Version: v, Name: name,
			SQL: strings.ReplaceAll(sql, `:"schema"`, ident)})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Version < list[j].Version })
	return list, nil
}

// MigrateBarrier creates <schema>.barrier if it does not exist, recorded as
// component "barrier:<schema>" like the C library's saga_barrier_migrate.
func MigrateBarrier(ctx context.Context, conn *pgx.Conn, schema string) (int, error) {
	list, err := BarrierMigrations(schema)
	if err != nil {
		return 0, err
	}
	return Migrate(ctx, conn, "barrier:"+schema, list)
}
