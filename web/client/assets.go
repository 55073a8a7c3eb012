package client

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/andybalholm/brotli"
)

// The client's files. The built ones (duet.wasm, its .br and .gz, and
// wasm_exec.js) are ignored by git; the committed *.placeholder files keep
// the pattern matching on a clean clone.
//
//go:embed static
var static embed.FS

// wasmToken is the string in static/duet.js that Assets replaces with the
// content-hashed name of the module.
const wasmToken = `"__DUET_WASM_FILE__"`

// notBuiltLoader is served as /duet.js when the module was not built, so
// that importing it fails with a message that says what to do.
const notBuiltLoader = `// Duet's browser client is missing from this build.
const message = "duet: the browser client is not built (web/client/static/duet.wasm or wasm_exec.js is missing): run go tool task build";
console.error(message);
throw new Error(message);
`

// Assets serves Duet's browser client, to be mounted at /duet.js and
// /static/ (the paths are matched as they arrive, prefix included, so mount
// it without StripPrefix):
//
//	/duet.js                   the ES module loader, with the module's hashed name written in
//	/static/duet.<hash>.wasm   the module, brotli or gzip by Accept-Encoding, cached for a year (immutable)
//	/static/duet.wasm          the same bytes under a stable name, revalidated on every use
//	/static/wasm_exec.js       the Go runtime glue matching the module
//	/static/duet.d.ts          the TypeScript declarations of the API
//
// Everything but the hashed module is served with Cache-Control: no-cache
// and an ETag, so a new build is picked up on the next load and an
// unchanged one costs a 304. The loader learns the hashed URL because this
// handler rewrites it: the served duet.js names duet.<hash>.wasm, which it
// resolves against its own URL. When the module was not built (a clean
// clone, go build without go tool task wasm) /duet.js is a module that
// throws "… run go tool task build".
//
// Other paths under /static/ are not found; a site that keeps its own
// files there serves them through AssetsWith.
func Assets() http.Handler { return loadAssets() }

// AssetsWith is Assets that also serves, under /static/, the files of site
// (a page's CSS and scripts), cached as the client's small files are:
// no-cache and an ETag. The client's own names come first; site may be nil.
func AssetsWith(site fs.FS) http.Handler {
	a := *loadAssets()
	a.site = site
	return &a
}

var loadAssets = sync.OnceValue(func() *assets {
	files, err := fs.Sub(static, "static")
	if err != nil {
		panic("duet/client: " + err.Error()) // "static" is a valid path
	}
	return newAssets(files)
})

// assets is the handler behind Assets, computed once from the embedded
// files.
type assets struct {
	files    fs.FS
	site     fs.FS // served after files; nil for none
	built    bool
	wasmName string            // duet.<hash>.wasm
	wasmTag  string            // the hash, the base of the module's ETags
	wasm     map[string][]byte // by content coding: "", "br", "gzip"
	loader   file
}

// file is a small served file with its precomputed ETag.
type file struct {
	data []byte
	etag string
}

