package server

import "strconv"

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strconv.Quote(s)
}
