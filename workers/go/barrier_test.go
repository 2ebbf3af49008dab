package sagaworker

import "testing"

// TestDecideTable checks every row of the decision table in
// docs/participants.md, as tests/unit/test_worker_barrier.c does for C.
func TestDecideTable(t *testing.T) {
	handle := decision{handle: true}
	cases := []struct {
		name   string
		action Action
		seen   seen
		want   decision
	}{
		{"reserve first", Reserve, seen{}, handle},
		{"reserve after compensate", Reserve, seen{Compensate: OK}, decision{outcome: Rejected, reason: reasonHanging, anomaly: true}},
		{"reserve after rejected compensate", Reserve, seen{Compensate: Rejected}, decision{outcome: Rejected, reason: reasonHanging, anomaly: true}},
		{"reserve after confirm", Reserve, seen{Confirm: Rejected}, decision{outcome: Rejected, reason: reasonLate, anomaly: true}},
		{"confirm after reserve", Confirm, seen{Reserve: OK}, handle},
		{"confirm after compensate", Confirm, seen{Reserve: OK, Compensate: OK}, decision{outcome: Rejected, reason: reasonCompensated, anomaly: true}},
		{"confirm without reserve", Confirm, seen{}, decision{outcome: Rejected, reason: reasonNothingToConfirm, anomaly: true}},
		{"confirm after rejected reserve", Confirm, seen{Reserve: Rejected}, decision{outcome: Rejected, reason: reasonNothingToConfirm, anomaly: true}},
		{"compensate after reserve", Compensate, seen{Reserve: OK}, handle},
		{"compensate after confirm", Compensate, seen{Reserve: OK, Confirm: OK}, decision{outcome: Rejected, reason: reasonConfirmed, anomaly: true}},
		{"empty compensation", Compensate, seen{}, decision{outcome: OK, result: resultEmpty}},
		{"compensate after rejected reserve", Compensate, seen{Reserve: Rejected}, decision{outcome: OK, result: resultNoop}},
	}
	for _, c := range cases {
		if got := decide(c.action, c.seen); got != c.want {
			t.Errorf("%s: decide(%v, %v) = %+v, want %+v", c.name, c.action, c.seen, got, c.want)
		}
	}
}

// TestNeverBothConfirmedAndCompensated runs every order of the three actions
// through the rules: no order may leave a step both confirmed and
// compensated.
func TestNeverBothConfirmedAndCompensated(t *testing.T) {
	orders := [][]Action{
		{Reserve, Confirm, Compensate}, {Reserve, Compensate, Confirm},
		{Confirm, Reserve, Compensate}, {Confirm, Compensate, Reserve},
		{Compensate, Reserve, Confirm}, {Compensate, Confirm, Reserve},
	}
	for _, order := range orders {
		var s seen
		for _, a := range order {
			d := decide(a, s)
			if d.handle {
				d.outcome = OK // the handler succeeds
			}
			s[a] = d.outcome
		}
		if s[Confirm] == OK && s[Compensate] == OK {
			t.Errorf("order %v: both confirmed and compensated", order)
		}
	}
}
