package web

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"
)

// clientFrame is a masked client frame with a zero key.
func clientFrame(fin bool, op byte, n int) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	var f []byte
	switch {
	case n < 126:
		f = []byte{b0, 0x80 | byte(n)}
	case n < 1<<16:
		f = binary.BigEndian.AppendUint16([]byte{b0, 0x80 | 126}, uint16(n))
	default:
		f = binary.BigEndian.AppendUint64([]byte{b0, 0x80 | 127}, uint64(n))
	}
	f = append(f, 0, 0, 0, 0)
	return append(f, make([]byte, n)...)
}

// The meter finds every frame header whatever the payload lengths (7-bit, 16-bit, 64-bit) and
// however the bytes are split between reads, and counts fragments per message.
func TestFrameMeterCounts(t *testing.T) {
	var stream []byte
	sizes := []int{0, 1, 125, 126, 127, 65535, 65536, 70000}
	for _, n := range sizes {
		stream = append(stream, clientFrame(true, 0x1, n)...)
	}
	// A message in 3 fragments with a ping between.
	stream = append(stream, clientFrame(false, 0x1, 3)...)
	stream = append(stream, clientFrame(true, 0x9, 2)...)
	stream = append(stream, clientFrame(false, 0x0, 3)...)
	stream = append(stream, clientFrame(true, 0x0, 3)...)
	frames := len(sizes) + 4
	for _, chunk := range []int{1, 7, 4096, len(stream)} {
		var over []string
		m := newFrameMeter(bytes.NewReader(stream), 1000, 3, func(r string) { over = append(over, r) })
		buf := make([]byte, chunk)
		for {
			if _, err := m.Read(buf); err != nil {
				if err != io.EOF {
					t.Fatalf("chunk %d: %v", chunk, err)
				}
				break
			}
		}
		if len(over) != 0 {
			t.Fatalf("chunk %d: over %v", chunk, over)
		}
		if used := 2000 - m.tokens; int(used+0.5) != frames {
			t.Fatalf("chunk %d: counted %.0f frames, want %d", chunk, used, frames)
		}
	}
	// A fourth fragment is one too many.
	var over []string
	four := append(clientFrame(false, 0x1, 1), bytes.Repeat(clientFrame(false, 0x0, 1), 3)...)
	m := newFrameMeter(bytes.NewReader(four), 1000, 3, func(r string) { over = append(over, r) })
	if _, err := io.ReadAll(m); err != errFlood || len(over) != 1 || over[0] != reasonTooManyFragments {
		t.Fatalf("4 fragments with a cap of 3: %v %v", err, over)
	}
}

// BenchmarkFrameMeter is the cost of counting one empty masked frame (a continuation flood's
// unit), read in 4 KiB chunks.
func BenchmarkFrameMeter(b *testing.B) {
	unit := clientFrame(false, 0x0, 0)
	chunk := bytes.Repeat(unit, 4096/len(unit))
	frames := len(chunk) / len(unit)
	m := newFrameMeter(nil, 1<<30, 1<<30, func(string) {})
	b.SetBytes(int64(len(chunk)))
	b.ResetTimer()
	for range b.N {
		m.tokens = m.burst
		if m.scan(chunk) != "" {
			b.Fatal("over")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*frames), "ns/frame")
}
