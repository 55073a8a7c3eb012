package server

import (
	"log/slog"
	"net/http"
	"time"
)

// Defaults of NewHTTPServer.
const (
	// DefaultReadHeaderTimeout bounds how long a client may take to send
	// its request line and headers (slowloris).
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultIdleTimeout bounds how long a keep-alive connection may wait
	// for its next request.
	DefaultIdleTimeout = 2 * time.Minute
	// DefaultMaxHeaderBytes bounds a request's headers.
	DefaultMaxHeaderBytes = 64 << 10
)

// NewHTTPServer returns an http.Server for a Duet handler with the timeouts
// a server on the internet needs: ReadHeaderTimeout against slowloris
// headers, IdleTimeout against parked keep-alive connections,
// MaxHeaderBytes against huge headers. log (nil: slog.Default()) gets the
// server's own errors at warning level.
//
// It deliberately sets no ReadTimeout and no WriteTimeout: net/http
// applies them to the whole connection, so a WriteTimeout would cut every
// SSE stream off, and a ReadTimeout cancels a streaming request's context
// once it expires (net/http's background read fails). Duet bounds the
// rest itself: every write to a client has a deadline (Config.WriteTimeout),
// a POST /rt/publish body must arrive within Config.BodyTimeout, dead
// WebSocket peers are found by pings and idle ones closed
// (Config.IdleTimeout). Set the fields afterwards to change them.
func NewHTTPServer(handler http.Handler, log *slog.Logger) *http.Server {
	if log == nil {
		log = slog.Default()
	}
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: DefaultReadHeaderTimeout,
		IdleTimeout:       DefaultIdleTimeout,
		MaxHeaderBytes:    DefaultMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
