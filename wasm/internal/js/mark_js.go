//go:build js && wasm

package js

// Mark records a User Timing mark, performance.mark(name), so start-up
// and connection milestones show in the page's performance timeline beside
// the loader's (duet:*). Where there is no performance.mark it does
// nothing.
func Mark(name string) {
	perf := global.Get("performance")
	if !IsObject(perf) || !IsFunction(perf.Get("mark")) {
		return
	}
	perf.Call("mark", name)
}
