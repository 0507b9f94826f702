// Command benchreport prints docs/BENCHMARKS.md from the run directory scripts/bench.sh fills
// (bench.WriteBenchmarks lists its files), with this machine's description:
//
//	go run ./pkg/bench/cmd/benchreport DIR > docs/BENCHMARKS.md
package main

import (
	"bufio"
	"fmt"
	"os"

	"chatbot/pkg/bench"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: benchreport DIR")
		os.Exit(2)
	}
	w := bufio.NewWriter(os.Stdout)
	err := bench.WriteBenchmarks(w, os.Args[1], bench.ThisMachine())
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}
