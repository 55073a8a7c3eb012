package web

import (
	"bytes"
	"embed"
	"io/fs"
	"net/http"

	"github.com/a-h/templ"
	"github.com/duet-rt/duet/web/client"
	"github.com/duet-rt/duet/web/demo"
)

// The demo's own static files (CSS, each page's ES module), served under
// /static/ beside the browser client's.
//
//go:embed static
var static embed.FS

// HeadFunc returns the id of the latest published message.
type HeadFunc func() string

// Handler serves the demo pages at / and the static assets. head may be
// nil; so may app, the demo's server side, and then the pages that need it
// (chat, notifications, feed, lab) are not served.
func Handler(head HeadFunc, app *demo.Demo) http.Handler {
	mux := http.NewServeMux()
	site, err := fs.Sub(static, "static")
	if err != nil {
		panic("duet/web: " + err.Error()) // "static" is a valid path
	}
	assets := client.AssetsWith(site)
	mux.Handle("/duet.js", assets)
	mux.Handle("/static/", assets)
	// Pages declare no icon; answer the browser's guess without a 404, which
	// Chromium would log as a console error.
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		d := HomeData{Page: Page{Title: "Home", Path: "/"}, PageID: demo.NewPageID()}
		if head != nil {
			d.Head = head()
		}
		if app != nil {
			d.Script = "home.js"
			live := app.Live()
			d.SSE, d.WS = live.SSE, live.WS
		}
		render(w, r, Home(d))
	})
	if app != nil {
		demoPages(mux, head, app)
	}
	// The binary-frame pages: game.templ, voice.templ.
	mux.HandleFunc("GET /game", func(w http.ResponseWriter, r *http.Request) { render(w, r, Game(DefaultGame())) })
	mux.HandleFunc("GET /voice", func(w http.ResponseWriter, r *http.Request) { render(w, r, Voice(DefaultVoice())) })
	return mux
}

// render writes a page; a page that fails to render is a 500, not half a page.
func render(w http.ResponseWriter, r *http.Request, c templ.Component) {
	var buf bytes.Buffer
	if err := c.Render(r.Context(), &buf); err != nil {
		http.Error(w, "duet/web: cannot render page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}
