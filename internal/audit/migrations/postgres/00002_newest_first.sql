-- The audit page reads events newest first and keeps those of the keys a
-- user can see and the user's own. These indexes hold all that, in that
-- order (the second for the page filtered by action), so that a page is
-- found by walking one of them without reading the events themselves, and
-- a count of the events of an action reads none either. The first replaces
-- the index on at alone, which it extends: pruning and the date filters
-- use it as they did.
-- +goose Up
CREATE INDEX audit_event_newest ON audit_event (at, id, key_id, actor_id);
CREATE INDEX audit_event_action_newest ON audit_event (action, at, id, key_id, actor_id);
DROP INDEX audit_event_at;

-- +goose Down
CREATE INDEX audit_event_at ON audit_event (at);
DROP INDEX audit_event_action_newest;
DROP INDEX audit_event_newest;
