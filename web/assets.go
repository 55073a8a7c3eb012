package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Assets serves the embedded static files under /static/ and the loader at
// /duet.js.
func Assets() http.Handler {
	sub, _ := fs.Sub(static, "static")
	files := http.FileServerFS(sub)
	mux := http.NewServeMux()
	mux.Handle("/static/", http.StripPrefix("/static/", files))
	mux.HandleFunc("/duet.js", func(w http.ResponseWriter, r *http.Request) {
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/duet.js"
		files.ServeHTTP(w, r2)
	})
	return mux
}
