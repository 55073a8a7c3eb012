package client

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/andybalholm/brotli"
)

// fakeModule is a stand-in for duet.wasm: the magic number, then bytes.
var fakeModule = append([]byte("\x00asm\x01\x00\x00\x00"), bytes.Repeat([]byte("duet "), 1000)...)

func compressed(t *testing.T, data []byte, coding string) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	if coding == "br" {
		w = brotli.NewWriter(&buf)
	} else {
		w = gzip.NewWriter(&buf)
	}
	w.Write(data)
	w.Close()
	return buf.Bytes()
}

const testLoader = `const injectedWasmFile = "__DUET_WASM_FILE__"; export function loadDuet() {}`

func builtFS(t *testing.T) fstest.MapFS {
	return fstest.MapFS{
		"duet.js":                  {Data: []byte(testLoader)},
		"duet.d.ts":                {Data: []byte("export declare function loadDuet(): Promise<unknown>;")},
		"duet.css":                 {Data: []byte("body{}")},
		"duet.wasm":                {Data: fakeModule},
		"duet.wasm.br":             {Data: compressed(t, fakeModule, "br")},
		"duet.wasm.gz":             {Data: compressed(t, fakeModule, "gzip")},
		"wasm_exec.js":             {Data: []byte("globalThis.Go = class {};")},
		"duet.wasm.placeholder":    {Data: []byte("placeholder")},
		"wasm_exec.js.placeholder": {Data: []byte("placeholder")},
	}
}

type response struct {
	*http.Response
	body []byte
}

func get(t *testing.T, h http.Handler, method, path string, header ...string) response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	return response{res, body}
}

func wantHeader(t *testing.T, r response, name, want string) {
	t.Helper()
	if got := r.Header.Get(name); got != want {
		t.Errorf("%s: %s = %q, want %q", r.Request.URL.Path, name, got, want)
	}
}

func wantStatus(t *testing.T, r response, want int) {
	t.Helper()
	if r.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d (%s)", r.Request.Method, r.Request.URL.Path, r.StatusCode, want, r.body)
	}
}

var hashedName = regexp.MustCompile(`"(duet\.[0-9a-f]{16}\.wasm)"`)

func TestLoaderNamesHashedModule(t *testing.T) {
	a := newAssets(builtFS(t))
	r := get(t, a, "GET", "/duet.js")
	wantStatus(t, r, 200)
	wantHeader(t, r, "Content-Type", "text/javascript; charset=utf-8")
	wantHeader(t, r, "Cache-Control", "no-cache")
	m := hashedName.FindSubmatch(r.body)
	if m == nil || bytes.Contains(r.body, []byte("__DUET_WASM_FILE__")) {
		t.Fatalf("loader does not name the hashed module:\n%s", r.body)
	}
	if a.wasmPath() != "/static/"+string(m[1]) {
		t.Fatalf("WasmPath %q, loader names %q", a.wasmPath(), m[1])
	}

	// The loader revalidates: an unchanged one is a 304.
	r2 := get(t, a, "GET", "/duet.js", "If-None-Match", r.Header.Get("ETag"))
	wantStatus(t, r2, http.StatusNotModified)
}

func TestModule(t *testing.T) {
	a := newAssets(builtFS(t))
	path := a.wasmPath()
	tests := []struct {
		name, acceptEncoding, coding string
	}{
		{"brotli preferred", "gzip, deflate, br, zstd", "br"},
		{"gzip", "gzip", "gzip"},
		{"x-gzip", "x-gzip", "gzip"},
		{"brotli refused", "br;q=0, gzip;q=0.5", "gzip"},
		{"identity", "", ""},
		{"identity only", "identity", ""},
		{"star", "*", "br"},
		{"star without brotli", "*, br;q=0", "gzip"},
		{"case", "GZIP", "gzip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, a, "GET", path, "Accept-Encoding", tt.acceptEncoding)
			wantStatus(t, r, 200)
			wantHeader(t, r, "Content-Type", "application/wasm")
			wantHeader(t, r, "Cache-Control", "public, max-age=31536000, immutable")
			wantHeader(t, r, "Vary", "Accept-Encoding")
			wantHeader(t, r, "Content-Encoding", tt.coding)
			body := r.body
			switch tt.coding {
			case "br":
				body, _ = io.ReadAll(brotli.NewReader(bytes.NewReader(body)))
			case "gzip":
				zr, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				body, _ = io.ReadAll(zr)
			}
			if !bytes.Equal(body, fakeModule) {
				t.Fatal("the body is not the module")
			}
			// Each coding has its own ETag, so caches never mix them up.
			r2 := get(t, a, "GET", path, "Accept-Encoding", tt.acceptEncoding, "If-None-Match", r.Header.Get("ETag"))
			wantStatus(t, r2, http.StatusNotModified)
		})
	}

	r := get(t, a, "HEAD", path, "Accept-Encoding", "br")
	wantStatus(t, r, 200)
	if len(r.body) != 0 || r.Header.Get("Content-Length") == "" {
		t.Fatalf("HEAD: body %d bytes, Content-Length %q", len(r.body), r.Header.Get("Content-Length"))
	}

	// The stable name serves the same module, revalidated.
	r = get(t, a, "GET", "/static/duet.wasm", "Accept-Encoding", "gzip")
	wantStatus(t, r, 200)
	wantHeader(t, r, "Cache-Control", "no-cache")
	wantHeader(t, r, "Content-Encoding", "gzip")

	// An old hash is gone.
	wantStatus(t, get(t, a, "GET", "/static/duet.0123456789abcdef.wasm"), 404)
}

