# demo_flows.sh - the signal and sub-saga scenes of `make demo` (sourced by
# examples/demo.sh, whose helpers it uses: say, start_bg, wait_for, q,
# id_of, BIN, RUN). A large order waits for a fraud analyst's approval,
# which arrives; its shipping runs as a sub-saga. A second large order is
# approved too, but bob's card is declined after the shipment was booked:
# the shipping sub-saga compensates with its parent.

fulfil() { # key account amount
    "$BIN/sagactl" start order_fulfilment --key "$RUN-$1" --input \
        "{\"order_id\":\"$RUN-$1\",\"sku\":\"$RUN-widget\",\"qty\":1,\"account\":\"$2\",\"amount\":$3,\"address\":{\"street\":\"1 Quay\",\"city\":\"Ghent\"}}" \
        >/dev/null
}
awaiting_approval() {
    wait_for "SELECT st.status FROM saga_steps st JOIN sagas s ON s.id = st.saga_id
              WHERE s.idempotency_key = '$RUN-$1' AND st.name = 'approve_large_order'" RESERVING 30
}

say "5b. An approval arriving, and a sub-saga compensating with its parent"
"$ROOT/build/tools/shipping_worker" migrate >/dev/null
"$BIN/sagactl" def apply sagas/shipping.json sagas/order_fulfilment.json
start_bg shipping "$ROOT/build/tools/shipping_worker" run --http.listen 127.0.0.1:0
fulfil big1 "$RUN-alice" 250000
awaiting_approval big1
BIG=$(id_of big1)
echo "\$ sagactl show $BIG | grep waiting"
"$BIN/sagactl" show "$BIG" | grep "waiting for"
echo "\$ sagactl signal $BIG approve_large_order --approve --data '{\"approved_by\":\"carol\"}' --actor carol"
"$BIN/sagactl" signal "$BIG" approve_large_order --approve --data '{"approved_by":"carol"}' --actor carol
wait_for "SELECT status FROM sagas WHERE id = '$BIG'" COMPLETED 60
echo "\$ sagactl list --parent $BIG"
"$BIN/sagactl" list --parent "$BIG"

fulfil big2 "$RUN-bob" 250000
awaiting_approval big2
BIG2=$(id_of big2)
"$BIN/sagactl" signal "$BIG2" approve_large_order --approve --data '{"approved_by":"carol"}' --actor carol
wait_for "SELECT status FROM sagas WHERE id = '$BIG2'" COMPENSATED 60
CHILD=$(q "SELECT id FROM sagas WHERE parent_id = '$BIG2'")
wait_for "SELECT status FROM sagas WHERE id = '$CHILD'" COMPENSATED 60
echo "bob's card was declined after shipping was booked; the shipping sub-saga compensated with its parent:"
echo "\$ sagactl show $CHILD"
"$BIN/sagactl" show "$CHILD"
echo "\$ sagactl signal $BIG2 approve_large_order --approve   # too late: refused, recorded"
"$BIN/sagactl" signal "$BIG2" approve_large_order --approve || true
