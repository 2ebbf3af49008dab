package sagaworker

// barrier.go - the participant barrier, the same rules and the same table
// as workers/barrier.c (docs/participants.md, "The barrier").
//
// The SQL is the C library's, statement for statement: one claim for a
// whole batch (insert every command's row, return what the steps recorded
// before), one record of every answer at the end. Batches travel as one
// JSON parameter (jsonb_to_recordset). Keeping the statements identical is
// what lets a Go and a C instance of one participant share the table, even
// at the same time during a migration from one language to the other.

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Exact reasons and results written by the barrier (workers/barrier.h).
const (
	reasonHanging          = "hanging reserve: step already compensated"
	reasonLate             = "late reserve: step already confirmed"
	reasonCompensated      = "already compensated"
	reasonConfirmed        = "already confirmed"
	reasonNothingToConfirm = "nothing to confirm: no successful reserve for this step"
	resultEmpty            = `{"noop":"empty compensation"}`
	resultNoop             = `{"noop":"reserve was rejected"}`
)

// seen holds the outcome recorded per action for one step; 0: no row.
type seen [4]Outcome

// decision says whether the handler runs, and if not what is recorded.
type decision struct {
	handle  bool
	outcome Outcome
	reason  string
	result  string
	anomaly bool // out of order: worth a warning
}

// decide applies rules 2 to 4 to a command whose own (key, action) has no
// answer yet (rule 1, the duplicate, is answered from the row before).
func decide(a Action, s seen) decision {
	refuse := func(reason string) decision {
		return decision{outcome: Rejected, reason: reason, anomaly: true}
	}
	switch a {
	case Reserve:
		if s[Compensate] != 0 {
			return refuse(reasonHanging)
		}
		if s[Confirm] != 0 {
			return refuse(reasonLate)
		}
	case Confirm:
		if s[Compensate] == OK {
			return refuse(reasonCompensated)
		}
		if s[Reserve] != OK {
			return refuse(reasonNothingToConfirm)
		}
	case Compensate:
		if s[Confirm] == OK {
			return refuse(reasonConfirmed)
		}
		if s[Reserve] == 0 {
			return decision{outcome: OK, result: resultEmpty}
		}
		if s[Reserve] == Rejected {
			return decision{outcome: OK, result: resultNoop}
		}
	}
	return decision{handle: true}
}

// barrier holds the statements for one <schema>.barrier.
type barrier struct {
	claimSQL, rereadSQL, recordSQL string
}

// row is one barrier row as read back.
type row struct {
	key     string
	action  Action
	outcome Outcome // 0 for a row claimed now
	reason  string
	result  string // JSON text, "" when none
	mine    bool   // inserted by this transaction's claim
}

// rows is what one statement returned.
type rows []row

// find returns the row for (key, action) that is (mine) or is not (!mine)
// this transaction's claim, or nil.
func (rs rows) find(key string, a Action, mine bool) *row {
	for i := range rs {
		if rs[i].action == a && rs[i].mine == mine && rs[i].key == key {
			return &rs[i]
		}
	}
	return nil
}

// openBarrier builds the statements for schema and checks the table exists.
func openBarrier(ctx context.Context, conn *pgx.Conn, schema string) (*barrier, error) {
	ident := pgx.Identifier{schema}.Sanitize()
	b := &barrier{
		claimSQL: fmt.Sprintf("WITH input AS (SELECT * FROM jsonb_to_recordset($1::jsonb)"+
			"  AS t(k text, a text, s text, st text, n integer)),"+
			" ins AS (INSERT INTO %[1]s.barrier (idempotency_key, action, saga_id, step, attempt)"+
			"  SELECT k, a, s, st, n FROM input ORDER BY k, a"+
			"  ON CONFLICT DO NOTHING RETURNING idempotency_key, action)"+
			" SELECT idempotency_key, action, outcome, reason, result::text, false"+
			"  FROM %[1]s.barrier WHERE idempotency_key = ANY(ARRAY(SELECT k FROM input))"+
			" UNION ALL SELECT idempotency_key, action, NULL, NULL, NULL, true FROM ins", ident),
		rereadSQL: fmt.Sprintf("SELECT idempotency_key, action, outcome, reason, result::text, false"+
			" FROM %[1]s.barrier WHERE idempotency_key IN"+
			" (SELECT jsonb_array_elements_text($1::jsonb))", ident),
		recordSQL: fmt.Sprintf("WITH input AS (SELECT * FROM jsonb_to_recordset($1::jsonb)"+
			"  AS t(k text, a text, o text, r text, res jsonb)),"+
			" unclaim AS (DELETE FROM %[1]s.barrier b USING input i"+
			"  WHERE i.o IS NULL AND b.idempotency_key = i.k AND b.action = i.a)"+
			" UPDATE %[1]s.barrier b SET outcome = i.o, reason = i.r, result = i.res"+
			" FROM input i WHERE i.o IS NOT NULL AND b.idempotency_key = i.k AND b.action = i.a"+
			"  AND b.idempotency_key = ANY(ARRAY(SELECT k FROM input))"+
			" RETURNING b.idempotency_key, b.action, b.outcome, b.reason, b.result::text, true", ident),
	}
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", ident+".barrier").Scan(&exists); err != nil {
		return nil, fmt.Errorf("barrier: %w", err)
	}
	if !exists {
		return nil, fmt.Errorf("barrier table %s.barrier does not exist (MigrateBarrier creates it)", schema)
	}
	return b, nil
}

