-- 006_dlq_replays: which dead letters were re-published, when, by whom.
--
-- The letters themselves stay in Kafka (saga.dlq is their only copy); this
-- table holds only the fact that one was replayed, because that fact needs
-- what a topic cannot give: a check-and-set. Two operators replaying the
-- same letter at once both insert its key here; the primary key lets one
-- win and the other is refused, and the insert commits only after Kafka
-- acknowledged the re-published copy. A marker message on the DLQ topic
-- could record the replay but could not stop the second one.
CREATE TABLE saga_dlq_replays (
    dlq_topic        text        NOT NULL,
    dlq_partition    integer     NOT NULL,
    dlq_offset       bigint      NOT NULL,
    replayed_at      timestamptz NOT NULL DEFAULT now(),
    actor            text        NOT NULL,
    reason           text        NOT NULL DEFAULT '', -- the letter's dlq.reason
    target_topic     text        NOT NULL,            -- its original topic
    target_partition integer,                         -- where the copy landed
    target_offset    bigint,
    PRIMARY KEY (dlq_topic, dlq_partition, dlq_offset)
);
