package binrec

import "testing"

func TestAShortRecordMarksTheReaderBadAndGivesZeros(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		read func(r *Reader) any
		want any
		bad  bool
	}{
		{"a whole uint64", []byte{1, 0, 0, 0, 0, 0, 0, 0}, func(r *Reader) any { return r.U64() }, uint64(1), false},
		{"a cut uint64", []byte{1, 0, 0}, func(r *Reader) any { return r.U64() }, uint64(0), true},
		{"a whole uint32", []byte{2, 1, 0, 0}, func(r *Reader) any { return r.U32() }, uint32(258), false},
		{"a string", []byte{2, 0, 0, 0, 'h', 'i'}, func(r *Reader) any { return r.String() }, "hi", false},
		{"a string longer than the record", []byte{9, 0, 0, 0, 'h'}, func(r *Reader) any { return r.String() }, "", true},
		{"a length past 2 GiB", []byte{0xff, 0xff, 0xff, 0xff}, func(r *Reader) any { return r.String() }, "", true},
	}
	for _, tt := range tests {
		r := &Reader{B: tt.data}
		if got := tt.read(r); got != tt.want || r.Bad != tt.bad {
			t.Errorf("%s: got %v bad %v, want %v bad %v", tt.name, got, r.Bad, tt.want, tt.bad)
		}
	}
}