func newFile(data []byte) file {
	sum := sha256.Sum256(data)
	return file{data: data, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

// newAssets reads the static directory files.
func newAssets(files fs.FS) *assets {
	a := &assets{files: files, wasm: map[string][]byte{}}
	wasm, errWasm := fs.ReadFile(files, "duet.wasm")
	_, errExec := fs.Stat(files, "wasm_exec.js")
	loader, errLoader := fs.ReadFile(files, "duet.js")
	a.built = errWasm == nil && errExec == nil && errLoader == nil && bytes.HasPrefix(wasm, []byte("\x00asm"))
	if !a.built {
		a.loader = newFile([]byte(notBuiltLoader))
		return a
	}
	sum := sha256.Sum256(wasm)
	a.wasmTag = hex.EncodeToString(sum[:8])
	a.wasmName = "duet." + a.wasmTag + ".wasm"
	a.wasm[""] = wasm
	// The precompressed copies are used only if they decompress to this
	// very module: a stale one, from an earlier build, would be a disaster
	// cached for a year.
	if br, err := fs.ReadFile(files, "duet.wasm.br"); err == nil && decodesTo(brotli.NewReader(bytes.NewReader(br)), wasm) {
		a.wasm["br"] = br
	}
	if gz, err := fs.ReadFile(files, "duet.wasm.gz"); err == nil {
		if zr, err := gzip.NewReader(bytes.NewReader(gz)); err == nil && decodesTo(zr, wasm) {
			a.wasm["gzip"] = gz
		}
	}
	a.loader = newFile(bytes.Replace(loader, []byte(wasmToken), []byte(`"`+a.wasmName+`"`), 1))
	return a
}

// decodesTo reports whether r yields exactly want.
func decodesTo(r io.Reader, want []byte) bool {
	got, err := io.ReadAll(io.LimitReader(r, int64(len(want))+1))
	return err == nil && bytes.Equal(got, want)
}

// WasmPath returns the path of the content-hashed module
// ("/static/duet.<hash>.wasm"), for a page that wants to preload it, or ""
// when the module was not built.
func WasmPath() string { return loadAssets().wasmPath() }

func (a *assets) wasmPath() string {
	if !a.built {
		return ""
	}
	return "/static/" + a.wasmName
}

func (a *assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "duet/client: method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	h := w.Header()
	// Static, public files: any origin may load the client.
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("X-Content-Type-Options", "nosniff")
	switch {
	case strings.HasSuffix(p, "/duet.js") && !strings.Contains(p, "/static/"):
		a.serveFile(w, r, "duet.js", a.loader)
		return
	case !strings.Contains(p, "/static/"):
		http.NotFound(w, r)
		return
	}
	name := p[strings.LastIndex(p, "/static/")+len("/static/"):]
	switch {
	case a.built && name == a.wasmName:
		a.serveWasm(w, r, "public, max-age=31536000, immutable")
	case a.built && name == "duet.wasm":
		a.serveWasm(w, r, "no-cache")
	case !a.servable(name):
		http.NotFound(w, r)
	default:
		data, err := fs.ReadFile(a.files, name)
		if err != nil && a.site != nil {
			data, err = fs.ReadFile(a.site, name)
		}
		if err != nil {
			http.NotFound(w, r)
			return
		}
		a.serveFile(w, r, name, newFile(data))
	}
}

// servable reports whether name is a static file served as it is: not a
// directory, a placeholder, the module or its compressed copies (served
// under the hashed name), or the unrewritten loader.
func (a *assets) servable(name string) bool {
	switch {
	case name == "" || strings.Contains(name, "/") || strings.HasPrefix(name, "."),
		strings.HasSuffix(name, ".placeholder"),
		strings.HasPrefix(name, "duet.wasm"),
		name == "duet.js":
		return false
	case name == "wasm_exec.js":
		return a.built
	}
	return true
}

// serveFile serves a small file, revalidated on every use.
func (a *assets) serveFile(w http.ResponseWriter, r *http.Request, name string, f file) {
	h := w.Header()
	h.Set("Content-Type", contentType(name))
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", f.etag)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.data))
}

// serveWasm serves the module in the best coding the client accepts.
func (a *assets) serveWasm(w http.ResponseWriter, r *http.Request, cacheControl string) {
	coding := negotiate(r.Header.Get("Accept-Encoding"), a.wasm)
	h := w.Header()
	h.Set("Content-Type", "application/wasm")
	h.Set("Cache-Control", cacheControl)
	h.Add("Vary", "Accept-Encoding")
	etag := a.wasmTag
	if coding != "" {
		h.Set("Content-Encoding", coding)
		etag += "-" + coding
	}
	etag = `"` + etag + `"`
	h.Set("ETag", etag)
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatch(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	// Not ServeContent: it leaves Content-Length out when Content-Encoding
	// is set, and ranges of a module make no sense.
	body := a.wasm[coding]
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// etagMatch reports whether an If-None-Match value matches etag (weakly,
// as If-None-Match compares).
func etagMatch(ifNoneMatch, etag string) bool {
	for _, t := range strings.Split(ifNoneMatch, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

// negotiate picks the content coding for an Accept-Encoding value among
// those available: brotli, then gzip, then none. A coding with q=0 is
// refused; "*" stands for any coding not named.
func negotiate(acceptEncoding string, available map[string][]byte) string {
	q := map[string]float64{}
	for _, part := range strings.Split(acceptEncoding, ",") {
		name, params, _ := strings.Cut(part, ";")
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		weight := 1.0
		params = strings.TrimSpace(params)
		if v, ok := strings.CutPrefix(params, "q="); ok {
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				weight = f
			}
		}
		if name == "x-gzip" {
			name = "gzip"
		}
		q[name] = weight
	}
	accepts := func(coding string) bool {
		if w, ok := q[coding]; ok {
			return w > 0
		}
		w, ok := q["*"]
		return ok && w > 0
	}
	for _, coding := range []string{"br", "gzip"} {
		if _, ok := available[coding]; ok && accepts(coding) {
			return coding
		}
	}
	return ""
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".ts": // duet.d.ts; Go's table says MPEG transport stream
		return "text/plain; charset=utf-8"
	case ".wasm":
		return "application/wasm"
	}
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}
