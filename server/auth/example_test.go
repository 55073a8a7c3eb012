package auth_test

import (
	"log"
	"net/http"
	"time"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/server/auth"
)

// A hub that accepts JWTs from an identity provider's key set, session
// cookies issued by the application's own login, and anonymous visitors
// who may only read public channels.
func Example() {
	jwtAuth, err := auth.NewJWT(auth.JWTConfig{
		JWKSFile: "/etc/duet/jwks.json", // or JWKSURL, PublicKeyFile, HS256Secret
		Audience: "chat",
		// Tokens without "subscribe" and "publish" claims get these.
		DefaultSubscribe: []string{"public:*", "user:{sub}"},
		DefaultPublish:   []string{"user:{sub}"},
	})
	if err != nil {
		log.Print(err)
		return
	}
	sessions, err := auth.NewSessions(auth.SessionConfig{Keys: [][]byte{[]byte("a secret of at least thirty-two bytes")}})
	if err != nil {
		log.Print(err)
		return
	}
	hub, err := server.NewHub(&server.Config{
		Authenticate: auth.Any(jwtAuth.Authenticate, sessions.Authenticate,
			auth.AllowAnonymous([]string{"public:*"}, nil)),
	})
	if err != nil {
		log.Print(err)
		return
	}
	mux := http.NewServeMux()
	mux.Handle("/rt/", hub.Handler())
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		user := "alice" // once the application has checked who this is
		err := sessions.Issue(w, server.Identity{
			Subject:   user,
			Expires:   time.Now().Add(8 * time.Hour),
			Subscribe: []string{"public:*", "user:{sub}"},
			Publish:   []string{"user:{sub}"},
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
}
