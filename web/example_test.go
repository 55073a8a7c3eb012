package web_test

import (
	"net/http"

	"github.com/duet-rt/duet/web"
)

// Mount the browser client where pages import it: /duet.js and /static/.
func ExampleAssets() {
	assets := web.Assets()
	mux := http.NewServeMux()
	mux.Handle("/duet.js", assets)
	mux.Handle("/static/", assets)
	_ = http.ListenAndServe // serve mux with your http.Server
}
