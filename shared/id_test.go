package shared

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/duet-rt/duet/shared/assert"
)

var parseIDCases = []struct {
	name string
	in   string
	want ID
	ok   bool
}{
	{name: "typical", in: "1764100000000-42", want: ID{Epoch: 1764100000000, Seq: 42}, ok: true},
	{name: "zero sequence", in: "1764100000000-0", want: ID{Epoch: 1764100000000}, ok: true},
	{name: "zero epoch", in: "0-7", want: ID{Seq: 7}, ok: true},
	{name: "single digits", in: "1-1", want: ID{Epoch: 1, Seq: 1}, ok: true},
	{name: "largest", in: "18446744073709551615-18446744073709551615", want: ID{Epoch: math.MaxUint64, Seq: math.MaxUint64}, ok: true},

	{name: "empty", in: ""},
	// The zero ID means "no id"; its text form is "".
	{name: "zero", in: "0-0"},
	{name: "too long", in: "18446744073709551615-184467440737095516150"},
	{name: "far too long", in: strings.Repeat("1", 1000) + "-1"},
	{name: "leading zero in the epoch", in: "01-1"},
	{name: "leading zero in the sequence", in: "1-01"},
	{name: "zeros", in: "00-1"},
	{name: "missing epoch", in: "-1"},
	{name: "missing sequence", in: "1-"},
	{name: "only a dash", in: "-"},
	{name: "no dash", in: "12345"},
	{name: "extra dash", in: "1-2-3"},
	{name: "double dash", in: "1--2"},
	{name: "negative", in: "-1-2"},
	{name: "plus sign", in: "+1-2"},
	{name: "plus sign in the sequence", in: "1-+2"},
	{name: "letter", in: "a-1"},
	{name: "hex", in: "0x1-2"},
	{name: "space", in: "1 -2"},
	{name: "trailing newline", in: "1-2\n"},
	{name: "NUL", in: "1-2\x00"},
	{name: "underscore", in: "1_000-2"},
	{name: "other dash", in: "1\u20132"},
	{name: "fullwidth digits", in: "１-２"},
	{name: "epoch overflow", in: "18446744073709551616-1"},
	{name: "sequence overflow", in: "1-18446744073709551616"},
	{name: "both overflow", in: "99999999999999999999-99999999999999999999"},
}

func TestParseID(t *testing.T) {
	t.Parallel()
	for _, tc := range parseIDCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseID(tc.in)
			if !tc.ok {
				quoted := tc.in
				if len(quoted) > MaxIDLength {
					quoted = quoted[:MaxIDLength] + "…"
				}
				assert.ErrorIs(t, err, ErrBadID, `duet/shared: malformed event id `+strconv.Quote(quoted))
				assert.Equal(t, "id on error", got, ID{})
				return
			}
			assert.NoError(t, err)
			assert.Equal(t, "id", got, tc.want)
			assert.Equal(t, "String", got.String(), tc.in)
			assert.Equal(t, "Append", string(got.Append([]byte("id:"))), "id:"+tc.in)
			assert.Equal(t, "MustParseID", MustParseID(tc.in), tc.want)
		})
	}
}

func TestIDString(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "zero ID", ID{}.String(), "")
	assert.Equal(t, "zero ID appended", string(ID{}.Append(nil)), "0-0")
	assert.Equal(t, "epoch only", ID{Epoch: 5}.String(), "5-0")
	assert.Equal(t, "sequence only", ID{Seq: 5}.String(), "0-5")
	longest := ID{Epoch: math.MaxUint64, Seq: math.MaxUint64}.String()
	assert.Equal(t, "longest is MaxIDLength", len(longest), MaxIDLength)
}

func TestIDIsZero(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "zero", ID{}.IsZero(), true)
	assert.Equal(t, "epoch", ID{Epoch: 1}.IsZero(), false)
	assert.Equal(t, "seq", ID{Seq: 1}.IsZero(), false)
}

func TestIDCompare(t *testing.T) {
	t.Parallel()
	// Sorted: by epoch, then by sequence.
	sorted := []ID{{}, {Seq: 1}, {Seq: math.MaxUint64}, {Epoch: 1}, {Epoch: 1, Seq: 1}, {Epoch: 1, Seq: 2}, {Epoch: 2}, {Epoch: math.MaxUint64, Seq: math.MaxUint64}}
	for i, a := range sorted {
		for j, b := range sorted {
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			name := a.String() + " vs " + b.String()
			assert.Equal(t, "Compare "+name, a.Compare(b), want)
			assert.Equal(t, "Before "+name, a.Before(b), i < j && a.Epoch == b.Epoch)
		}
	}
	shuffled := slices.Clone(sorted)
	slices.Reverse(shuffled)
	slices.SortFunc(shuffled, ID.Compare)
	assert.Equal(t, "sorted with Compare", shuffled, sorted)
}

func TestIDBefore(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		a, b ID
		want bool
	}{
		{"earlier in the same epoch", ID{7, 1}, ID{7, 2}, true},
		{"later in the same epoch", ID{7, 2}, ID{7, 1}, false},
		{"equal", ID{7, 2}, ID{7, 2}, false},
		// Across epochs ids are not positions in one sequence.
		{"older epoch", ID{6, 1}, ID{7, 2}, false},
		{"newer epoch", ID{8, 1}, ID{7, 2}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, "Before", tc.a.Before(tc.b), tc.want)
		})
	}
}

func TestMustParseIDPanics(t *testing.T) {
	t.Parallel()
	defer func() {
		r := recover()
		err, ok := r.(error)
		if !ok {
			t.Fatalf("recovered %#v, want an error", r)
		}
		assert.ErrorIs(t, err, ErrBadID, `"1-x"`)
	}()
	MustParseID("1-x")
	t.Fatal("MustParseID did not panic")
}

// refParseID is the rule ParseID implements, written plainly: two canonical
// decimal uint64s joined by a dash, not both zero.
func refParseID(s string) (ID, bool) {
	parts := strings.Split(s, "-")
	if len(parts) != 2 {
		return ID{}, false
	}
	var n [2]uint64
	for i, p := range parts {
		if p == "" || len(p) > 1 && p[0] == '0' || strings.Trim(p, "0123456789") != "" {
			return ID{}, false
		}
		var err error
		if n[i], err = strconv.ParseUint(p, 10, 64); err != nil {
			return ID{}, false
		}
	}
	id := ID{Epoch: n[0], Seq: n[1]}
	return id, !id.IsZero()
}

func FuzzParseID(f *testing.F) {
	for _, tc := range parseIDCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		want, ok := refParseID(s)
		if err != nil {
			assert.ErrorIs(t, err, ErrBadID)
			if ok {
				t.Fatalf("ParseID(%q) refused a valid id: %v", s, err)
			}
			// The input is cut to MaxIDLength bytes in the message; quoting
			// may still grow each byte to four.
			if len(err.Error()) > 256 {
				t.Fatalf("error for %q is %d bytes long", s, len(err.Error()))
			}
			return
		}
		if !ok {
			t.Fatalf("ParseID(%q) = %v, want an error", s, id)
		}
		assert.Equal(t, "id", id, want)
		// The text form is canonical: it is the input, and it parses back.
		assert.Equal(t, "String", id.String(), s)
		back, err := ParseID(id.String())
		assert.NoError(t, err)
		assert.Equal(t, "parsed back", back, id)
	})
}