func parseAction(s string) Action {
	for a := Reserve; a <= Compensate; a++ {
		if a.String() == s {
			return a
		}
	}
	return 0
}

func parseOutcome(s string) Outcome {
	switch s {
	case "OK":
		return OK
	case "REJECTED":
		return Rejected
	}
	return 0
}

// query runs one barrier statement with its JSON parameter and reads the
// rows (key, action, outcome, reason, result, mine).
func query(ctx context.Context, tx pgx.Tx, sql string, param any) (rows, error) {
	text, err := json.Marshal(param)
	if err != nil {
		return nil, fmt.Errorf("barrier: %w", err)
	}
	r, err := tx.Query(ctx, sql, string(text))
	if err != nil {
		return nil, fmt.Errorf("barrier: %w", err)
	}
	defer r.Close()
	var out rows
	for r.Next() {
		var key, action string
		var outcome, reason, result *string
		var mine bool
		if err := r.Scan(&key, &action, &outcome, &reason, &result, &mine); err != nil {
			return nil, fmt.Errorf("barrier: %w", err)
		}
		rw := row{key: key, action: parseAction(action), mine: mine}
		if rw.action == 0 {
			continue
		}
		if outcome != nil {
			rw.outcome = parseOutcome(*outcome)
		}
		if reason != nil {
			rw.reason = *reason
		}
		if result != nil {
			rw.result = *result
		}
		out = append(out, rw)
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("barrier: %w", err)
	}
	return out, nil
}

// claim claims a row for each command and reads every row recorded before
// for their keys. A (key, action) another transaction claimed concurrently
// is waited for by PostgreSQL, then read again in a fresh snapshot.
func (b *barrier) claim(ctx context.Context, tx pgx.Tx, cmds []*decoded) (rows, error) {
	type in struct {
		K  string `json:"k"`
		A  string `json:"a"`
		S  string `json:"s"`
		St string `json:"st"`
		N  int32  `json:"n"`
	}
	input := make([]in, 0, len(cmds))
	for _, c := range cmds {
		input = append(input, in{c.pb.IdempotencyKey, Action(c.pb.Action).String(), c.pb.SagaId, c.pb.Step, c.pb.Attempt})
	}
	out, err := query(ctx, tx, b.claimSQL, input)
	if err != nil {
		return nil, err
	}
	return b.rereadLost(ctx, tx, cmds, out)
}

func (b *barrier) rereadLost(ctx context.Context, tx pgx.Tx, cmds []*decoded, out rows) (rows, error) {
	missing := func(c *decoded) bool {
		a := Action(c.pb.Action)
		return out.find(c.pb.IdempotencyKey, a, true) == nil && out.find(c.pb.IdempotencyKey, a, false) == nil
	}
	var keys []string
	for _, c := range cmds {
		if missing(c) {
			keys = append(keys, c.pb.IdempotencyKey)
		}
	}
	if len(keys) == 0 {
		return out, nil
	}
	again, err := query(ctx, tx, b.rereadSQL, keys)
	if err != nil {
		return nil, err
	}
	// The earlier snapshot's rows of these keys are superseded.
	for i := range out {
		for _, r := range again {
			if !out[i].mine && out[i].key == r.key {
				out[i].action = 0
			}
		}
	}
	out = append(out, again...)
	for _, c := range cmds {
		if missing(c) {
			return nil, fmt.Errorf("barrier: row %s/%s neither claimed nor recorded",
				c.pb.IdempotencyKey, Action(c.pb.Action))
		}
	}
	return out, nil
}

// answer is one row to write: outcome 0 removes the claimed row (RETRY).
type answer struct {
	key     string
	action  Action
	outcome Outcome
	reason  string
	result  string // JSON text or ""
}

// record writes the answers into the claimed rows and returns them as
// PostgreSQL stored them (their result text is canonical, so every later
// duplicate's reply is byte-identical to the first).
func (b *barrier) record(ctx context.Context, tx pgx.Tx, answers []answer) (rows, error) {
	input := make([]map[string]any, 0, len(answers))
	for _, a := range answers {
		m := map[string]any{"k": a.key, "a": a.action.String()}
		if a.outcome != 0 {
			m["o"] = a.outcome.String()
			m["r"] = a.reason
			if a.result != "" && json.Valid([]byte(a.result)) {
				m["res"] = json.RawMessage(a.result)
			}
		}
		input = append(input, m)
	}
	return query(ctx, tx, b.recordSQL, input)
}
