package sagaworker

import (
	"errors"
	"log/slog"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Topic names shared with sagad and the C library (engine/common/topics.h).
const (
	DefaultReplyTopic = "saga.replies"
	DefaultDLQTopic   = "saga.dlq"
)

// Migration is one versioned SQL file of a participant's own schema,
// applied once and recorded in saga_schema_migrations like the C library's.
type Migration struct {
	Version int    // NNN of the file name, strictly increasing
	Name    string // file name without extension: "001_courier"
	SQL     string // the file's text; never edit it once applied
}

// Config is everything Run needs. NewConfig fills the defaults.
type Config struct {
	Participant string // "shipping": names the topic, group and schema
	Schema      string // PostgreSQL schema holding <schema>.barrier
	PGDSN       string // libpq-style DSN or URL
	Brokers     []string
	Topic       string // default saga.<participant>.commands
	Group       string // default saga.<participant>
	DLQTopic    string // default saga.dlq
	Partitions  int32  // of the topics when created; 4
	Replication int16  // of the topics when created; -1: the broker's default
	BatchMax    int    // commands per transaction; 128
	// MaxMessageBytes: larger commands are dead-lettered; 1 MiB.
	MaxMessageBytes int
	// Migrations of the participant's own tables, applied before the
	// barrier's, recorded as component Participant.
	Migrations []Migration
	// Logger receives one line per command and the library's events;
	// slog.Default() when nil.
	Logger *slog.Logger
	// KafkaOpts are appended to the library's client options (TLS, SASL...);
	// they may not turn off what correctness needs (see Run).
	KafkaOpts []kgo.Opt
}

// NewConfig returns the defaults for participant: topic, group and schema
// named after it, limits as the C library's, DSN and brokers from
// SAGA_PG_DSN and SAGA_KAFKA_BROKERS (comma separated).
func NewConfig(participant string) Config {
	c := Config{
		Participant:     participant,
		Schema:          participant,
		PGDSN:           os.Getenv("SAGA_PG_DSN"),
		Topic:           "saga." + participant + ".commands",
		Group:           "saga." + participant,
		DLQTopic:        DefaultDLQTopic,
		Partitions:      4,
		Replication:     -1,
		BatchMax:        128,
		MaxMessageBytes: 1 << 20,
	}
	for _, b := range strings.Split(os.Getenv("SAGA_KAFKA_BROKERS"), ",") {
		if b = strings.TrimSpace(b); b != "" {
			c.Brokers = append(c.Brokers, b)
		}
	}
	return c
}

func (c *Config) check() error {
	switch {
	case c.Participant == "" || c.Schema == "":
		return errors.New("sagaworker: no participant name")
	case c.PGDSN == "":
		return errors.New("sagaworker: no PostgreSQL DSN (set SAGA_PG_DSN)")
	case len(c.Brokers) == 0:
		return errors.New("sagaworker: no Kafka brokers (set SAGA_KAFKA_BROKERS)")
	case c.Topic == "" || c.Group == "":
		return errors.New("sagaworker: no command topic or consumer group")
	case c.BatchMax < 1 || c.Partitions < 1:
		return errors.New("sagaworker: BatchMax and Partitions must be >= 1")
	}
	if c.DLQTopic == "" {
		c.DLQTopic = DefaultDLQTopic
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}
