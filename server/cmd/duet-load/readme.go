package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// spliceReadme replaces, in the Markdown file of spec ("README.md:pinned"),
// what stands between the lines <!-- duet-load:pinned --> and
// <!-- /duet-load:pinned --> with the run's machine, command, table and
// checks (and the chart, when svg names it), so that one command refreshes
// the README's figures.
func spliceReadme(spec, svg string, r *report) error {
	path, name, ok := strings.Cut(spec, ":")
	if !ok || name == "" {
		return fmt.Errorf("-readme %q: want FILE:NAME, e.g. README.md:pinned", spec)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	open, end := []byte("<!-- duet-load:"+name+" -->\n"), []byte("<!-- /duet-load:"+name+" -->")
	i, j := bytes.Index(b, open), bytes.Index(b, end)
	if i < 0 || j < i {
		return fmt.Errorf("%s has no %s … %s section", path, bytes.TrimSpace(open), end)
	}
	var out bytes.Buffer
	out.Write(b[:i+len(open)])
	out.WriteString("\n")
	r.writeReadmeSection(&out, svg)
	out.WriteString("\n")
	out.Write(b[j:])
	return os.WriteFile(path, out.Bytes(), 0o644)
}

// writeReadmeSection is the run as the README shows it.
func (r *report) writeReadmeSection(w *bytes.Buffer, svg string) {
	where := "server under test and load generator share the CPUs"
	if r.Pinned != "" {
		where = "pinned: " + r.Pinned
	}
	mem := fmt.Sprint(r.Machine["memory"]) // "MemTotal:  24683748 kB"
	if f := strings.Fields(mem); len(f) == 3 {
		if kb, err := strconv.ParseFloat(f[1], 64); err == nil {
			mem = fmt.Sprintf("%.0f GiB", kb/(1<<20))
		}
	}
	load := strings.Fields(fmt.Sprint(r.Machine["loadavgAtStart"]))
	if len(load) > 3 {
		load = load[:3]
	}
	fmt.Fprintf(w, "Machine: %v CPUs (%v), %s; %s; load average before the run %s. `%s`, %s to %s.\n\n",
		r.Machine["cpus"], r.Machine["cpu"], mem, where, strings.Join(load, " "), r.Command, r.Started, r.Finished)
	if svg != "" {
		fmt.Fprintf(w, "![%s](%s)\n\n", strings.TrimSuffix(filepath.Base(svg), ".svg"), svg)
	}
	r.writeMarkdown(w)
	if len(r.Checks) > 0 {
		w.WriteString("\n")
		for _, c := range r.Checks {
			mark := "**MISS**"
			switch {
			case c.Skipped:
				mark = "skipped"
			case c.Pass:
				mark = "met"
			}
			fmt.Fprintf(w, "- %s %s: %s (target %s)\n", mark, c.What, c.Got, c.Target)
		}
	}
}
