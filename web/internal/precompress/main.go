// Command precompress writes brotli (.br, quality 11) and gzip (.gz, level
// 9) copies of files next to them, for client.Assets (package web/client)
// to serve precompressed:
//
//	go run ./web/internal/precompress web/client/static/duet.wasm
//
// It prints each file's sizes. With -report it compresses nothing and
// prints the sizes of the files already written, failing when the gzip
// copy is over -budget bytes (go tool task wasm:size).
//
// It is a build step (go tool task wasm), not part of any binary.
package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"flag"
	"io"
	"os"
	"strconv"

	"github.com/andybalholm/brotli"
)

func main() {
	report := flag.Bool("report", false, "print the sizes of FILE and its existing .gz and .br copies instead of writing them")
	budget := flag.Int("budget", 0, "with -report: fail when a .gz copy is larger than this many bytes (0: no budget)")
	flag.Usage = func() {
		os.Stderr.WriteString("usage: precompress [-report [-budget BYTES]] FILE...\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	var err error
	if *report {
		err = runReport(flag.Args(), *budget, os.Stdout)
	} else {
		err = run(flag.Args(), os.Stdout)
	}
	if err != nil {
		os.Stderr.WriteString("precompress: " + err.Error() + "\n")
		os.Exit(1)
	}
}

func runReport(files []string, budget int, out io.Writer) error {
	if len(files) == 0 {
		return errors.New("usage: precompress -report FILE...")
	}
	for _, name := range files {
		var sizes [3]int
		for i, suffix := range []string{"", ".gz", ".br"} {
			fi, err := os.Stat(name + suffix)
			if err != nil {
				return err
			}
			sizes[i] = int(fi.Size())
		}
		io.WriteString(out, name+": "+size(sizes[0])+", gzip "+size(sizes[1])+", brotli "+size(sizes[2])+"\n")
		if budget > 0 {
			verdict := "within"
			if sizes[1] > budget {
				verdict = "OVER"
			}
			io.WriteString(out, "  gzip budget "+size(budget)+": "+verdict+" ("+strconv.Itoa(budget-sizes[1])+" B to spare)\n")
			if sizes[1] > budget {
				return errors.New(name + ".gz is over the size budget")
			}
		}
	}
	return nil
}

func run(files []string, out io.Writer) error {
	if len(files) == 0 {
		return errors.New("usage: precompress FILE...")
	}
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		br, err := compress(src, func(w io.Writer) io.WriteCloser {
			return brotli.NewWriterLevel(w, brotli.BestCompression)
		})
		if err != nil {
			return err
		}
		gz, err := compress(src, func(w io.Writer) io.WriteCloser {
			zw, _ := gzip.NewWriterLevel(w, gzip.BestCompression) // the level is valid
			return zw
		})
		if err != nil {
			return err
		}
		if err := writeFile(name+".br", br); err != nil {
			return err
		}
		if err := writeFile(name+".gz", gz); err != nil {
			return err
		}
		io.WriteString(out, name+": "+size(len(src))+", gzip "+size(len(gz))+", brotli "+size(len(br))+"\n")
	}
	return nil
}

func compress(src []byte, newWriter func(io.Writer) io.WriteCloser) ([]byte, error) {
	var buf bytes.Buffer
	w := newWriter(&buf)
	if _, err := w.Write(src); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeFile writes through a temporary file, so a server embedding the
// directory never sees half a file.
func writeFile(name string, data []byte) error {
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

func size(n int) string {
	return strconv.Itoa(n) + " B (" + strconv.FormatFloat(float64(n)/1e6, 'f', 3, 64) + " MB)"
}
