package client_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing/fstest"

	"github.com/duet-rt/duet/web/client"
)

// Mount the browser client where pages import it: /duet.js and /static/.
func ExampleAssets() {
	assets := client.Assets()
	mux := http.NewServeMux()
	mux.Handle("/duet.js", assets)
	mux.Handle("/static/", assets)
	// Serve mux with your http.Server; here, one request.
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", "/duet.js", nil))
	fmt.Println(w.Code, w.Header().Get("Content-Type"))
	// Output:
	// 200 text/javascript; charset=utf-8
}

// Serve a site's own static files beside the client, under the same
// /static/ prefix.
func ExampleAssetsWith() {
	site := fstest.MapFS{"app.css": {Data: []byte("body { margin: 0 }")}} // an embed.FS in a real program
	assets := client.AssetsWith(site)
	mux := http.NewServeMux()
	mux.Handle("/duet.js", assets)
	mux.Handle("/static/", assets) // /static/app.css, /static/duet.d.ts...
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", "/static/app.css", nil))
	fmt.Println(w.Code, w.Body)
	// Output:
	// 200 body { margin: 0 }
}
