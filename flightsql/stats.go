package flightsql

// Stats are the front door's gauges, for metrics and the status page.
type Stats struct {
	// Sessions open now.
	Sessions int
	// Queued are queries planned here whose ticket nobody has redeemed
	// yet: nothing of them runs until a client asks for the result.
	Queued int
}

// Stats says what the server holds now.
func (s *Server) Stats() Stats {
	s.sessions.mu.Lock()
	st := Stats{Sessions: len(s.sessions.byID)}
	s.sessions.mu.Unlock()
	s.queries.mu.Lock()
	for _, q := range s.queries.byID {
		if !q.taken && !q.empty {
			st.Queued++
		}
	}
	s.queries.mu.Unlock()
	return st
}
