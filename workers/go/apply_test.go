package sagaworker

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestMigrateRecordsAndRefusesEdits(t *testing.T) {
	ctx := testCtx(t)
	conn := connect(t, ctx, pgDSN(t))
	schema := testSchema(t, ctx, conn)
	for want := 1; want >= 0; want-- {
		n, err := MigrateBarrier(ctx, conn, schema)
		if err != nil || n != want {
			t.Fatalf("MigrateBarrier: applied %d, %v; want %d", n, err, want)
		}
	}
	list, _ := BarrierMigrations(schema)
	list[0].SQL += "-- edited\n"
	if _, err := Migrate(ctx, conn, "barrier:"+schema, list); err == nil || !strings.Contains(err.Error(), "changed") {
		t.Fatalf("an edited migration was not refused: %v", err)
	}
}

// TestBarrierSharedWithC: the C library migrates the inventory barrier of a
// fresh database; the Go library must find it applied (same component,
// same checksum) and use the table as it is.
func TestBarrierSharedWithC(t *testing.T) {
	ctx := testCtx(t)
	dsn := pgDSN(t)
	bin := os.Getenv("SAGA_BIN")
	if bin == "" {
		bin = "../../build/bin"
	}
	worker, _ := filepath.Abs(filepath.Join(bin, "inventory-worker"))
	if _, err := os.Stat(worker); err != nil {
		t.Skipf("%s not built (make)", worker)
	}
	admin := connect(t, ctx, dsn)
	db := "gotest_" + suffix()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)") })
	cmd := exec.CommandContext(ctx, worker, "migrate")
	cmd.Env = append(os.Environ(), "SAGA_PG_DSN="+dsn+" dbname="+db)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("inventory-worker migrate: %v\n%s", err, out)
	}
	conn := connect(t, ctx, dsn+" dbname="+db)
	n, err := MigrateBarrier(ctx, conn, "inventory")
	if err != nil || n != 0 {
		t.Fatalf("after the C library: MigrateBarrier applied %d, %v; want 0, nil", n, err)
	}
	if _, err := openBarrier(ctx, conn, "inventory"); err != nil {
		t.Fatal(err)
	}
}

func setup(t *testing.T) (*applier, effects) {
	ctx := testCtx(t)
	conn := connect(t, ctx, pgDSN(t))
	h := effects{schema: testSchema(t, ctx, conn)}
	if _, err := Migrate(ctx, conn, h.schema, h.migrations()); err != nil {
		t.Fatal(err)
	}
	if _, err := MigrateBarrier(ctx, conn, h.schema); err != nil {
		t.Fatal(err)
	}
	b, err := openBarrier(ctx, conn, h.schema)
	if err != nil {
		t.Fatal(err)
	}
	return &applier{conn: conn, barrier: b, h: h}, h
}

type want struct {
	outcome Outcome
	reason  string // prefix
	result  string // exact, "*" for any non-empty
}

func check(t *testing.T, items []*item, wants []want) {
	t.Helper()
	for i, w := range wants {
		it := items[i]
		ok := it.outcome == w.outcome && strings.HasPrefix(it.reason, w.reason) &&
			(w.result == it.result || (w.result == "*" && it.result != ""))
		if !ok {
			t.Errorf("item %d (%s %v): got %v %q %q, want %v %q %q", i, it.cmd.pb.SagaId, it.action(),
				it.outcome, it.reason, it.result, w.outcome, w.reason, w.result)
		}
	}
}

// TestApplyBatchRules applies the barrier's rules inside one batch and
// across batches, with a handler failing alone in the middle.
func TestApplyBatchRules(t *testing.T) {
	ctx := testCtx(t)
	a, h := setup(t)
	first := []*item{
		batchItem(t, "s1", Reserve, 1, `{"qty":1}`),
		batchItem(t, "s1", Reserve, 1, `{"qty":1}`),  // duplicate in the batch
		batchItem(t, "s2", Compensate, 1, ``),        // empty compensation
		batchItem(t, "s2", Reserve, 1, `{"qty":1}`),  // hanging reserve
		batchItem(t, "s3", Reserve, 1, `{"qty":13}`), // fails: rolled back alone
		batchItem(t, "s4", Reserve, 1, `{"qty":0}`),  // refused
		batchItem(t, "s5", Reserve, 1, `{"qty":2}`),
	}
	if err := a.apply(ctx, first); err != nil {
		t.Fatal(err)
	}
	check(t, first, []want{
		{OK, "", "*"}, {OK, "", first[0].result}, {OK, "", resultEmpty[:8] + ` "empty compensation"}`},
		{Rejected, reasonHanging, ""}, {Retry, "unlucky", ""}, {Rejected, "invalid payload", ""}, {OK, "", "*"},
	})
	second := []*item{
		batchItem(t, "s1", Reserve, 2, `{"qty":1}`), // later attempt: the recorded answer
		batchItem(t, "s1", Confirm, 1, ``),
		batchItem(t, "s1", Confirm, 2, ``),
		batchItem(t, "s1", Compensate, 1, ``),
		batchItem(t, "s3", Reserve, 2, `{"qty":1}`), // the RETRY was not recorded
		batchItem(t, "s5", Compensate, 1, ``),
		batchItem(t, "s5", Confirm, 1, ``),
		batchItem(t, "s4", Compensate, 1, ``),
	}
	if err := a.apply(ctx, second); err != nil {
		t.Fatal(err)
	}
	check(t, second, []want{
		{OK, "", first[0].result}, {OK, "", "*"}, {OK, "", second[1].result}, {Rejected, reasonConfirmed, ""},
		{OK, "", "*"}, {OK, "", "*"}, {Rejected, reasonCompensated, ""}, {OK, "", resultNoop[:8] + ` "reserve was rejected"}`},
	})
	if !strings.Contains(second[1].result, first[0].result) {
		t.Errorf("CONFIRM did not see the RESERVE result %s: %s", first[0].result, second[1].result)
	}
	var rowsN int
	var statuses string
	err := a.conn.QueryRow(ctx, "SELECT count(*), string_agg(key || '=' || status, ',' ORDER BY key) FROM "+
		h.schema+".effects").Scan(&rowsN, &statuses)
	if err != nil {
		t.Fatal(err)
	}
	if statuses != "s1/step=confirmed,s3/step=reserved,s5/step=released" {
		t.Errorf("effects: %s", statuses)
	}
}
