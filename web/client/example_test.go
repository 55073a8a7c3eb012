package client_test

import (
	"net/http"
	"testing/fstest"

	"github.com/duet-rt/duet/web/client"
)

// Mount the browser client where pages import it: /duet.js and /static/.
func ExampleAssets() {
	assets := client.Assets()
	mux := http.NewServeMux()
	mux.Handle("/duet.js", assets)
	mux.Handle("/static/", assets)
	_ = http.ListenAndServe // serve mux with your http.Server
}

// Serve a site's own static files beside the client, under the same
// /static/ prefix.
func ExampleAssetsWith() {
	site := fstest.MapFS{"app.css": {Data: []byte("body { margin: 0 }")}} // an embed.FS in a real program
	assets := client.AssetsWith(site)
	mux := http.NewServeMux()
	mux.Handle("/duet.js", assets)
	mux.Handle("/static/", assets) // /static/app.css, /static/duet.d.ts...
	_ = http.ListenAndServe        // serve mux with your http.Server
}
