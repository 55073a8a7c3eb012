//go:build !(js && wasm)

package main

import "os"

func main() {
	os.Stderr.WriteString("duet: this program runs in the browser; build it with GOOS=js GOARCH=wasm (go tool task wasm)\n")
	os.Exit(2)
}
