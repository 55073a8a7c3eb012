//go:build js && wasm

package js

// Hidden reports whether the page is hidden (document.visibilityState is
// "hidden"): a background tab, a minimised window. It is false where there
// is no document (workers, Node).
func Hidden() bool {
	doc := global.Get("document")
	return IsObject(doc) && doc.Get("visibilityState").String() == "hidden"
}

// OnVisibilityChange calls fn with Hidden() each time the page's visibility
// changes. Where there is no document it does nothing and remove is a
// no-op.
func OnVisibilityChange(fn func(hidden bool)) (remove func()) {
	doc := global.Get("document")
	if !IsObject(doc) {
		return func() {}
	}
	return AddEventListener(doc, "visibilitychange", func(Value) { fn(Hidden()) }, nil)
}

// Online reports navigator.onLine: false means surely offline, true means
// maybe online. It is true where the runtime does not say.
func Online() bool {
	v := Prop(global.Get("navigator"), "onLine")
	return v.IsUndefined() || v.Truthy()
}

// OnOnlineChange calls fn with true on the global "online" event and with
// false on "offline". Where the global object is no EventTarget it does
// nothing and remove is a no-op.
func OnOnlineChange(fn func(online bool)) (remove func()) {
	if !IsFunction(global.Get("addEventListener")) {
		return func() {}
	}
	on := AddEventListener(global, "online", func(Value) { fn(true) }, nil)
	off := AddEventListener(global, "offline", func(Value) { fn(false) }, nil)
	return func() { on(); off() }
}