func TestStaleCompressedCopiesAreNotServed(t *testing.T) {
	files := builtFS(t)
	old := append([]byte("\x00asm\x01\x00\x00\x00"), "an older build"...)
	files["duet.wasm.br"] = &fstest.MapFile{Data: compressed(t, old, "br")}
	files["duet.wasm.gz"] = &fstest.MapFile{Data: []byte("not even gzip")}
	a := newAssets(files)
	r := get(t, a, "GET", a.wasmPath(), "Accept-Encoding", "br, gzip")
	wantStatus(t, r, 200)
	wantHeader(t, r, "Content-Encoding", "")
	if !bytes.Equal(r.body, fakeModule) {
		t.Fatal("the body is not the module")
	}
}

func TestOtherFiles(t *testing.T) {
	a := newAssets(builtFS(t))
	tests := []struct {
		path        string
		status      int
		contentType string
	}{
		{"/static/wasm_exec.js", 200, "text/javascript; charset=utf-8"},
		{"/static/duet.d.ts", 200, "text/plain; charset=utf-8"},
		{"/static/duet.css", 200, "text/css; charset=utf-8"},
		{"/static/duet.wasm.placeholder", 404, ""},
		{"/static/wasm_exec.js.placeholder", 404, ""},
		{"/static/duet.wasm.br", 404, ""},
		{"/static/duet.wasm.gz", 404, ""},
		{"/static/duet.js", 404, ""}, // only /duet.js, rewritten
		{"/static/", 404, ""},
		{"/static/missing.js", 404, ""},
		{"/static/../duet.js", 404, ""},
		{"/other", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r := get(t, a, "GET", tt.path)
			wantStatus(t, r, tt.status)
			if tt.status == 200 {
				wantHeader(t, r, "Content-Type", tt.contentType)
				wantHeader(t, r, "Cache-Control", "no-cache")
			}
		})
	}
	r := get(t, a, "POST", "/duet.js")
	wantStatus(t, r, http.StatusMethodNotAllowed)
	wantHeader(t, r, "Allow", "GET, HEAD")
}

func TestNotBuilt(t *testing.T) {
	for _, missing := range []string{"duet.wasm", "wasm_exec.js"} {
		t.Run(missing, func(t *testing.T) {
			files := builtFS(t)
			delete(files, missing)
			a := newAssets(files)
			r := get(t, a, "GET", "/duet.js")
			wantStatus(t, r, 200)
			if !bytes.Contains(r.body, []byte("throw new Error")) || !bytes.Contains(r.body, []byte("run go tool task build")) {
				t.Fatalf("loader does not fail loudly:\n%s", r.body)
			}
			wantStatus(t, get(t, a, "GET", "/static/duet.wasm"), 404)
			wantStatus(t, get(t, a, "GET", "/static/wasm_exec.js"), 404)
			if a.wasmPath() != "" {
				t.Fatal("WasmPath of an unbuilt module")
			}
		})
	}
}

// TestEmbedded checks the files this binary really embeds: either the
// module was built and the loader names it, or /duet.js says to build it.
// In CI (CI set) the module must be built: `go tool task test` builds it
// before the Go tests, so the one tested is the current one.
func TestEmbedded(t *testing.T) {
	h := Assets()
	r := get(t, h, "GET", "/duet.js")
	wantStatus(t, r, 200)
	path := WasmPath()
	if path == "" {
		if !strings.Contains(string(r.body), "run go tool task build") {
			t.Fatalf("no module, and the loader does not say so:\n%s", r.body)
		}
		if os.Getenv("CI") != "" {
			t.Fatal("the module is not built, and CI is set: build it first (go tool task wasm)")
		}
		t.Skip("the module is not built (go tool task wasm)")
	}
	if !strings.Contains(string(r.body), path[len("/static/"):]) {
		t.Fatalf("loader does not name %s", path)
	}
	m := get(t, h, "GET", path, "Accept-Encoding", "br")
	wantStatus(t, m, 200)
	wantHeader(t, m, "Content-Type", "application/wasm")
	t.Logf("%s: %s, %d bytes as %q", path, m.Header.Get("Cache-Control"), len(m.body), m.Header.Get("Content-Encoding"))
}

func TestLoaderSourceHasToken(t *testing.T) {
	src, err := static.ReadFile("static/duet.js")
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(src, []byte(wasmToken)); n != 1 {
		t.Fatalf("static/duet.js holds %s %d times, want once", wasmToken, n)
	}
}

func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{"gzip, deflate, br", "br;q=0", "*;q=0.1", "identity", "", ",,;q=", "gzip;q=abc"} {
		f.Add(s)
	}
	all := map[string][]byte{"": nil, "br": nil, "gzip": nil}
	f.Fuzz(func(t *testing.T, ae string) {
		switch c := negotiate(ae, all); c {
		case "", "br", "gzip":
		default:
			t.Fatalf("negotiate(%q) = %q", ae, c)
		}
	})
}

func TestSiteFiles(t *testing.T) {
	client := newAssets(builtFS(t))
	site := fstest.MapFS{
		"app.css":   {Data: []byte("body{}")},
		"duet.d.ts": {Data: []byte("not the client's")},
		"duet.js":   {Data: []byte("not the loader")},
	}
	a := *client
	a.site = site
	r := get(t, &a, "GET", "/static/app.css")
	wantStatus(t, r, 200)
	wantHeader(t, r, "Content-Type", "text/css; charset=utf-8")
	wantHeader(t, r, "Cache-Control", "no-cache")
	if r = get(t, &a, "GET", "/static/duet.d.ts"); !bytes.HasPrefix(r.body, []byte("export declare")) {
		t.Fatalf("the site's duet.d.ts shadows the client's: %s", r.body)
	}
	wantStatus(t, get(t, &a, "GET", "/static/duet.js"), 404)
	wantStatus(t, get(t, client, "GET", "/static/app.css"), 404)
}
