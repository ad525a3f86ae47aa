package handlers

import (
	"log/slog"

	"github.com/keyportal/keyportal/apiclient"
)

// actorAttrs names an actor in a log line: ids and names, never a token.
func actorAttrs(id apiclient.Identity) []slog.Attr {
	return []slog.Attr{
		slog.Int64("actor", id.ActorID),
		slog.String("actor_type", id.ActorType),
		slog.String("username", id.Username),
	}
}
