//go:build js && wasm

package js

import "unicode/utf8"

// HTTP header values are bytes. JavaScript carries them as ByteStrings: a
// string whose every code unit is one byte (0 to 255), which fetch sends
// byte for byte. A Go string handed to syscall/js is decoded as UTF-8
// instead, so "é" (C3 A9) would reach the wire as the single byte E9: these
// two functions map between a header's bytes in Go and its ByteString in
// JavaScript.

// ByteString returns raw as the Go string that syscall/js turns into the
// ByteString of raw's bytes: every byte becomes the code point of the same
// value. A header value built in Go (an event id read off a stream) goes to
// fetch through it, so the server receives the very bytes, as the browser's
// own EventSource sends them. ASCII is returned as it is.
func ByteString(raw string) string {
	i := 0
	for i < len(raw) && raw[i] < utf8.RuneSelf {
		i++
	}
	if i == len(raw) {
		return raw
	}
	b := make([]byte, 0, len(raw)+(len(raw)-i))
	b = append(b, raw[:i]...)
	for ; i < len(raw); i++ {
		b = utf8.AppendRune(b, rune(raw[i]))
	}
	return string(b)
}

// FromByteString is the inverse of ByteString: it returns the bytes a
// JavaScript ByteString stands for, given the string syscall/js made of it.
// It reports false when s has a code point above 255, which is no
// ByteString (fetch would throw a TypeError on it).
func FromByteString(s string) (string, bool) {
	i := 0
	for i < len(s) && s[i] < utf8.RuneSelf {
		i++
	}
	if i == len(s) {
		return s, true
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	for _, r := range s[i:] {
		if r > 0xFF {
			return "", false
		}
		b = append(b, byte(r))
	}
	return string(b), true
}
