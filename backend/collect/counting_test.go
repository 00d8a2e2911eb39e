package collect

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestCountingWriterReportsByBytes(t *testing.T) {
	var buf bytes.Buffer
	var got []int64
	cw := NewCountingWriter(&buf, 0, func(total int64) { got = append(got, total) })
	cw.MinBytes = 100
	for range 25 {
		if _, err := cw.Write(make([]byte, 30)); err != nil {
			t.Fatal(err)
		}
	}
	cw.Flush()
	cw.Flush() // nothing new: no second final report
	want := []int64{30 * 4, 30 * 8, 30 * 12, 30 * 16, 30 * 20, 30 * 24, 30 * 25}
	if !slices.Equal(got, want) {
		t.Errorf("reports %v, want %v", got, want)
	}
	if cw.Count() != 750 || buf.Len() != 750 {
		t.Errorf("Count %d, buffer %d", cw.Count(), buf.Len())
	}
}

func TestCountingWriterReportsByTime(t *testing.T) {
	var got []int64
	cw := NewCountingWriter(nil, time.Hour, func(total int64) { got = append(got, total) })
	for range 10 {
		cw.Write([]byte("abc"))
	}
	// The first write reports at once; the hour keeps the rest quiet.
	if !slices.Equal(got, []int64{3}) {
		t.Errorf("reports %v", got)
	}
	cw.Flush()
	if !slices.Equal(got, []int64{3, 30}) {
		t.Errorf("after Flush: %v", got)
	}
}

func TestCountingWriterCountsWhatWasWritten(t *testing.T) {
	cw := NewCountingWriter(failAfter(5), 0, nil)
	n, err := cw.Write([]byte("0123456789"))
	if n != 5 || err == nil || cw.Count() != 5 {
		t.Errorf("n %d err %v count %d", n, err, cw.Count())
	}
}

type failAfter int

func (f failAfter) Write(p []byte) (int, error) {
	if len(p) > int(f) {
		return int(f), errors.New("full")
	}
	return len(p), nil
}
