// Command mboxgen writes a seeded benchmark mailbox: mboxgen FILE MESSAGES AVGSIZE [SEED].
package main

import (
	"fmt"
	"os"
	"strconv"

	"unixmail/internal/mboxgen"
)

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: mboxgen FILE MESSAGES AVGSIZE [SEED]")
		os.Exit(64)
	}
	n, _ := strconv.Atoi(os.Args[2])
	size, _ := strconv.Atoi(os.Args[3])
	seed := int64(1)
	if len(os.Args) > 4 {
		seed, _ = strconv.ParseInt(os.Args[4], 10, 64)
	}
	f, err := os.Create(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(73)
	}
	if _, err := mboxgen.Write(f, mboxgen.Options{Messages: n, AvgSize: size, Seed: seed}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(74)
	}
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(74)
	}
}
