package audit

// OptionsOf is what s was opened with, for a test to open its database again.
func OptionsOf(s *Store) Options { return s.opts }
