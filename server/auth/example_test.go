package auth_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/server/auth"
)

// A hub that accepts JWTs from an identity provider's key set, session
// cookies issued by the application's own login, and anonymous visitors
// who may only read public channels.
func Example() {
	jwtAuth, err := auth.NewJWT(auth.JWTConfig{
		// Or JWKSURL, JWKSFile, PublicKeyFile; the secret from a file in
		// a real deployment.
		HS256Secret: []byte("an HS256 secret of at least thirty-two bytes"),
		Audience:    "chat",
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
	defer hub.Shutdown(context.Background())
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

	// Alice signs in; her next request carries the session cookie.
	login := httptest.NewRecorder()
	mux.ServeHTTP(login, httptest.NewRequest("POST", "/login", nil))
	req := httptest.NewRequest("GET", "/rt/sse?channel=user:alice", nil)
	for _, c := range login.Result().Cookies() {
		req.AddCookie(c)
	}
	id, err := sessions.Authenticate(req)
	fmt.Println(id.Subject, err)
	fmt.Println("publish on user:alice:", id.Allows(server.PermissionPublish, "user:alice"))
	fmt.Println("publish on user:bob:", id.Allows(server.PermissionPublish, "user:bob"))
	// Output:
	// alice <nil>
	// publish on user:alice: true
	// publish on user:bob: false
}
