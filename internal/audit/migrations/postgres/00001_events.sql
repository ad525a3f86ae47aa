-- The audit trail: one row per change made through the portal. Never a
-- secret or a token.
-- +goose Up
CREATE TABLE audit_event (
    id          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL,
    action      TEXT    NOT NULL,
    actor_id    BIGINT  NOT NULL,
    username    TEXT    NOT NULL,
    key_id      BIGINT  NOT NULL,
    kind        TEXT    NOT NULL,
    owner       TEXT    NOT NULL,
    fleet       TEXT    NOT NULL,
    key_name    TEXT    NOT NULL,
    changes     TEXT    NOT NULL,
    new_key     BIGINT  NOT NULL,
    bulk        BOOLEAN NOT NULL,
    outcome     TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    verified    BOOLEAN NOT NULL,
    request_id  TEXT    NOT NULL
);
CREATE INDEX audit_event_at ON audit_event (at);
CREATE INDEX audit_event_key ON audit_event (key_id, at);
CREATE INDEX audit_event_actor ON audit_event (actor_id, at);
CREATE INDEX audit_event_new_key ON audit_event (new_key) WHERE new_key <> 0;

-- +goose Down
DROP TABLE audit_event;
