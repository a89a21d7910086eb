package gpu

import "testing"

func BenchmarkParseQueryCSV(b *testing.B) {
	data := readTestdata(b, "h100x4/query-csv.txt")
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParseQueryCSV(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseQueryXML(b *testing.B) {
	data := readTestdata(b, "h200/nvidia-smi-q.xml")
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParseQueryXML(data); err != nil {
			b.Fatal(err)
		}
	}
}
